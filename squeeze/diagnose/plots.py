"""Figures of `squeeze diagnose` and `squeeze leaderboard` (DESIGN sections 10 and 11):
matplotlib (Agg), one function per figure, PNG, written atomically.

- `plot_verdicts`: the four verdict rates of one checkpoint; each bar split into the items
  whose answer still states the fact (world oracle) and those that do not, when known.
- `plot_bin_logprob_change`: per item, the change from reference to checkpoint of the
  target's sequence log-prob and of each bin's mass (logsumexp over its candidates).
- `plot_leaderboard`: one stacked bar of verdict rates per run, with the conventional
  forget Prob and ROUGE-L as markers on the same 0-1 axis; disagreeing runs marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from squeeze.track.plots import pyplot, save_figure

VERDICT_COLOURS = {"spurious": "tab:red", "forgotten": "tab:green", "collapsed": "tab:purple", "retained": "tab:gray"}
ORDER = ("spurious", "forgotten", "collapsed", "retained")
GROUPS = (
    ("target", "target $y_u$", "black"),
    ("mass_high", "high bin", "tab:red"),
    ("mass_mid", "mid bin", "tab:orange"),
    ("mass_low", "low bin", "tab:blue"),
)


def _error_bars(rates, intervals) -> np.ndarray:
    """(2, n) distances from each rate down and up to its 95% interval's ends (0 where none)."""
    low = [r - ci[0] if ci else 0.0 for r, ci in zip(rates, intervals, strict=False)]
    high = [ci[1] - r if ci else 0.0 for r, ci in zip(rates, intervals, strict=False)]
    return np.clip(np.array([low, high]), 0.0, None)


def plot_verdicts(report: dict, path) -> Path:
    """Verdict rates (over judged items) of one diagnose report, with Wilson 95% error bars."""
    from squeeze.diagnose.rows import VerdictSummary

    plt = pyplot()
    summary, leak = VerdictSummary.from_dict(report["verdicts"]), report.get("leakage")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    x = np.arange(len(ORDER))
    judged = max(summary.n_judged, 1)
    rates = np.array([summary.rate(k).rate or 0.0 for k in ORDER])
    intervals = [summary.rate(k).ci95 for k in ORDER]
    colours = [VERDICT_COLOURS[k] for k in ORDER]
    if leak:  # the leaking part of each bar solid, the rest hatched
        leaking = np.array([leak["by_verdict"][k]["leaks"] / judged for k in ORDER])
        from matplotlib.patches import Patch

        ax.bar(x, leaking, color=colours, edgecolor="black", lw=0.6)
        ax.bar(x, rates - leaking, bottom=leaking, color=colours, alpha=0.35, hatch="//", edgecolor="black", lw=0.6)
        keys = [
            Patch(facecolor="0.45", edgecolor="black", label="answer still states the fact"),
            Patch(facecolor="0.85", hatch="//", edgecolor="black", label="answer does not state it"),
        ]
        ax.legend(handles=keys, frameon=False, fontsize=8, loc="upper right")
    else:
        ax.bar(x, rates, color=colours, edgecolor="black", lw=0.6)
    ax.errorbar(x, rates, yerr=_error_bars(rates, intervals), fmt="none", ecolor="black", capsize=4, lw=1)
    for xi, k, r, ci in zip(x, ORDER, rates, intervals, strict=False):
        top = ci[1] if ci else r
        ax.text(xi + 0.08, top + 0.02, f"{r:.0%}\n({summary.counts[k]})", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x, ORDER)
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("share of judged forget items (95% interval)")
    title = f"Verdicts of {summary.n_judged} judged items"
    if summary.counts["unjudged"]:
        title += f" ({summary.counts['unjudged']} unjudged, not shown)"
    if leak and leak.get("leak_rate") is not None:
        title += f"\nfact still stated in {leak['leak_rate']:.0%} of answers (world oracle)"
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def bin_changes(scores) -> pd.DataFrame:  # noqa: F821
    """Per item: checkpoint minus reference of the target log-prob and each bin's mass (nats)."""
    from squeeze.track.stats import item_steps

    table = item_steps(scores)[[c for c, _, _ in GROUPS]]
    ref, ckpt = table.xs(0, level="step"), table.xs(1, level="step")
    change = ckpt - ref
    return change.where(np.isfinite(change))  # an empty bin (-inf) has no change


