"""Tracker overhead and binner throughput (DESIGN sections 7, 8 and 12).

    .venv/bin/python bench/tracker_overhead.py                          # trains a quick original first
    .venv/bin/python bench/tracker_overhead.py --original runs/original --world runs/world

CPU time (`--clock wall`: wall time) of the same unlearning run (`squeeze unlearn` defaults:
GA) without hooks, and with the tracker:
- **full** and **full+probes**, as `squeeze unlearn` ran it before issue 13: every item and
  candidate every 10 steps, without and with its probes at every tracked step (greedy leak of
  the tracked forget items, a 32-item retain probe, leak rates at the end) and its figures;
- **budget**: the default TrackBudget (squeeze/track/budget.py; `key=value` arguments change
  it, e.g. `track.items=16`), scoring only;
- **default**: the tracker exactly as `squeeze unlearn` builds it on a run folder with
  bins.jsonl (forget and retain records given; the budget's probes and figures, both off by
  default). The headline ratio is default over plain. Runs are interleaved round by round and the fastest of `--repeats` is kept
per variant (the one least disturbed by other load). Printed: ratios measured in this one
run, the tracker's own time split into per-step scoring and end-of-run work, the packed
tree's token saving, and binner candidates per second; never pass/fail. Without `--original`
a small original model is trained on a fresh world first (`--people`, `--epochs`), which is
not timed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# CPU time of this process by default: with one torch thread it does not count other load
CLOCK = time.process_time
OLD_TRACK_EVERY = 10  # the default of `squeeze unlearn` before the budget


class Timed:
    """Delegating hook that times the wrapped hook's step calls and end call."""

    def __init__(self, hook):
        self.hook, self.step_seconds, self.end_seconds = hook, 0.0, 0.0

    def on_step(self, step, model, trainer):
        started = CLOCK()
        self.hook.on_step(step, model, trainer)
        self.step_seconds += CLOCK() - started

    def on_end(self, model, trainer):
        started = CLOCK()
        self.hook.on_end(model, trainer)
        self.end_seconds += CLOCK() - started

    def state_dict(self):
        return self.hook.state_dict()

    def load_state_dict(self, state):
        self.hook.load_state_dict(state)


def prepare(args, tmp: Path) -> tuple[Path, Path]:
    """(original model folder, world folder): given, or a world and a quickly trained model."""
    if args.original:
        from squeeze.lm.models import resolve_original

        return resolve_original(args.original), Path(args.world)
    from squeeze.lm.models import save_model
    from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
    from squeeze.original.train import ORIGINAL_SPLITS, TrainOriginalConfig, train_lm
    from squeeze.world.build import generate_world

    world = generate_world(n_people=args.people, seed=0, forget_pct=10)
    world.write(tmp / "world")
    tokenizer = build_word_tokenizer(world.corpus_texts())
    cfg = TrainOriginalConfig(world=str(tmp / "world"), epochs=args.epochs)
    model = build_tiny_llama(
        len(tokenizer),
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        num_heads=cfg.num_heads,
        seed=0,
        tokenizer=tokenizer,
    )
    with contextlib.redirect_stderr(io.StringIO()):
        train_lm(model, tokenizer, world, ORIGINAL_SPLITS, cfg, desc="train original")
    save_model(model, tokenizer, tmp / "original")
    return tmp / "original", tmp / "world"


