"""`squeeze train-original`: train the original and retain models on a world."""

from __future__ import annotations

import argparse

from squeeze.core.config import describe


def add_parser(subparsers) -> argparse.ArgumentParser:
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
        epilog="settings (key=value):\n" + describe(TrainOriginalConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--world", required=True, help="world directory (squeeze world --out DIR)")
    parser.add_argument("--out", default="runs/original", help="run directory (default: runs/original)")
    parser.add_argument("--config", action="append", default=[], help="YAML file(s) of settings")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="setting overrides, e.g. epochs=20")
    return parser


def run(args) -> int:
    import json

    from squeeze.core.config import resolve_config
    from squeeze.original.config import TrainOriginalConfig
    from squeeze.original.train import train_original

    cfg = resolve_config(TrainOriginalConfig, args.config, args.overrides, world=args.world, out=args.out)
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
