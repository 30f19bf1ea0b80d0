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
    from squeeze.cli.args import add_config_arguments
    from squeeze.track.stage import PlotConfig

    parser = subparsers.add_parser(
        "plot",
        help="draw the squeezing-effect figures of tracked runs",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, PlotConfig, positional="runs")


def run(args) -> int:
    from squeeze.cli.args import config_from_args
    from squeeze.track.stage import PlotConfig, run

    run(config_from_args(PlotConfig, args))
    return 0
