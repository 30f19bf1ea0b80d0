"""Tracker overhead and binner throughput (DESIGN sections 7, 8 and 12).

    .venv/bin/python bench/tracker_overhead.py                          # trains a quick original first
    .venv/bin/python bench/tracker_overhead.py --original runs/original --world runs/world

Wall time of the same unlearning run (`squeeze unlearn` defaults: GA, track_every 10) without
hooks, with the tracker as `tracker_for_run` builds it (scores target + bins at every tracked
step; summary and figures at the end), and with the tracker's optional probes (greedy leak of
every forget item and a 32-item retain probe at every tracked step, leak rates at the end).
Runs are interleaved round by round and the fastest of `--repeats` is kept per variant (the
one least disturbed by other load). Printed: ratios measured in this one run, the tracker's
own time split into per-step scoring and end-of-run work, the packed tree's token saving,
and binner candidates per second; never pass/fail. Without `--original` a small original
model is trained on a fresh world first (`--people`, `--epochs`), which is not timed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Timed:
    """Delegating hook that times the wrapped hook's step calls and end call."""

    def __init__(self, hook):
        self.hook, self.step_seconds, self.end_seconds = hook, 0.0, 0.0

    def on_step(self, step, model, trainer):
        started = time.perf_counter()
        self.hook.on_step(step, model, trainer)
        self.step_seconds += time.perf_counter() - started

    def on_end(self, model, trainer):
        started = time.perf_counter()
        self.hook.on_end(model, trainer)
        self.end_seconds += time.perf_counter() - started

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
    parser.add_argument("--track-every", type=int, default=None, help="default: UnlearnConfig's track_every")
    parser.add_argument(
        "--max-items", type=int, default=None, help="track only the first N forget items (default: all)"
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1: steadier on a shared machine)"
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu"))
    args = parser.parse_args()
    if args.original and not args.world:
        parser.error("--original needs --world")

    import torch

    from squeeze.bins.binner import BinnerSettings, build_bins
    from squeeze.lm.models import load_model, load_tokenizer
    from squeeze.track.tracker import Tracker
    from squeeze.unlearn.config import UnlearnConfig, load_unlearn_config
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
    started = time.perf_counter()
    bins = build_bins(model, tokenizer, forget, settings, progress=False)
    bin_seconds = time.perf_counter() - started
    del model

    defaults = UnlearnConfig()
    track_every = args.track_every or defaults.track_every
    limit = dict(max_items=args.max_items)
    variants = {
        "plain": lambda out: [],
        "tracker": lambda out: [Timed(Tracker(out, tokenizer, bins, track_every, **limit))],
        "tracker+probes": lambda out: [
            Timed(Tracker(out, tokenizer, bins, track_every, forget=forget, retain=retain, **limit))
        ],
    }
    variants["setup only"] = lambda out: []  # the same run with one step: load, prepare, save
    best: dict[str, tuple[float, list]] = {}
    steps = None
    for rep in range(args.repeats):
        for name, make in variants.items():
            out = tmp / f"{name.replace(' ', '_')}-{rep}"
            hooks = make(out)
            overrides = [f"device={args.device}", f"track_every={track_every}"] + (
                ["steps=1"] if name == "setup only" else []
            )
            cfg = load_unlearn_config(
                args.method, [], overrides, original=str(original), world=str(world_dir), out=str(out)
            )
            started = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):  # progress bars would drown the ratios
                run_unlearning(cfg, hooks=hooks)
            seconds = time.perf_counter() - started
            if name == "plain":
                steps = sum(1 for _ in open(out / "loss_log.jsonl"))
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, hooks)

    plain = best["plain"][0]
    step_seconds = max(plain - best["setup only"][0], 1e-9) / max(steps - 1, 1)
    n_cands = sum(len(b.candidates) for b in bins)
    tracked = min(len(bins), args.max_items or len(bins))
    print(
        f"setup: {len(forget)} forget items ({tracked} tracked), {n_cands / len(bins):.1f} candidates/item after dedup, "
        f"method {args.method}, {steps} steps, track_every {track_every}"
        f"{' (the default)' if track_every == defaults.track_every else ''}, device {device}, {args.threads} thread(s)"
    )
    print(
        f"binner: {len(forget) * settings.n_candidates / bin_seconds:.1f} candidates/s "
        f"({settings.n_candidates} beams x {len(forget)} items in {bin_seconds:.1f} s)"
    )
    print(
        f"plain run: {plain:.2f} s: {steps} steps of {step_seconds * 1000:.1f} ms + {best['setup only'][0]:.2f} s setup and save"
    )
    for name in ("tracker", "tracker+probes"):
        seconds, (timed,) = best[name]
        calls = len(range(0, steps + 1, track_every)) + (steps % track_every != 0)
        print(
            f"{name}: {seconds / plain:.2f}x the plain run ({seconds:.2f} s); tracker at tracked steps "
            f"{timed.step_seconds:.2f} s ({timed.step_seconds / calls * 1000:.0f} ms per call, {calls} calls) "
            f"= {timed.step_seconds / plain:.1%} of the plain run; end-of-run summary/figures/leaks {timed.end_seconds:.2f} s"
        )
        per_call = timed.step_seconds / calls
        print(
            f"  one tracked call costs {per_call / step_seconds:.1f} training steps: track_every >= "
            f"{per_call / (0.1 * step_seconds):.0f} keeps the per-step tracking within 10% of training time"
        )
    print(
        f"packed prefix-tree scoring feeds {packing_saving(best['tracker'][1][0].hook):.1f}x fewer tokens than one row per sequence"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
