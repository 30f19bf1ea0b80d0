"""`squeeze demo`: world, models, bins, every method, diagnose, leaderboard and figures."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.cli.args import add_config_arguments
    from squeeze.demo.config import DemoConfig

    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on the built-in fictitious world (resumable)",
        description=(
            "Generate the fictitious world, train the original and retain models, bin the original model's "
            "beliefs, run every unlearning method with the tracker, diagnose each, and write the leaderboard "
            "and figures under OUT. Finished stages are skipped on a re-run."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--fast", action="store_true", help="smaller world, four methods, out=runs/demo-fast: about 1 minute"
    )
    return add_config_arguments(parser, DemoConfig)


def run(args) -> int:
    from squeeze.cli.args import config_from_args
    from squeeze.demo.config import FAST, DemoConfig
    from squeeze.demo.pipeline import run_demo

    cfg = config_from_args(DemoConfig, args, base={**FAST, "out": "runs/demo-fast"} if args.fast else None)
    summary = run_demo(cfg)
    print(f"demo finished in {summary['wall_seconds']:.0f} s; leaderboard: {cfg.out}/leaderboard/leaderboard.md")
    return 0
