"""The plot stage (`squeeze plot`): the dynamics, matched-forgetting and retain figures of tracked runs.

run(PlotConfig(runs=["runs/ga", "runs/npo"], out="figures"))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from squeeze.core.config import option


@dataclass
class PlotConfig:
    runs: list = option([], "run folders with dynamics.parquet", metavar="RUN")
    out: str = option("", "folder for the (comparison) figures; default: each run's figures/, and the runs' parent")
    format: str = option("png", "figure format: png, pdf or svg")
    dpi: int = option(120, "figure resolution (png), dots per inch")
    share_y: bool = option(False, "one y axis for every panel of the dynamics figure (default: each its own)")


def run(cfg: PlotConfig) -> Path:
    """Each run's figures, and with several runs the comparison; returns the comparison's folder
    (the run's own figures folder for one run). Prints every file written."""
    import os

    from squeeze.core.errors import ConfigError
    from squeeze.track.plots import FIGURE_FORMATS, plot_run, plot_runs

    if not cfg.runs:
        raise ConfigError("give at least one run folder (squeeze plot RUN...)")
    if cfg.format not in FIGURE_FORMATS or cfg.dpi < 10:
        raise ConfigError(f"--format must be one of {list(FIGURE_FORMATS)} and --dpi at least 10")
    style = dict(figure_format=cfg.format, dpi=cfg.dpi, share_y=cfg.share_y)
    written = []
    if len(cfg.runs) == 1:
        written += plot_run(cfg.runs[0], cfg.out or None, **style)
        folder = Path(cfg.out) if cfg.out else Path(cfg.runs[0]) / "figures"
    else:
        for run_dir in cfg.runs:
            written += plot_run(run_dir, **style)
        parent = Path(os.path.commonpath([str(Path(r).resolve()) for r in cfg.runs]))
        folder = Path(cfg.out) if cfg.out else parent / "figures"
        written += plot_runs(cfg.runs, folder, **style)
    for path in written:
        print(f"wrote {path}")
    return folder
