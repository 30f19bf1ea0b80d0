"""`squeeze plot`: the dynamics, matched-forgetting and retain figures of tracked runs.

squeeze plot runs/ga                       # runs/ga/figures/*.png
squeeze plot runs/ga runs/npo runs/bs_t    # each run's figures/, and the comparison in runs/figures/
squeeze plot runs/ga runs/npo --out figures/
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Draw the figures of one or more tracked unlearning runs (run folders holding
dynamics.parquet, written by the tracker): the target's log-prob and the high/mid/low bin
masses against step (median over items, interquartile band; one panel per run), the leak
rate against the target's log-prob drop (one curve per run: methods compared at matched
forgetting), and retain accuracy against the same drop. Each run's own figures go to its
figures/ folder; with several runs the comparison figures go to --out (default: the runs'
common parent folder's figures/). With --out and one run, its figures go to --out.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plot",
        help="draw the squeezing-effect figures of tracked runs",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders with dynamics.parquet")
    parser.add_argument("--out", default=None, metavar="DIR", help="folder for the (comparison) figures")
    return parser


def run(args) -> int:
    import os
    from pathlib import Path

    from squeeze.track.plots import plot_run, plot_runs

    written = []
    if len(args.runs) == 1:
        written += plot_run(args.runs[0], args.out)
    else:
        for run_dir in args.runs:
            written += plot_run(run_dir)
        parent = Path(os.path.commonpath([str(Path(r).resolve()) for r in args.runs]))
        written += plot_runs(args.runs, args.out or parent / "figures")
    for path in written:
        print(f"wrote {path}")
    return 0
