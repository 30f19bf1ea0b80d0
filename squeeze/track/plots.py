"""Figures of the squeezing effect (DESIGN sections 8 and 11): matplotlib (Agg), one function
per figure, PNG, written atomically.

- `plot_dynamics`: change since step 0 of the target's log-prob and of the high/mid/low bin
  masses against step, the median over items with an interquartile band; one panel per run.
- `plot_matched_forgetting`: leak rate (or judged Similarity when a run has it) against the
  target's log-prob drop, one curve per run/method.
- `plot_retain_vs_drop`: retain accuracy (or retain log-prob) against the same drop.

    squeeze plot runs/ga runs/npo --out figures/
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from squeeze.core.rundir import RunDir, atomic_path

SERIES = (  # column of squeeze_stats.item_steps, legend label, colour
    ("target", "target $y_u$", "black"),
    ("mass_high", "high bin mass", "tab:red"),
    ("mass_mid", "mid bin mass", "tab:orange"),
    ("mass_low", "low bin mass", "tab:blue"),
)
LEAK_METRICS = (  # probe column, y-axis label; the first a run has is used
    ("forget_similarity", "judged Similarity of forget answers (0-5)"),
    ("forget_greedy_leak", "forget items whose greedy answer leaks the value"),
)
RETAIN_METRICS = (
    ("retain_greedy_correct", "retain accuracy (greedy answer correct)"),
    ("retain_logp_sum", "retain target log-prob (nats, mean)"),
)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


FIGURE_FORMATS = ("png", "pdf", "svg")


def save_figure(fig, path, dpi: int = 120) -> Path:
    """Write `fig` atomically in the format its suffix names (png, pdf or svg; png otherwise)."""
    path = Path(path)
    suffix = path.suffix.lstrip(".").lower()
    import matplotlib

    # SVG keeps its text as text (editable, searchable), not as glyph outlines.
    with atomic_path(path) as tmp, matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(tmp, format=suffix if suffix in FIGURE_FORMATS else "png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return path


def dynamics_deltas(dynamics: pd.DataFrame) -> pd.DataFrame:
    """Per (step, item): each series minus its value at the item's first tracked step."""
    from squeeze.track.stats import item_steps

    table = item_steps(dynamics)[[c for c, _, _ in SERIES]]
    first = table.groupby(level="item_id").transform("first")
    deltas = table - first
    return deltas.where(np.isfinite(deltas))  # an empty bin (-inf) has no change


def plot_dynamics(runs: Sequence[tuple[str, pd.DataFrame]], path, dpi: int = 120, share_y: bool = False) -> Path:
    """One panel per (label, dynamics table): median change since step 0 with an IQR band;
    `share_y`: one y range for every panel (else each its own)."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    n = len(runs)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(max(6.4, 4.8 * cols), 3.8 * rows), squeeze=False, sharey="all" if share_y else "none"
    )
    # By default each panel keeps its own y range: one collapsing method must not flatten the others' squeeze.
    for ax, (label, dynamics) in zip(axes.flat, runs, strict=False):
        by_step = dynamics_deltas(dynamics).groupby(level="step")
        steps = np.array(sorted(by_step.groups))
        for column, name, colour in SERIES:
            q = by_step[column].quantile([0.25, 0.5, 0.75]).unstack().reindex(steps)
            ax.plot(steps, q[0.5], color=colour, label=name, lw=2 if column == "target" else 1.6)
            ax.fill_between(steps, q[0.25], q[0.75], color=colour, alpha=0.15, lw=0)
        ax.axhline(0, color="grey", lw=0.8, ls=":")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("training step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("change since step 0 (nats)")
    spare = list(axes.flat)[n:]
    for ax in spare:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if spare:  # the legend fills the first empty panel
        spare[0].legend(handles, labels, loc="center", frameon=False, fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.95))
    else:
        fig.legend(handles, labels, loc="lower center", ncol=4 if cols > 1 else 2, frameon=False)
        fig.tight_layout(rect=(0, 0.12 / rows if cols > 1 else 0.16 / rows, 1, 0.93 if rows == 1 else 0.96))
    fig.suptitle("Target log-prob and bin masses: median over items, band = interquartile range", fontsize=11)
    return save_figure(fig, path, dpi=dpi)


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
DASHES = ("-", "--", "-.", ":")


def _pick(curves: Sequence[tuple[str, pd.DataFrame]], metrics) -> tuple[str, str] | None:
    for column, label in metrics:
        if any(column in c.columns and c[column].notna().any() for _, c in curves):
            return column, label
    return None


def _plot_against_drop(curves, metrics, title: str, path, dpi: int = 120) -> Path | None:
    chosen = _pick(curves, metrics)
    if chosen is None:
        return None
    column, ylabel = chosen
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for i, (label, curve) in enumerate(curves):
        if column not in curve.columns:
            continue
        rows = curve[["target_drop_mean", column]].dropna()
        # Distinct markers and dashes: methods that coincide (BS-T and GA often do) stay visible.
        ax.plot(
            rows["target_drop_mean"],
            rows[column],
            marker=MARKERS[i % len(MARKERS)],
            ms=4,
            ls=DASHES[i % len(DASHES)],
            lw=1.6,
            label=label,
        )
    ax.set_xlabel("target log-prob drop since step 0 (nats, mean over items)")
    ax.set_ylabel(ylabel)
    if column.endswith(("_leak", "_correct")):
        ax.set_ylim(-0.03, 1.03)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


def plot_matched_forgetting(curves: Sequence[tuple[str, pd.DataFrame]], path, dpi: int = 120) -> Path | None:
    """Leak (or Similarity) against the target's drop, one curve per run; None without a leak probe."""
    return _plot_against_drop(curves, LEAK_METRICS, "Leak at matched forgetting", path, dpi)


