"""`squeeze bins`: the original model's candidate answers for each forget item, binned by
likelihood (DESIGN section 7), written to RUN/bins.jsonl for the tracker.

    squeeze bins --model runs/original --forget runs/world --out runs/ga
    squeeze bins --model runs/original/original --forget forget.jsonl --out runs/npo --candidates 20 --samples 10
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
For each forget item, generate candidate answers from the original model by beam search
(all beams returned; optionally plus samples), drop the target and duplicates (ignoring case
and whitespace), score each by its sequence log-prob under the original model (or the mean
per token with --score mean), rank, and cut into high (top 20%), mid (20-60%) and low
(60-100%). Writes RUN/bins.jsonl and RUN/bins_meta.json (settings and fingerprints of the
model and data); a later call with the same model, data and settings reuses the file.
When the forget items carry facts (the fictitious world), prints how often each bin holds
an answer that still states the fact (the escape routes).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bins",
        help="bin the original model's candidate answers to each forget question by likelihood",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        required=True,
        metavar="M",
        help="original model: a Hugging Face folder or a train-original run folder",
    )
    parser.add_argument(
        "--forget",
        required=True,
        metavar="F",
        help="forget set: a QA file (.jsonl/.json/.parquet) or a world directory (its forget split)",
    )
    parser.add_argument("--out", required=True, metavar="RUN", help="run directory to write bins.jsonl into")
    parser.add_argument(
        "--candidates",
        type=int,
        default=20,
        metavar="N",
        help="beams per question, all returned (default: %(default)s)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=0,
        metavar="N",
        help="extra sampled candidates per question (default: %(default)s)",
    )
    parser.add_argument(
        "--score",
        choices=("sum", "mean"),
        default="sum",
        help="rank by sequence log-prob or by its per-token mean (default: %(default)s)",
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=32, metavar="N", help="longest candidate in tokens (default: %(default)s)"
    )
    parser.add_argument(
        "--temperature", type=float, default=1.0, help="temperature of the extra samples (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the extra samples (default: %(default)s)")
    parser.add_argument(
        "--batch-size", type=int, default=8, metavar="N", help="questions per generate call (default: %(default)s)"
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="only the first N forget items (a quick look)"
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu"), default="auto", help="auto: a GPU when there is one (default: %(default)s)"
    )
    parser.add_argument("--force", action="store_true", help="recompute even when a matching bins.jsonl exists")
    return parser


def load_forget(source: str, limit: int | None):
    """(forget records, answer families by item id or None) from a world directory or a QA file."""
    from pathlib import Path

    from squeeze.core.errors import DataError

    if (Path(source) / "manifest.json").is_file():
        from squeeze.world.build import load_world

        world = load_world(source)
        records = list(world.splits["forget"])
        families = {r.id: world.answer_family(r) for r in records[:limit]}
    else:
        from squeeze.core.data import load_qa

        records, families = load_qa(source), None
    if limit is not None:
        if limit < 1:
            raise DataError(f"--limit must be at least 1, got {limit}")
        records = records[:limit]
    if not records:
        raise DataError(f"{source}: the forget set is empty")
    return records, families


def run(args) -> int:
    import hashlib
    import json
    import time

    from squeeze.bins.binner import (
        BinnerSettings,
        build_bins,
        escape_route_report,
        format_escape_route_report,
        model_fingerprint,
    )
    from squeeze.core.errors import ConfigError
    from squeeze.core.rundir import RunDir, read_json, write_json, write_jsonl
    from squeeze.track.tracker import load_bins
    from squeeze.unlearn.data import resolve_original

    settings = BinnerSettings(
        n_candidates=args.candidates,
        n_samples=args.samples,
        score=args.score,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    try:
        settings.check()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    model_dir = resolve_original(args.model)
    records, families = load_forget(args.forget, args.limit)
    run_dir = RunDir(args.out).create()
    meta = {
        "settings": settings.to_dict(),
        "limit": args.limit,
        "model_fingerprint": model_fingerprint(model_dir),
        "data_fingerprint": hashlib.sha256(
            json.dumps([r.to_dict() for r in records], sort_keys=True).encode()
        ).hexdigest(),
    }
    meta_path = run_dir / "bins_meta.json"
    reuse = False
    if not args.force and run_dir.bins.exists() and meta_path.exists():
        stored = read_json(meta_path)
        same = all(stored.get(k) == v for k, v in meta.items())
        reuse = same and stored.get("bins_sha256") == hashlib.sha256(run_dir.bins.read_bytes()).hexdigest()
    if reuse:
        bins = load_bins(run_dir.bins)
        print(f"reusing {run_dir.bins} (same model, data and settings)")
    else:
        import torch

        from squeeze.lm.models import load_model, load_tokenizer

        device = "cuda" if args.device == "auto" and torch.cuda.is_available() else "cpu"
        model, tokenizer = load_model(model_dir, device=device).eval(), load_tokenizer(model_dir)
        started = time.perf_counter()
        bins = build_bins(model, tokenizer, records, settings, progress=True)
        seconds = time.perf_counter() - started
        write_jsonl(run_dir.bins, [b.to_dict() for b in bins])
        meta.update(
            bins_sha256=hashlib.sha256(run_dir.bins.read_bytes()).hexdigest(),
            model=str(model_dir),
            n_items=len(bins),
            seconds=seconds,
        )
        write_json(meta_path, meta)  # last: a bins.jsonl without matching meta is recomputed
        generated = len(records) * (settings.n_candidates + settings.n_samples)
        print(f"binned {len(bins)} items in {seconds:.1f} s ({generated / max(seconds, 1e-9):.1f} candidates/s)")
    sizes = {name: sum(len(b.in_bin(name)) for b in bins) / len(bins) for name in ("high", "mid", "low")}
    print("mean candidates per item: " + ", ".join(f"{k} {v:.1f}" for k, v in sizes.items()))
    report = escape_route_report(bins, records, families)
    if report:
        print(format_escape_route_report(report))
        write_json(run_dir / "bins_escape_routes.json", report)
    print(f"wrote {run_dir.bins}")
    return 0