def plot_bin_logprob_change(scores, path) -> Path:
    """Box plots over items of the per-bin log-prob change, reference -> checkpoint."""
    plt = pyplot()
    change = bin_changes(scores)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    rng = np.random.default_rng(0)
    for i, (column, _label, colour) in enumerate(GROUPS):
        values = change[column].dropna().to_numpy()
        if len(values) == 0:
            continue
        ax.boxplot([values], positions=[i], widths=0.5, showfliers=False, medianprops={"color": colour, "lw": 2})
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(values)), values, s=10, color=colour, alpha=0.6, zorder=3)
    ax.axhline(0, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(GROUPS)), [label for _, label, _ in GROUPS])
    ax.set_ylabel("checkpoint - reference (nats)")
    ax.set_title(
        "Sequence log-prob change per item: target and bin masses\n(squeezing: the target falls, the high bin falls less or rises)",
        fontsize=10,
    )
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_leaderboard(rows: Sequence, path, marker: str = "*", dpi: int = 120, names=None) -> Path:
    """Stacked verdict rates per run (leaderboard BoardRows), the spurious share's 95% interval
    as an error bar; forget Prob and ROUGE-L as markers, the fact leak with its interval;
    flagged runs starred. `names(run)`: the label a run is shown by (display names: GA, BS-T...)."""
    plt = pyplot()
    names = names or (lambda run: run)
    n = len(rows)
    fig, ax = plt.subplots(figsize=(8.4, 1.6 + 0.5 * n))
    y = np.arange(n)[::-1]
    left = np.zeros(n)
    for k in ORDER:
        widths = np.array([r.get(k).rate or 0.0 for r in rows])
        ax.barh(y, widths, left=left, color=VERDICT_COLOURS[k], alpha=0.85, edgecolor="white", label=k)
        left += widths
    spurious = [r.get("spurious") for r in rows]
    shares = np.array([s.rate or 0.0 for s in spurious])
    ax.errorbar(
        shares, y, xerr=_error_bars(shares, [s.ci95 for s in spurious]), fmt="none", ecolor="black", capsize=3, lw=1
    )
    for key, style, label in (("forget_prob", "kD", "forget Prob"), ("forget_rouge", "wo", "forget ROUGE-L")):
        xs = np.array([r.get(key) if r.get(key) is not None else np.nan for r in rows], dtype=float)
        ax.plot(xs, y, style, ms=7, mec="black", ls="none", label=label, clip_on=False, zorder=3)
    leaks = [r.get("leak_rate") for r in rows]
    if any(leak is not None and leak.n for leak in leaks):
        xs = np.array([leak.rate if leak is not None and leak.n else np.nan for leak in leaks], dtype=float)
        bars = _error_bars(np.nan_to_num(xs), [leak.ci95 if leak is not None else None for leak in leaks])
        ax.errorbar(
            xs,
            y - 0.25,
            xerr=bars,
            fmt="^",
            color="tab:orange",
            mec="black",
            ms=6,
            capsize=3,
            lw=1,
            label="fact leak (95% interval)",
            zorder=3,
        )
    ax.set_yticks(
        y,
        [f"{names(r.run)} (n={r.verdicts.n_judged})" + (f" {marker}" if r.flag else "") for r in rows],
    )
    for tick, r in zip(ax.get_yticklabels(), rows, strict=False):
        if r.flag:
            tick.set_color("tab:red")
            tick.set_fontweight("bold")
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of judged forget items (bars; spurious share's 95% interval); metric value (markers)")
    ax.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    title = "Judge verdicts beside conventional metrics"
    if any(r.flag for r in rows):
        title += f"\n{marker} red: conventional metrics say forgotten, the judge finds it spurious"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)
