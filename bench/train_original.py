"""Benchmark: wall time and throughput of `squeeze train-original` on the default world.

Prints the wall time of training both models (in parallel processes, the default), each
model's own time, and training tokens per second, all measured in this one run.

    .venv/bin/python bench/train_original.py [--people 100] [--epochs 20]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from squeeze.original.config import TrainOriginalConfig
from squeeze.original.train import PLAN, epoch_pairs


def count_tokens(world, tokenizer, epochs: int) -> dict[str, int]:
    """Answer-and-prompt tokens each model trains on (the same pairs the trainer draws)."""
    tokens = {}
    for name, splits in PLAN.items():
        pairs = epoch_pairs(world, splits, tokenizer, random.Random(0))
        tokens[name] = epochs * sum(len(p) + len(a) for p, a in pairs)
    return tokens


def main() -> None:
    from squeeze.lm.tiny import build_word_tokenizer
    from squeeze.original.train import train_original
    from squeeze.world.build import generate_world, load_world

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=TrainOriginalConfig.epochs)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world_dir = Path(tmp) / "world"
        generate_world(args.people).write(world_dir)
        world = load_world(world_dir)
        tokens = count_tokens(world, build_word_tokenizer(world.corpus_texts()), args.epochs)
        cfg = TrainOriginalConfig(world=str(world_dir), out=str(Path(tmp) / "run"), epochs=args.epochs)
        started = time.perf_counter()
        run = train_original(cfg)
        wall = time.perf_counter() - started
        report = json.loads((run / "train_report.json").read_text())
    print(f"train-original on {args.people} people, {args.epochs} epochs, {report['n_parameters']:,} parameters")
    print(f"  wall time, both models and the acceptance report: {wall:.1f} s (target <= 300 s)")
    for name, seconds in report["train_seconds"].items():
        print(
            f"  {name}: {seconds:.1f} s, {tokens[name] / seconds:,.0f} tokens/s, "
            f"greedy value accuracy on forget {report[name]['greedy_value_accuracy']:.0%}"
        )
    print(
        f"  original: mean distinct templates in top-5 beams {report['original']['mean_distinct_templates_top5']:.2f}"
    )
    print(
        json.dumps(
            {
                "name": "train_original",
                "ratio": wall / 300.0,  # wall time over the 300 s target
                "wall_seconds": wall,
                "target_seconds": 300.0,
                "train_seconds": report["train_seconds"],
                "people": args.people,
                "epochs": args.epochs,
            }
        )
    )


if __name__ == "__main__":
    main()
