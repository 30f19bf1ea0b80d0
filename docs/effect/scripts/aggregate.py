"""Per method, over seeds: the numbers of docs/effect.md, from each run's dynamics_summary.json,
dynamics.parquet and probes.parquet (written by the tracker)."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, "/work/main")
from squeeze.track.stats import drop_curve

ROOT = Path("/tmp/effect")
METHODS = ["ga", "npo", "bs_t", "bs_s"]
SEEDS = [0, 1, 2]
DROPS = [5.0, 10.0]


def interp_at(curve, drop, col):
    """col linearly interpolated at the step where the mean target drop reaches `drop` (NaN if never)."""
    x = curve["target_drop_mean"].to_numpy()
    y = curve[col].to_numpy()
    above = np.nonzero(x >= drop)[0]
    if not len(above):
        return float("nan")
    i = above[0]
    if i == 0:
        return float(y[0])
    return float(y[i - 1] + (y[i] - y[i - 1]) * (drop - x[i - 1]) / (x[i] - x[i - 1]))


rows = []
for m in METHODS:
    for s in SEEDS:
        run = ROOT / f"{m}_seed{s}"
        if not (run / "dynamics_summary.json").exists():
            continue
        summ = json.loads((run / "dynamics_summary.json").read_text())
        dyn = pd.read_parquet(run / "dynamics.parquet")
        probes = pd.read_parquet(run / "probes.parquet")
        curve = drop_curve(dyn, probes)
        items = summ["items"].values()
        last = curve.index.max()
        r = dict(
            method=m,
            seed=s,
            squeeze_peak=summ["mean"]["squeeze_peak"],
            squeeze_peak_median=summ["median"]["squeeze_peak"],
            items_peak_pos=np.mean([v["squeeze_peak"] is not None and v["squeeze_peak"] > 0.01 for v in items]),
            peak_step=int(curve["delta_mass_high_median"].idxmax()),
            max_median_dmass_high=float(curve["delta_mass_high_median"].max()),
            escape_gap=summ["mean"]["escape_gap"],
            escape_gap_median=summ["median"]["escape_gap"],
            target_drop_end=-summ["mean"]["delta_target"],
            target_drop_end_median=-summ["median"]["delta_target"],
            leak_greedy_end=summ["leak"]["greedy_rate"],
            leak_top5_end=summ["leak"]["top5_rate"],
            retain_acc_end=float(curve.loc[last, "retain_greedy_correct"]),
            retain_logp_end=float(curve.loc[last, "retain_logp_sum"]),
            retain_logp_start=float(curve.loc[0, "retain_logp_sum"]),
        )
        mf = summ["matched_forgetting"]
        r.update(
            matched_step=mf.get("step"),
            matched_drop_actual=mf.get("target_drop_mean"),
            leak_at_matched_step=mf.get("forget_greedy_leak"),
            retain_at_matched_step=mf.get("retain_greedy_correct"),
        )
        for d in DROPS:
            r[f"leak_at_{d:g}"] = interp_at(curve, d, "forget_greedy_leak")
            r[f"retain_at_{d:g}"] = interp_at(curve, d, "retain_greedy_correct")
        wall = [
            line.split()[-1]
            for line in (ROOT / "walltimes.txt").read_text().splitlines()
            if line.split()[1] == str(run)
        ]
        r["wall_s"] = float(wall[-1]) if wall else float("nan")
        rows.append(r)
df = pd.DataFrame(rows)
df.to_csv(ROOT / "per_run.csv", index=False)
pd.set_option("display.width", 250)
pd.set_option("display.max_columns", 40)
print(df.round(3).to_string())
cols = [c for c in df.columns if c not in ("method", "seed")]
agg = df.groupby("method", sort=False)[cols].agg(["mean", "std", "min", "max", "count"])
agg.to_csv(ROOT / "per_method.csv")


def fmt(m, c, nd=2):
    v = df[df.method == m][c].astype(float)
    if v.isna().all():
        return "n/a"
    v = v.dropna()
    return f"{v.mean():.{nd}f} ± {v.std(ddof=1) if len(v) > 1 else 0:.{nd}f}" + (
        "" if len(v) == len(df[df.method == m]) else f" (n={len(v)})"
    )


print()
for c in cols:
    print(f"{c:24s}", " | ".join(f"{m}: {fmt(m, c)}" for m in METHODS if m in set(df.method)))
