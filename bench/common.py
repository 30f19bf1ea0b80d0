"""What the model benchmarks share (bench/bins.py, bench/diagnose_scoring.py): where the model
comes from (--original, --model, or a quickly trained one on a fresh world), the clock, and
the torch threads."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def add_model_arguments(parser: argparse.ArgumentParser, world_help: str) -> None:
    parser.add_argument("--original", help="original model (folder or train-original run); default: train one")
    parser.add_argument("--model", help="a model name or folder instead of --original, e.g. smollm2-135m-instruct")
    parser.add_argument("--world", help=world_help)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: this process's CPU time (default); wall: wall time",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20)


def clock_of(args):
    """CPU time of this process by default: with one torch thread it does not count other load."""
    return time.process_time if args.clock == "cpu" else time.perf_counter


def model_source(parser: argparse.ArgumentParser, args, prefix: str) -> tuple[str, Path]:
    """(model name or folder, world folder), training a world and a model when none is given;
    sets the torch threads."""
    import torch

    if (args.original or args.model) and not args.world:
        parser.error("--original/--model need --world")
    torch.set_num_threads(args.threads)
    if args.model:
        return args.model, Path(args.world)
    from tracker_overhead import prepare

    from squeeze.lm.models import resolve_original

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    prep = argparse.Namespace(original=args.original, world=args.world, people=args.people, epochs=args.epochs)
    original, world_dir = prepare(prep, tmp)
    return str(resolve_original(original)), world_dir
