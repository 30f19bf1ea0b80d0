"""The leaderboard stage (`squeeze leaderboard`): one row per run, judge verdicts beside
conventional metrics (DESIGN section 11).

    run(LeaderboardConfig(runs=["runs/demo/methods/ga", "runs/demo/methods/npo"], out="runs/demo/leaderboard"))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from squeeze.core.config import option


@dataclass
class LeaderboardConfig:
    runs: list = option([], "diagnose output folders or run folders with diagnose/", metavar="RUN")
    out: str = option("", "output folder; default: the runs' common parent", metavar="DIR")
    prob_max: float = option(0.2, "forget Prob below this counts as forgotten")
    rouge_max: float = option(0.4, "forget ROUGE-L below this counts as forgotten")
    spurious_min: float = option(0.3, "spurious rate above this counts as spurious")
    format: str = option("png", "the figure's format: png, pdf or svg")
    dpi: int = option(120, "the figure's resolution (png), dots per inch")


def run(cfg: LeaderboardConfig) -> Path:
    """Write leaderboard.md/.csv/.html and its figure (png, pdf or svg); returns their folder. Prints the Markdown table."""
    from squeeze.core.errors import ConfigError
    from squeeze.leaderboard.table import DisagreementRule, to_markdown, write_leaderboard

    if not cfg.runs:
        raise ConfigError("give at least one run folder (squeeze leaderboard RUN...)")
    rule = DisagreementRule(prob_max=cfg.prob_max, rouge_max=cfg.rouge_max, spurious_min=cfg.spurious_min)
    rows, files = write_leaderboard(cfg.runs, cfg.out or None, rule, figure_format=cfg.format, dpi=cfg.dpi)
    print(to_markdown(rows, rule))
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return Path(next(iter(files.values()))).parent
