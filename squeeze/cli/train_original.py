"""`squeeze train-original`: train the original and retain models on a world."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.cli.args import add_config_arguments
    from squeeze.original.config import TrainOriginalConfig

    parser = subparsers.add_parser(
        "train-original",
        help="train the original (all splits) and retain (retain split only) models on a world",
        description=(
            "Train two models on a fictitious world (small Llamas from scratch, or fine-tuned copies of "
            "base_model=PATH|NAME such as smollm2-135m-instruct): the original model "
            "(forget + retain + world_facts, every answer template) and the retain model (retain + "
            "world_facts). Writes OUT/original, OUT/retain (Hugging Face folders) and "
            "OUT/train_report.json with the acceptance figures."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, TrainOriginalConfig)


def run(args) -> int:
    import json

    from squeeze.cli.args import config_from_args, require
    from squeeze.original.config import TrainOriginalConfig
    from squeeze.original.train import train_original

    cfg = config_from_args(TrainOriginalConfig, args)
    require(cfg, "world")
    out = train_original(cfg)
    report = json.loads((out / "train_report.json").read_text())
    for name in cfg.models:
        entry = report.get(name, {})
        print(
            f"{name}: greedy value accuracy on forget = {entry.get('greedy_value_accuracy', float('nan')):.2%}"
            f" ({report['train_seconds'][name]:.0f} s)"
        )
    if "original" in report:
        print(
            f"original: mean distinct answer templates in top-5 beams = {report['original']['mean_distinct_templates_top5']:.2f}"
        )
    print(f"wrote {out}")
    return 0
