"""Cost of each attack (issue 11, item 6) relative to one `squeeze diagnose` of the same checkpoint.

    .venv/bin/python bench/attacks.py --demo runs/demo --method npo      # a finished `squeeze demo`
    .venv/bin/python bench/attacks.py                                   # builds a one-method demo first (untimed)

Times, in one process: one diagnose of the method's checkpoint as the demo runs it (bins
reused, retain model for forget quality, embedding judge, a fresh judge cache, no attacks);
then, on the models and judge that diagnose would hold, each attack alone and all four
together on the checkpoint (each with a fresh judge cache, so every judgment is paid for),
and the retain model's baseline of all four (paid once per retain model: the demo's other
diagnoses read it from the attack cache). The greedy "before" answers and their judgments
are diagnose's own, and its judgments of its sampled answers are reused for attack answers
that repeat them, as inside `diagnose --attacks`. Target: all four <= 1.5x a diagnose.
Times are this process's CPU time (`--clock wall`: wall time) with one torch thread by
default, so other load on the machine does not count; each attack's time is split into
its generation and the judging of its answers. Prints ratios measured in this run; the
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALL = ("relearn", "quantize", "rephrase", "sample")


def ensure_demo(path: Path, method: str) -> Path:
    if (path / "methods" / method / "model" / "config.json").is_file():
        return path
    from squeeze.demo.config import DemoConfig
    from squeeze.demo.pipeline import run_demo

    print(f"no demo at {path}: building world, models, bins and {method} there (not timed)")
    run_demo(DemoConfig(out=str(path), methods=[method], attacks="", figures_dir=""))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", default="runs/demo", help="a `squeeze demo` run folder (default: %(default)s)")
    parser.add_argument(
        "--method", default="npo", help="the method whose checkpoint is attacked (default: %(default)s)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: this process's CPU time (default); wall: wall time",
    )
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    import torch

    from judges.base import Judgment
    from squeeze.core.rundir import read_jsonl
    from squeeze.diagnose.attack_step import attack_checkpoint
    from squeeze.diagnose.inputs import load_inputs
    from squeeze.diagnose.judging import JudgeSpec, opened_judge
    from squeeze.diagnose.pipeline import DiagnoseConfig, diagnose, diagnose_reference
    from squeeze.lm.models import load_model, load_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    demo = ensure_demo(Path(args.demo), args.method)
    model_dir = demo / "methods" / args.method / "model"
    reference_dir, retain_dir = demo / "original" / "original", demo / "original" / "retain"
    with tempfile.TemporaryDirectory(prefix="squeeze-bench-attacks-") as tmp:
        tmp = Path(tmp)
        cfg = DiagnoseConfig(
            model=str(model_dir),
            reference=str(reference_dir),
            forget=str(demo / "world" / "forget.jsonl"),
            retain=str(demo / "world" / "retain.jsonl"),
            world=str(demo / "world"),
            retain_model=str(retain_dir),
            bins=str(demo / "bins" / "bins.jsonl"),
            out=str(tmp / "diagnose"),
            judge=JudgeSpec(backend="embedding", cache=str(tmp / "diagnose.sqlite")),
            progress=False,
        )
        started = clock()
        diagnose(cfg)
        diagnose_seconds = clock() - started
        n_items = len(read_jsonl(tmp / "diagnose" / "generations.jsonl"))
        generations = [r["generation"] for r in read_jsonl(tmp / "diagnose" / "generations.jsonl")]
        judged = read_jsonl(tmp / "diagnose" / "judgments.jsonl")  # greedy answers', then the sampled ones (marked)
        judgments, sampled = (
            [
                Judgment.from_dict({k: v for k, v in r.items() if k != "meta"})
                for r in judged
                if bool((r.get("meta") or {}).get("sample")) == sample
            ]
            for sample in (False, True)
        )
        load = dict(device="cpu", dtype=torch.float32)
        tok = load_tokenizer(reference_dir)
        reference = load_model(reference_dir, **load).eval()
        model = load_model(model_dir, **load).eval()
        inputs = load_inputs(cfg, {})

        split: dict[str, tuple[float, float]] = {}  # attack -> (generation, judging) wall seconds

        def timed(name: str, attacks: str, retain_model: str = "") -> float:
            spec = dataclasses.replace(cfg.judge, cache=str(tmp / f"{name}.sqlite"))
            run_cfg = dataclasses.replace(cfg, attacks=attacks, retain_model=retain_model, attack_cache="", judge=spec)
            with opened_judge(spec, diagnose_reference(reference, tok, reference_dir)) as judge:
                started = clock()
                _, block = attack_checkpoint(
                    run_cfg, model, tok, tok, inputs, judge, load, generations, judgments, sampled
                )
                seconds = clock() - started
            if name in ALL:
                timing = block["timings"]["checkpoint"][name]
                split[name] = (timing["attack_seconds"], timing["read_seconds"])
            return seconds

        seconds = {name: timed(name, name) for name in ALL}
        seconds["all four"] = timed("all", ",".join(ALL))
        seconds["all four + retain baseline"] = timed("baseline", ",".join(ALL), str(retain_dir))
    print(
        f"diagnose of {args.method} ({n_items} forget items, demo settings, no attacks): {diagnose_seconds:.1f} s, "
        f"{torch.get_num_threads()} torch thread(s), {args.clock} time"
    )
    for name, value in seconds.items():
        parts = ""
        if name in split:
            gen, read = split[name]
            parts = f"  (wall: generation {gen:.1f} s, judging {read:.1f} s)"
        print(f"{name}: {value:.1f} s = {value / diagnose_seconds:.2f}x a diagnose{parts}")
    ratio = seconds["all four"] / diagnose_seconds
    print(f"all four attacks: {ratio:.2f}x a diagnose (target <= 1.5x): {'met' if ratio <= 1.5 else 'missed'}")
    result = {
        "name": "attacks",
        "ratio": round(ratio, 3),
        "target": 1.5,
        "clock": args.clock,
        "diagnose_seconds": round(diagnose_seconds, 2),
        "n_items": n_items,
        **{
            f"ratio_{k.replace(' ', '_').replace('+', 'plus')}": round(v / diagnose_seconds, 3)
            for k, v in seconds.items()
        },
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
