"""`squeeze leaderboard`: one row per run, judge verdicts beside conventional metrics (DESIGN section 11).

squeeze leaderboard runs/demo/ga runs/demo/npo runs/demo/bs_s --out runs/demo
squeeze leaderboard diag-a/ diag-b/ --spurious-min 0.25
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Each RUN is a `squeeze diagnose` output folder (with report.json) or an unlearning run
folder with a diagnose/ subfolder. One row per run: spurious, forgotten, collapsed and
retained rates, mean Similarity and Naturalness, the fact-leak rate (world), forget Prob,
ROUGE-L, truth ratio, forget quality, model utility, MMLU accuracy (when present), and the
squeeze peak and escape gap (from the run's dynamics_summary.json when it was tracked,
else from the diagnose report), and for runs diagnosed with --attacks the forgotten
(robust) share and each attack's recovery rate. Writes leaderboard.md, leaderboard.csv, leaderboard.html
(self-contained, sortable) and leaderboard.png into --out (default: the runs' common
parent folder). A row is marked where the conventional metrics call the forgetting a
success (forget Prob < --prob-max and ROUGE-L < --rouge-max) but the judge finds it
spurious (spurious rate > --spurious-min).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.cli.args import add_config_arguments
    from squeeze.leaderboard.stage import LeaderboardConfig

    parser = subparsers.add_parser(
        "leaderboard",
        help="compare runs: judge verdicts beside conventional metrics (md, csv, html, png)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, LeaderboardConfig, positional="runs")


def run(args) -> int:
    from squeeze.cli.args import config_from_args
    from squeeze.leaderboard.stage import LeaderboardConfig, run

    run(config_from_args(LeaderboardConfig, args))
    return 0
