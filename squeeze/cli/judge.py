"""`squeeze judge`: score the generations a run saved for Similarity and Naturalness (DESIGN section 10).

squeeze judge --run runs/npo                                   # offline embedding judge
squeeze judge --run runs/npo --judge-base-url http://127.0.0.1:8000/v1 --judge-model Qwen/Qwen2.5-7B-Instruct
squeeze judge --run runs/npo --judge hf --judge-model path/to/chat-model --judge-scoring logprob
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Judge RUN/generations.jsonl (one object a line: item_id, question, reference, generation,
and any other fields) and write RUN/judgments.jsonl: one line per generation, in the same
order, with similarity and naturalness (0-5, or null when the judge's answer could not be
parsed), reason, the raw judge text, backend, model, prompt_version, latency_s, error,
cached, and the generation row's other fields under "meta".

The judge is --judge (default: openai when --judge-base-url is given, else the offline
embedding judge). Judgments are cached on disk (--cache), so a re-run of the same
generations with the same judge makes no judge calls. The openai judge reads its API key
from the environment variable named by --judge-api-key-env; the key is never printed or
written. The number of scores that could not be parsed is printed at the end.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.cli.args import add_config_arguments
    from squeeze.diagnose.judge_run import JudgeRunConfig

    parser = subparsers.add_parser(
        "judge",
        help="judge a run's generations for Similarity and Naturalness (writes judgments.jsonl)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, JudgeRunConfig, constants=CONSTANT_FLAGS)


CONSTANT_FLAGS = {"--no-cache": ("judge.cache", "", "judge everything again and cache nothing")}


def run(args: argparse.Namespace) -> int:
    from squeeze.cli.args import config_from_args
    from squeeze.diagnose.judge_run import JudgeRunConfig, run

    run(config_from_args(JudgeRunConfig, args))
    return 0