def plot_retain_vs_drop(curves: Sequence[tuple[str, pd.DataFrame]], path, dpi: int = 120) -> Path | None:
    """Retain accuracy (or log-prob) against the target's drop; None without a retain probe."""
    return _plot_against_drop(curves, RETAIN_METRICS, "Retain performance at matched forgetting", path, dpi)


# ---- run directories -----------------------------------------------------------------------


def run_label(run_dir) -> str:
    """The run folder's name, prefixed by its method when the name does not say it."""
    root = Path(run_dir)
    method = None
    config = root / "config.yaml"
    if config.exists():
        import yaml

        method = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("method")
    name = root.resolve().name
    return f"{method}: {name}" if method and method.lower() not in name.lower() else name


def load_run(run_dir) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    from squeeze.core.errors import DataError

    run = RunDir(run_dir)
    if not run.dynamics.exists():
        raise DataError(
            f"{run.root}: no dynamics.parquet (was the run tracked? run `squeeze bins` before `squeeze unlearn`)"
        )
    probes_path = run / "probes.parquet"
    probes = pd.read_parquet(probes_path) if probes_path.exists() else None
    return pd.read_parquet(run.dynamics), probes


def plot_runs(
    run_dirs: Sequence, out_dir, figure_format: str = "png", dpi: int = 120, share_y: bool = False
) -> list[Path]:
    """The dynamics, matched-forgetting and retain figures of one or several runs into `out_dir`
    (png, pdf or svg; methods by their display names, GA, BS-T, ...)."""
    from methods import display_name
    from squeeze.track.stats import drop_curve

    runs, curves = [], []
    for run_dir in run_dirs:
        dynamics, probes = load_run(run_dir)
        label = display_name(run_label(run_dir))
        runs.append((label, dynamics))
        curves.append((label, drop_curve(dynamics, probes)))
    out, ext = Path(out_dir), figure_format
    written = [plot_dynamics(runs, out / f"dynamics.{ext}", dpi=dpi, share_y=share_y)]
    written.append(plot_matched_forgetting(curves, out / f"matched_forgetting.{ext}", dpi=dpi))
    written.append(plot_retain_vs_drop(curves, out / f"retain_vs_drop.{ext}", dpi=dpi))
    return [p for p in written if p is not None]


def plot_run(run_dir, out_dir=None, **style) -> list[Path]:
    """One run's figures into its figures/ folder (or `out_dir`); `style`: plot_runs' format, dpi, share_y."""
    return plot_runs([run_dir], out_dir or RunDir(run_dir).figures, **style)


def ensure_run_figures(run_dir) -> list[Path]:
    """The figures of an unlearning run that has dynamics.parquet, drawn now when they are
    missing or older than the table (`squeeze unlearn` draws them only with track.figures=true);
    [] for a folder without dynamics."""
    run = RunDir(run_dir)
    if not run.dynamics.is_file():
        return []
    figure = run.figures / "dynamics.png"
    if not figure.is_file() or figure.stat().st_mtime < run.dynamics.stat().st_mtime:
        return plot_run(run.root)
    return sorted(run.figures.glob("*.png"))
