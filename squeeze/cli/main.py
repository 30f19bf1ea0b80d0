"""The `squeeze` command: one module per subcommand in `squeeze/cli/`, each with
`add_parser(subparsers)` and `run(args) -> int`.

    squeeze --help
    squeeze world --out runs/world
"""

from __future__ import annotations

import argparse
import importlib
import sys

from squeeze.core.errors import SqueezeError

# One line per subcommand module; adding a command never edits anything else here.
SUBCOMMANDS = [
    "squeeze.cli.world",
    "squeeze.cli.train_original",
    "squeeze.cli.judge",
    "squeeze.cli.unlearn",
    "squeeze.cli.bins",
    "squeeze.cli.plot",
    "squeeze.cli.track",
    "squeeze.cli.judge_calibrate",
    "squeeze.cli.diagnose",
    "squeeze.cli.attack",
    "squeeze.cli.leaderboard",
    "squeeze.cli.demo",
    "squeeze.cli.validate",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        self.exit(2, f"squeeze: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="squeeze",
        description="Tell whether an LLM has really forgotten something, or only seems to.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        module = importlib.import_module(name)
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def _quiet_libraries() -> None:
    """Our own progress bars say what is happening; the libraries' per-file bars only add noise."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    _quiet_libraries()
    try:
        return int(args._run(args) or 0)
    except SqueezeError as exc:
        from judges.redact import redact

        print(f"squeeze: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("squeeze: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
