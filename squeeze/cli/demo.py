"""`squeeze demo`: world, models, bins, every method, diagnose, leaderboard and figures."""

from __future__ import annotations

import argparse

from squeeze.core.config import describe


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.demo.config import DemoConfig

    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on the built-in fictitious world (resumable)",
        description=(
            "Generate the fictitious world, train the original and retain models, bin the original model's "
            "beliefs, run every unlearning method with the tracker, diagnose each, and write the leaderboard "
            "and figures under OUT. Finished stages are skipped on a re-run."
        ),
        epilog="settings (key=value):\n" + describe(DemoConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default=None, help="run directory (default runs/demo, or runs/demo-fast with --fast)")
    parser.add_argument("--fast", action="store_true", help="smaller world, four methods: about 1 minute")
    parser.add_argument(
        "--judge",
        default=None,
        choices=("embedding", "openai", "hf"),
        help="judge backend (default embedding, offline)",
    )
    parser.add_argument(
        "--judge-base-url", default=None, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"
    )
    parser.add_argument("--judge-model", default=None, help="judge model name (openai) or local path (hf)")
    parser.add_argument("--config", action="append", default=[], help="YAML file(s) of settings")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="setting overrides, e.g. people=60 steps=40")
    return parser


def run(args) -> int:
    from squeeze.core.config import resolve_config
    from squeeze.demo.config import FAST, DemoConfig
    from squeeze.demo.pipeline import run_demo

    base = dict(FAST) if args.fast else {}
    out = args.out or ("runs/demo-fast" if args.fast else "runs/demo")
    cfg = resolve_config(
        DemoConfig,
        args.config,
        args.overrides,
        **base,
        out=out,
        judge=args.judge,
        judge_base_url=args.judge_base_url,
        judge_model=args.judge_model,
    )
    summary = run_demo(cfg)
    print(f"demo finished in {summary['wall_seconds']:.0f} s; leaderboard: {cfg.out}/leaderboard/leaderboard.md")
    return 0
