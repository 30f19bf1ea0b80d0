"""`squeeze diagnose`: verdicts (retained / forgotten / spurious / collapsed) for any checkpoint
against its reference model (DESIGN section 10).

    squeeze diagnose --model runs/npo --world runs/world
    squeeze diagnose --model my-ckpt/ --reference runs/original --forget forget.jsonl --retain retain.jsonl --out diag/
    squeeze diagnose --model my-ckpt/ --reference orig/ --forget f.jsonl --judge openai \\
        --judge-base-url http://127.0.0.1:8000/v1 --judge-model Qwen/Qwen2.5-7B-Instruct
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Diagnose a checkpoint: any Hugging Face causal-LM folder (one saved by plain transformers
works) or a `squeeze unlearn` run folder (its model/; the reference and data then default
to the run's config.yaml). Bins the reference model's own answers to each forget question
(reused when OUT, --bins or the run folder holds bins with the same settings), scores the
target and the bins under both models, generates greedy answers from the checkpoint, has
them judged for Similarity (to the target) and Naturalness, and gives each forget item a
verdict: retained if the target's mean log-prob fell by less than tau; else collapsed if
Naturalness < n_min; else spurious if Similarity >= s_min; else forgotten. An item whose
needed judge score could not be parsed is "unjudged" and counted apart.

Writes OUT/generations.jsonl, judgments.jsonl, metrics.json (conventional metrics),
report.json, report.md, logprobs.parquet, bins.jsonl and figures/verdicts.png,
figures/bin_logprob_change.png. With --world (or facts in the forget records) also the
world oracle's fact-leakage rate and its agreement with the verdicts.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.cli.args import add_config_arguments
    from squeeze.diagnose.pipeline import DiagnoseConfig

    parser = subparsers.add_parser(
        "diagnose",
        help="verdicts (retained/forgotten/spurious/collapsed) and metrics for any checkpoint",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, DiagnoseConfig, constants=CONSTANT_FLAGS)


CONSTANT_FLAGS = {
    "--no-cache": ("judge.cache", "", "judge again and cache nothing"),
    "--quiet": ("progress", False, "no progress bars"),
}


def config_from_args(args):
    from squeeze.cli.args import config_from_args as from_args
    from squeeze.cli.args import require
    from squeeze.diagnose.pipeline import DiagnoseConfig

    cfg = from_args(DiagnoseConfig, args)
    require(cfg, "model")
    return cfg


def run(args) -> int:
    from squeeze.diagnose.pipeline import diagnose

    report = diagnose(config_from_args(args))
    from squeeze.diagnose.calibration_check import describe

    calibration = report.get("calibration") or {}
    print(f"calibration: {describe(calibration)}")
    for warning in calibration.get("warnings", []):
        print(f"calibration warning: {warning}")
    v = report["verdicts"]
    rates = ", ".join(f"{k} {v['rates'][k]:.0%}" if v["rates"][k] is not None else f"{k} n/a" for k in v["rates"])
    print(
        f"{report['n_items']} forget items: {rates}"
        + (f"; unjudged {v['counts']['unjudged']}" if v["counts"]["unjudged"] else "")
    )
    if report.get("leakage"):
        print(f"fact still stated (world oracle): {report['leakage']['leak_rate']:.0%}")
    print(report["conclusion"])
    return 0