def packing_saving(tracker) -> float:
    """Tokens a flat scorer feeds (prompt + answer per sequence) over the packed rows' tokens."""
    from squeeze.lm.tree_scoring import prefix_tree

    flat = sum(len(it.prompt) * len(it.seqs) + sum(len(s.token_ids) for s in it.seqs) for it in tracker.items)
    packed = sum(len(it.prompt) + len(prefix_tree([s.token_ids for s in it.seqs])[0]) for it in tracker.items)
    return flat / packed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", help="original model (folder or train-original run); default: train one")
    parser.add_argument("--world", help="world folder of --original")
    parser.add_argument("--people", type=int, default=100, help="people of the fresh world (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the quick original (default: %(default)s)")
    parser.add_argument("--method", default="ga")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="unlearn settings of every run, e.g. track.items=16"
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1: steadier on a shared machine)"
    )
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: this process's CPU time (default); wall: wall time",
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu"))
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.original and not args.world:
        parser.error("--original needs --world")

    import torch

    from squeeze.bins.binner import BinnerSettings, build_bins
    from squeeze.lm.models import load_model, load_tokenizer
    from squeeze.track.tracker import Tracker
    from squeeze.unlearn.config import load_unlearn_config
    from squeeze.unlearn.data import load_sets
    from squeeze.unlearn.trainer import run_unlearning

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="tracker_bench."))
    original, world_dir = prepare(args, tmp)
    forget, retain = load_sets(str(world_dir), "", "")
    tokenizer = load_tokenizer(original)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else "cpu"
    model = load_model(original, device=device).eval()
    settings = BinnerSettings()
    started = CLOCK()
    bins = build_bins(model, tokenizer, forget, settings, progress=False)
    bin_seconds = CLOCK() - started
    del model

    # before: the tracker as `squeeze unlearn` ran it until issue 13 (every item and candidate,
    # every 10 steps, probes at every tracked step); after: the default TrackBudget.
    full = dict(track_every=OLD_TRACK_EVERY)
    variants = {
        "plain": (lambda out: [], {}),
        "setup only": (lambda out: [], {"steps": 1}),  # the same run with one step: load, prepare, save
        "full": (lambda out: [Timed(Tracker(out, tokenizer, bins, OLD_TRACK_EVERY))], full),
        "full+probes": (
            lambda out: [Timed(Tracker(out, tokenizer, bins, OLD_TRACK_EVERY, forget=forget, retain=retain))],
            full,
        ),
        "budget": (lambda out: [Timed(Tracker(out, tokenizer, bins, 0, budget=budget, make_figures=figures))], {}),
        "default": (
            lambda out: [Timed(Tracker(out, tokenizer, bins, 0, forget=forget, retain=retain, **by_default))],
            {},
        ),
    }
    budget = load_unlearn_config(args.method, [], args.overrides, original="o", world="w", out="o").track_budget()
    # as `squeeze unlearn` builds it (squeeze.track.tracker.tracker_for_trainer): figures as the budget says
    figures = budget.figures
    by_default = dict(budget=budget, make_figures=figures)
    best: dict[str, tuple[float, list]] = {}
    steps = None
    for rep in range(args.repeats):
        for name, (make, settings_) in variants.items():
            out = tmp / f"{name.replace(' ', '_')}-{rep}"
            hooks = make(out)
            overrides = [f"device={args.device}", *args.overrides] + [f"{k}={v}" for k, v in settings_.items()]
            cfg = load_unlearn_config(
                args.method, [], overrides, original=str(original), world=str(world_dir), out=str(out)
            )
            started = CLOCK()
            with contextlib.redirect_stderr(io.StringIO()):  # progress bars would drown the ratios
                run_unlearning(cfg, hooks=hooks)
            seconds = CLOCK() - started
            if name == "plain":
                steps = sum(1 for _ in open(out / "loss_log.jsonl"))
                schedule = cfg.hook_steps(steps)
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, hooks)

    plain = best["plain"][0]
    step_seconds = max(plain - best["setup only"][0], 1e-9) / max(steps - 1, 1)
    n_cands = sum(len(b.candidates) for b in bins)
    print(
        f"setup: {len(forget)} forget items, {n_cands / len(bins):.1f} candidates/item after dedup, "
        f"method {args.method}, {steps} steps, device {device}, {args.threads} thread(s)"
    )
    print(f"  full: every item and candidate every {OLD_TRACK_EVERY} steps (the tracker before issue 13)")
    print(
        f"  budget: {budget.describe()} -> {len(best['budget'][1][0].hook.items)} items, "
        f"{len(schedule)} tracked steps {schedule}"
    )
    print(
        f"binner: {len(forget) * settings.n_candidates / bin_seconds:.1f} candidates/s "
        f"({settings.n_candidates} beams x {len(forget)} items in {bin_seconds:.1f} s)"
    )
    print(
        f"plain run: {plain:.2f} s: {steps} steps of {step_seconds * 1000:.1f} ms + {best['setup only'][0]:.2f} s setup and save"
    )
    ratios = {}
    for name in ("full", "full+probes", "budget", "default"):
        seconds, (timed,) = best[name]
        calls = len(cfg_steps(name, steps, schedule))
        ratios[name] = seconds / plain
        print(
            f"{name}: {seconds / plain:.2f}x the plain run ({seconds:.2f} s); tracker at tracked steps "
            f"{timed.step_seconds:.2f} s ({timed.step_seconds / calls * 1000:.0f} ms per call, {calls} calls); "
            f"end-of-run summary/figures/leaks {timed.end_seconds:.2f} s"
        )
    saving = packing_saving(best["full"][1][0].hook)
    print(f"packed prefix-tree scoring feeds {saving:.1f}x fewer tokens than one row per sequence")
    print(
        f"speed-up of the default budget over full tracking (with probes): {ratios['full+probes'] / ratios['default']:.2f}x"
    )
    print(
        json.dumps(
            {
                "name": "tracker_overhead",
                "ratio": ratios["default"],
                "ratio_budget": ratios["budget"],
                "ratio_before": ratios["full+probes"],
                "ratio_full_no_probes": ratios["full"],
                "target": 1.10,
                "steps": steps,
                "tracked_steps": schedule,
                "budget": budget.describe(),
                "packing_token_saving": saving,
            }
        )
    )
    return 0


def cfg_steps(name: str, steps: int, schedule: list[int]) -> list[int]:
    if name.startswith("full"):
        return sorted({0, steps, *range(OLD_TRACK_EVERY, steps + 1, OLD_TRACK_EVERY)})
    return schedule


if __name__ == "__main__":
    sys.exit(main())
