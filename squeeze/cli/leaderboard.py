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
else from the diagnose report). Writes leaderboard.md, leaderboard.csv, leaderboard.html
(self-contained, sortable) and leaderboard.png into --out (default: the runs' common
parent folder). A row is marked where the conventional metrics call the forgetting a
success (forget Prob < --prob-max and ROUGE-L < --rouge-max) but the judge finds it
spurious (spurious rate > --spurious-min).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "leaderboard",
        help="compare runs: judge verdicts beside conventional metrics (md, csv, html, png)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="diagnose output folders or run folders with diagnose/")
    parser.add_argument("--out", default="", metavar="DIR", help="output folder (default: the runs' common parent)")
    parser.add_argument(
        "--prob-max", type=float, default=0.2, help="forget Prob below this counts as forgotten (default: %(default)s)"
    )
    parser.add_argument(
        "--rouge-max",
        type=float,
        default=0.4,
        help="forget ROUGE-L below this counts as forgotten (default: %(default)s)",
    )
    parser.add_argument(
        "--spurious-min",
        type=float,
        default=0.3,
        help="spurious rate above this counts as spurious (default: %(default)s)",
    )
    return parser


def run(args) -> int:
    from squeeze.leaderboard.table import DisagreementRule, to_markdown, write_leaderboard

    rule = DisagreementRule(prob_max=args.prob_max, rouge_max=args.rouge_max, spurious_min=args.spurious_min)
    rows, files = write_leaderboard(args.runs, args.out or None, rule)
    print(to_markdown(rows, rule))
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0
