"""Supplementary figures for docs/effect.md (seed-averaged; zoomed on the squeeze)."""

import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, "/work/main")
from squeeze.track.stats import drop_curve, item_steps

ROOT = Path("/tmp/effect")
OUT = ROOT / "figures_extra"
OUT.mkdir(exist_ok=True)
METHODS = {"ga": "GA", "npo": "NPO", "bs_t": "BS-T", "bs_s": "BS-S"}
COLORS = {"ga": "tab:blue", "npo": "tab:orange", "bs_t": "tab:green", "bs_s": "tab:red"}
STYLES = {"ga": "-", "npo": "-", "bs_t": "--", "bs_s": "-"}
SEEDS = [0, 1, 2]


def load(m, s):
    run = ROOT / f"{m}_seed{s}"
    return pd.read_parquet(run / "dynamics.parquet"), pd.read_parquet(run / "probes.parquet")


# 1. The squeeze, zoomed: change of the high-bin mass and of the target (median over items) vs step.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
for m, name in METHODS.items():
    highs, targets = [], []
    for s in SEEDS:
        t = item_steps(load(m, s)[0])
        first = t.groupby(level="item_id").transform("first")
        d = (t - first).groupby(level="step").median()
        highs.append(d["mass_high"])
        targets.append(d["target"])
    H, T = pd.concat(highs, axis=1), pd.concat(targets, axis=1)
    for ax, frame in ((axes[0], H), (axes[1], T)):
        ax.plot(frame.index, frame.mean(axis=1), STYLES[m], color=COLORS[m], label=name, lw=1.8)
        ax.fill_between(frame.index, frame.min(axis=1), frame.max(axis=1), color=COLORS[m], alpha=0.15)
axes[0].set_ylim(-1.0, 0.4)
axes[0].axhline(0, color="gray", lw=0.8, ls=":")
axes[0].set_title("high-bin mass: change since step 0 (zoomed)")
axes[0].set_ylabel("nats (median over items)")
axes[1].set_ylim(-25, 1)
axes[1].axhline(-10, color="gray", lw=0.8, ls=":")
axes[1].set_title("target log-prob: change since step 0")
axes[1].set_ylabel("nats (median over items)")
for ax in axes:
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)
axes[0].legend(title="mean over 3 seeds, band = min-max", fontsize=9, title_fontsize=8, loc="lower left")
fig.tight_layout()
fig.savefig(OUT / "squeeze_zoom.png", dpi=130)
plt.close(fig)

# 2. Leak and retain accuracy against the target's drop, interpolated onto a common grid; drawn
#    only where all 3 seeds reached that drop (no jumps when a seed ends).
grid = np.linspace(0, 25, 101)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
for m, name in METHODS.items():
    curves = {"forget_greedy_leak": [], "retain_greedy_correct": []}
    for s in SEEDS:
        c = drop_curve(*load(m, s))
        x = np.maximum.accumulate(c["target_drop_mean"].to_numpy())  # the drop is monotone here; guard anyway
        for col in curves:
            y = np.interp(grid, x, c[col].to_numpy(), right=np.nan)
            curves[col].append(y)
    for ax, col in zip(axes, curves, strict=False):
        Y = np.array(curves[col])
        ax.plot(grid, Y.mean(axis=0), STYLES[m], color=COLORS[m], label=name, lw=1.8)
        ax.fill_between(grid, Y.min(axis=0), Y.max(axis=0), color=COLORS[m], alpha=0.15)
axes[0].set_title("leak at matched forgetting")
axes[0].set_ylabel("forget items whose greedy answer states the value")
axes[1].set_title("retain accuracy at matched forgetting")
axes[1].set_ylabel("retain probe: greedy answer correct")
for ax in axes:
    ax.axvline(10, color="gray", lw=0.8, ls=":")
    ax.set_ylim(0, 1.03)
    ax.grid(alpha=0.3)
    ax.set_xlabel("target log-prob drop since step 0 (nats, mean over items)")
axes[0].legend(title="mean over 3 seeds, band = min-max", fontsize=9, title_fontsize=8, loc="lower left")
fig.tight_layout()
fig.savefig(OUT / "matched_forgetting_seeds.png", dpi=130)
plt.close(fig)
print("wrote", *sorted(OUT.glob("*.png")))
