"""Tables and figure of the attacks experiment (docs/attacks.md) from its diagnose reports.

    .venv/bin/python docs/attacks/scripts/summarise.py runs/attacks --out docs/attacks

Reads ROOT/seed*/methods/*/diagnose/report.json; writes OUT/per_run.csv (one row per seed,
method and attack), OUT/recovery.png (recovery per method and attack, seeds pooled, with
Wilson 95% intervals, the retain model's baseline as a grey bar) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from squeeze.attacks.recovery import rate  # noqa: E402

ATTACKS = ("relearn", "quantize", "rephrase", "sample")
LABELS = {"ga": "GA", "graddiff": "GradDiff", "npo": "NPO", "simnpo": "SimNPO", "wga": "WGA", "rmu": "RMU"}
LABELS |= {"bs_t": "BS-T", "bs_s": "BS-S", "retain": "retain model"}


def load(root: Path) -> list[dict]:
    rows = []
    for path in sorted(root.glob("seed*/methods/*/diagnose/report.json")):
        seed, method = int(path.parts[-5][4:]), path.parts[-3]
        report = json.loads(path.read_text(encoding="utf-8"))
        summary = report["attacks"]["summary"]
        v = report["verdicts"]
        for attack in ATTACKS:
            for role, who in (("checkpoint", method), ("retain_model", "retain")):
                s = summary.get(role, {}).get(attack)
                if s is None:
                    continue
                rec = s["recovery"]
                rows.append(
                    {
                        "seed": seed,
                        "method": who,
                        "attack": attack,
                        "recovered": rec["k"],
                        "clean_before": rec["n"],
                        "recovery": rec["rate"],
                        "ci_low": rec["ci95"][0] if rec["ci95"] else None,
                        "ci_high": rec["ci95"][1] if rec["ci95"] else None,
                        "leak_before": s["leak_before"]["rate"],
                        "leak_after": s["leak_after"]["rate"],
                        "forgotten": v["rates"]["forgotten"] if role == "checkpoint" else None,
                        "forgotten_robust": report["verdicts"]["extras"]["forgotten_robust"]["rate"]
                        if role == "checkpoint"
                        else None,
                        "target_drop": report["squeeze"]["median"]["delta_target"] if role == "checkpoint" else None,
                    }
                )
    return rows


def pooled(rows: list[dict], method: str, attack: str) -> dict:
    mine = [r for r in rows if r["method"] == method and r["attack"] == attack]
    if method == "retain":  # the same retain model in every run: count it once per seed folder
        mine = list({r["seed"]: r for r in mine}.values())
    return rate(sum(r["recovered"] for r in mine), sum(r["clean_before"] for r in mine)) | {"runs": len(mine)}


def pct(share: dict) -> str:
    if share["rate"] is None:
        return "n/a"
    return f"{100 * share['rate']:.0f}% [{100 * share['ci95'][0]:.0f}, {100 * share['ci95'][1]:.0f}] ({share['k']}/{share['n']})"


def figure(rows: list[dict], methods: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.2))
    width = 0.8 / (len(methods) + 1)
    for i, method in enumerate([*methods, "retain"]):
        xs, ys, lo, hi = [], [], [], []
        for j, attack in enumerate(ATTACKS):
            share = pooled(rows, method, attack)
            if share["rate"] is None:
                continue
            xs.append(j + (i - len(methods) / 2) * width)
            ys.append(share["rate"])
            lo.append(share["rate"] - share["ci95"][0])
            hi.append(share["ci95"][1] - share["rate"])
        color = "0.6" if method == "retain" else None
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=LABELS.get(method, method), color=color)
    ax.set_xticks(range(len(ATTACKS)), ATTACKS)
    ax.set_ylabel("recovery (share of items not leaking before)")
    ax.set_ylim(0, 1)
    ax.set_title("Facts brought back by each attack (seeds pooled; 95% Wilson intervals; grey: retain model)")
    ax.legend(ncol=5, fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root")
    parser.add_argument("--out", default="docs/attacks")
    args = parser.parse_args()
    rows = load(Path(args.root))
    if not rows:
        print(f"no diagnose reports with attacks under {args.root}")
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "per_run.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    methods = [m for m in LABELS if m != "retain" and any(r["method"] == m for r in rows)]
    figure(rows, methods, out / "recovery.png")
    seeds = sorted({r["seed"] for r in rows})
    print(f"seeds {seeds}; recovery pooled over the seeds each method ran (k/n: recovered / not leaking before)\n")
    print("| method | runs | " + " | ".join(ATTACKS) + " |")
    print("|---|---:|" + "---:|" * len(ATTACKS))
    for method in [*methods, "retain"]:
        cells = [pooled(rows, method, a) for a in ATTACKS]
        print(f"| {LABELS.get(method, method)} | {cells[0]['runs']} | " + " | ".join(pct(c) for c in cells) + " |")
    print("\nper seed: forgotten, forgotten (robust), greedy leak before, median target drop (nats)\n")
    print("| method | seed | forgotten | forgotten (robust) | leak before | target drop |")
    print("|---|---:|---:|---:|---:|---:|")
    for method in methods:
        for seed in seeds:
            r = next(
                (r for r in rows if r["method"] == method and r["seed"] == seed and r["attack"] == "quantize"), None
            )
            if r is None:
                continue
            print(
                f"| {LABELS[method]} | {seed} | {100 * r['forgotten']:.0f}% | {100 * r['forgotten_robust']:.0f}% | "
                f"{100 * r['leak_before']:.0f}% | {r['target_drop']:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
