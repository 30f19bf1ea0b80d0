"""Does the default tracker budget estimate what full tracking measures? (issue 13, item 1)

    .venv/bin/python bench/tracker_budget.py --original runs/original --world runs/world --seeds 0 1 2

For each seed one `squeeze unlearn` run (GA, the default settings but the seed) is tracked in
full (every item and candidate) at the union of the old grid (every 10 steps, the last step)
and the default log-spaced schedule. From that one table, both estimates are read: **full**
(the old grid, everything) and **budget** (the default TrackBudget's steps, item subsample and
candidate cap, exactly the rows a budget tracker scores, as tests/test_track_budget.py checks).
Printed per seed: the mean squeeze peak and escape gap of both with their 95% intervals, and
whether the full value lies inside the budget's interval. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
OLD_TRACK_EVERY = 10
STATS = ("squeeze_peak", "escape_gap")


class Gate:
    """Forwards the trainer's hook calls to `hook` at `steps` only (the trainer calls every step)."""

    def __init__(self, hook, steps):
        self.hook, self.steps = hook, set(steps)

    def on_step(self, step, model, trainer):
        if step in self.steps:
            self.hook.on_step(step, model, trainer)

    def on_end(self, model, trainer):
        self.hook.on_end(model, trainer)

    def state_dict(self):
        return self.hook.state_dict()

    def load_state_dict(self, state):
        self.hook.load_state_dict(state)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", help="original model (folder or train-original run); default: train one")
    parser.add_argument("--world", help="world folder of --original")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--method", default="ga")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="unlearn settings, e.g. track.items=16")
    args = parser.parse_args()

    import numpy as np
    import torch
    from tracker_overhead import prepare

    from squeeze.bins.binner import BinnerSettings, build_bins
    from squeeze.lm.models import load_model, load_tokenizer
    from squeeze.track.budget import kept_candidates, select_items, tracked_steps
    from squeeze.track.stats import summarise
    from squeeze.track.tracker import Tracker
    from squeeze.unlearn.config import load_unlearn_config
    from squeeze.unlearn.data import load_sets, steps_for
    from squeeze.unlearn.trainer import run_unlearning

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="tracker_budget."))
    prep = argparse.Namespace(original=args.original, world=args.world, people=args.people, epochs=args.epochs)
    original, world_dir = prepare(prep, tmp)
    forget, _ = load_sets(str(world_dir), "", "")
    tokenizer = load_tokenizer(original)
    with contextlib.redirect_stderr(io.StringIO()):
        bins = build_bins(load_model(original).eval(), tokenizer, forget, BinnerSettings(), progress=False)

    rows = []
    for seed in args.seeds:
        out = tmp / f"seed{seed}"
        base = [f"seed={seed}", "device=cpu", *args.overrides]
        budget_cfg = load_unlearn_config(args.method, [], base, original=str(original), world=str(world_dir), out="x")
        budget = budget_cfg.track_budget()
        cfg = load_unlearn_config(
            args.method, [], [*base, "track_every=1"], original=str(original), world=str(world_dir), out=str(out)
        )
        # one process: the global batch is the forget batch times the accumulation
        total = steps_for(cfg.steps, cfg.epochs, len(forget), cfg.forget_batch_size * cfg.grad_accum)
        tracker = Tracker(out, tokenizer, bins, 1, final_leaks=False, make_figures=False)
        old = sorted({0, total, *range(OLD_TRACK_EVERY, total + 1, OLD_TRACK_EVERY)})
        new = tracked_steps(total, budget)
        with contextlib.redirect_stderr(io.StringIO()):
            run_unlearning(cfg, hooks=[Gate(tracker, set(old) | set(new))])
        table = tracker.table()
        assert table["step"].max() == total, "the step count differs from the trainer's"
        kept = {b.item_id: {-1, *kept_candidates(b, budget.candidates)} for b in select_items(bins, budget)}
        pairs = zip(table["item_id"], table["candidate"], strict=True)
        in_budget = table["step"].isin(new).to_numpy() & np.array([c in kept.get(i, ()) for i, c in pairs])
        full = summarise(table[table["step"].isin(old)])
        part = summarise(table[in_budget])
        row = {"seed": seed, "steps": total, "full_steps": len(old), "budget_steps": new, "items": len(kept)}
        for stat in STATS:
            lo, hi = part["interval95"][stat]
            row[stat] = {
                "full": full["mean"][stat],
                "full_interval95": full["interval95"][stat],
                "budget": part["mean"][stat],
                "budget_interval95": [lo, hi],
                "full_inside_budget_interval": lo <= full["mean"][stat] <= hi,
            }
        rows.append(row)
        print(
            f"seed {seed}: {total} steps; full: {len(old)} steps x {len(bins)} items; budget: {new}, {len(kept)} items"
        )
        for stat in STATS:
            r = row[stat]
            print(
                f"  {stat:13s} full {r['full']:8.3f} [{r['full_interval95'][0]:.3f}, {r['full_interval95'][1]:.3f}]   "
                f"budget {r['budget']:8.3f} [{r['budget_interval95'][0]:.3f}, {r['budget_interval95'][1]:.3f}]   "
                f"full inside budget's interval: {r['full_inside_budget_interval']}"
            )
    inside = sum(r[s]["full_inside_budget_interval"] for r in rows for s in STATS)
    print(f"full value inside the budget's 95% interval: {inside} of {len(rows) * len(STATS)}")
    print(
        json.dumps(
            {
                "name": "tracker_budget",
                "ratio": inside / (len(rows) * len(STATS)),
                "budget": budget.describe(),
                "seeds": rows,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
