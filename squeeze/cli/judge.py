"""`squeeze judge`: score the generations a run saved for Similarity and Naturalness (DESIGN section 10).

squeeze judge --run runs/npo                                   # offline embedding judge
squeeze judge --run runs/npo --judge-base-url http://127.0.0.1:8000/v1 --judge-model Qwen/Qwen2.5-7B-Instruct
squeeze judge --run runs/npo --judge hf --judge-model path/to/chat-model
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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

REQUIRED = ("item_id", "question", "reference", "generation")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "judge",
        help="judge a run's generations for Similarity and Naturalness (writes judgments.jsonl)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", required=True, metavar="RUN", help="run directory holding generations.jsonl")
    parser.add_argument(
        "--judge",
        choices=("embedding", "openai", "hf"),
        default=None,
        help="judge backend (default: openai with --judge-base-url, else embedding)",
    )
    parser.add_argument(
        "--judge-base-url", metavar="URL", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"
    )
    parser.add_argument(
        "--judge-model",
        metavar="M",
        help="openai: the served model name; hf: a model path; embedding: a sentence-transformers path",
    )
    parser.add_argument(
        "--judge-api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="name of the environment variable holding the API key (default: %(default)s)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, metavar="N", help="openai: requests in flight (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="openai: seconds per request (default: %(default)s)"
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=4,
        metavar="N",
        help="openai: requests per score, retries included (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=8, metavar="N", help="hf and embedding: batch size (default: %(default)s)"
    )
    parser.add_argument(
        "--scoring",
        choices=("generate", "logprob"),
        default="generate",
        help="hf: generate (parse the JSON answer) or logprob (expected score from the next-digit probabilities; for small models that do not keep to JSON) (default: %(default)s)",
    )
    parser.add_argument(
        "--reference-lm", metavar="PATH", help="embedding: a causal LM for the naturalness log-prob term"
    )
    parser.add_argument(
        "--cache", default=".cache/judges.sqlite", metavar="PATH", help="judgment cache (default: %(default)s)"
    )
    parser.add_argument("--no-cache", action="store_true", help="judge everything again and cache nothing")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="judge only the first N generations")
    return parser


def read_generations(path: Path, limit: int | None = None) -> list[dict]:
    from squeeze.core.errors import DataError

    if not path.is_file():
        raise DataError(f"{path}: not found (a run saves its generations there before it can be judged)")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            missing = [key for key in REQUIRED if key not in row]
            if missing:
                raise DataError(f"{path}:{number}: missing field(s) {', '.join(missing)}")
            wrong = [key for key in REQUIRED[1:] if not isinstance(row[key], str)]
            if wrong:
                raise DataError(f"{path}:{number}: field(s) {', '.join(wrong)} must be strings")
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    if not rows:
        raise DataError(f"{path}: no generations to judge")
    return rows


def judge_config(args: argparse.Namespace) -> tuple[str, dict]:
    name = args.judge or ("openai" if args.judge_base_url else "embedding")
    if name == "openai":
        config = {
            "base_url": args.judge_base_url,
            "api_key_env": args.judge_api_key_env,
            "concurrency": args.concurrency,
            "timeout_s": args.timeout,
            "max_attempts": args.max_attempts,
        }
        if args.judge_model:
            config["model"] = args.judge_model
    elif name == "hf":
        from squeeze.lm.models import hf_judge_model

        config = hf_judge_model(args.judge_model, batch_size=args.batch_size, scoring=args.scoring)
    else:
        config = {"model_path": args.judge_model, "lm_path": args.reference_lm, "batch_size": args.batch_size}
    return name, config


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from judges import JudgeItem, failure_counts, make_judge
    from judges.cache import CachedJudge, JudgmentCache
    from squeeze.core.errors import ConfigError
    from squeeze.core.rundir import RunDir, write_jsonl

    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    run_dir = RunDir(args.run)
    rows = read_generations(run_dir / "generations.jsonl", args.limit)
    if (args.judge or "") == "hf" and not args.judge_model:
        raise ConfigError("--judge hf needs --judge-model PATH")
    name, config = judge_config(args)
    try:
        judge = make_judge(name, **config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    cache = None if args.no_cache else JudgmentCache(args.cache)
    if cache is not None:
        judge = CachedJudge(judge, cache)
    items = [JudgeItem(row["question"], row["reference"], row["generation"], str(row["item_id"])) for row in rows]
    try:
        with tqdm(total=len(items), desc=f"judging ({name})", unit="item") as bar:
            judgments = judge.judge(items, on_result=lambda index, judgment: bar.update(1))
    finally:
        if cache is not None:
            cache.close()
    out = []
    for row, judgment in zip(rows, judgments, strict=False):
        line = judgment.to_dict()
        line["meta"] = {k: v for k, v in row.items() if k not in REQUIRED}
        out.append(line)
    write_jsonl(run_dir.judgments, out)
    counts = failure_counts(judgments)
    print(
        f"judged {counts['items']} generations with {judge.backend}/{judge.model} "
        f"({counts['cached']} from cache) -> {run_dir.judgments}\n"
        f"parse failures: {counts['unparsed_items']} items (similarity {counts['similarity_none']}, "
        f"naturalness {counts['naturalness_none']}); errors: {counts['errors']}"
    )
    return 0
