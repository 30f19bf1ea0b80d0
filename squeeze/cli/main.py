"""The `squeeze` command: one module per subcommand in `squeeze/cli/`, each with
`add_parser(subparsers)` and `run(args) -> int`.

    squeeze --help
    squeeze world --out runs/world
"""

from __future__ import annotations

import argparse
import importlib
import sys

from squeeze.errors import SqueezeError

# One line per subcommand module; adding a command never edits anything else here.
SUBCOMMANDS = [
    "squeeze.cli.world",
    "squeeze.cli.train_original",
    "squeeze.cli.judge",
    "squeeze.cli.unlearn",
    "squeeze.cli.bins",
    "squeeze.cli.plot",
    "squeeze.cli.diagnose",
    "squeeze.cli.leaderboard",
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except SqueezeError as exc:
        print(f"squeeze: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("squeeze: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
