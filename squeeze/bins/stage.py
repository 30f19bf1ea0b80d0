"""The bins stage (`squeeze bins`): the original model's candidate answers for each forget
item, binned by likelihood (DESIGN section 7), written to RUN/bins.jsonl for the tracker.

    run(BinsConfig(model="runs/original", forget="runs/world", out="runs/ga", candidates=20))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from squeeze.core.config import option


@dataclass
class BinsConfig:
    model: str = option("", "original model: a Hugging Face folder or a train-original run folder", metavar="M")
    forget: str = option(
        "", "forget set: a QA file (.jsonl/.json/.parquet) or a world directory (its forget split)", metavar="F"
    )
    out: str = option("", "run directory to write bins.jsonl into", metavar="RUN")
    candidates: int = option(20, "beams per question, all returned")
    samples: int = option(0, "extra sampled candidates per question")
    score: Literal["sum", "mean"] = option("sum", "rank by sequence log-prob or by its per-token mean")
    max_new_tokens: int = option(32, "longest candidate in tokens")
    temperature: float = option(1.0, "temperature of the extra samples")
    seed: int = option(0, "seed of the extra samples")
    batch_size: int | str = option(
        8, "questions per generate call, or auto (the largest that fits: questions x beams rows, cached)"
    )
    limit: int | None = option(None, "only the first N forget items (a quick look)")
    device: str = option("auto", "auto (a GPU when there is one), cpu, cuda or cuda:N")
    dtype: str = option("auto", "weights' dtype: auto (bf16 on a GPU that has it, else fp32), fp32, bf16 or fp16")
    force: bool = option(False, "recompute even when a matching bins.jsonl exists")


def auto_bins_batch(model, tokenizer, records, cfg: BinsConfig, model_id: str) -> int:
    """batch_size=auto for the beam search: the largest number of rows (prompt plus candidate)
    that fits (squeeze.lm.runtime, cached), divided among each question's beams and samples."""
    from squeeze.lm.prompting import encode_prompt
    from squeeze.lm.runtime import auto_batch_size

    longest = max(len(encode_prompt(tokenizer, r.question)) for r in records) + cfg.max_new_tokens
    rows = auto_batch_size(model, longest, model_id[:16])
    return max(1, rows // max(1, cfg.candidates, cfg.samples))


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


def run(cfg: BinsConfig) -> Path:
    """Bins of `cfg.model`'s beliefs for the forget set, into cfg.out (reused when they match); returns bins.jsonl.

    The model's weights and every forget text's length are checked first, and cfg.out is
    locked while the bins are made (issue 14).
    """
    from squeeze.core.runlock import RunLock
    from squeeze.lm.models import resolve_original

    if not (cfg.model and cfg.forget and cfg.out):
        return _run(cfg)  # names the missing flag
    model_dir = resolve_original(cfg.model)
    check_inputs(model_dir, load_forget(cfg.forget, cfg.limit)[0], str(cfg.forget))
    with RunLock(cfg.out):
        return _run(cfg)


def check_inputs(model_dir, records, source: str) -> None:
    """Weights in safetensors and every forget text inside the model's position limit, before any work."""
    from squeeze.lm.limits import check_lengths, check_weights, max_positions
    from squeeze.lm.models import load_tokenizer

    check_weights(model_dir, "model")
    check_lengths(load_tokenizer(model_dir), records, max_positions(model_dir), source)


def _run(cfg: BinsConfig) -> Path:
    import hashlib
    import json
    import time

    from squeeze.bins.binner import (
        BinnerSettings,
        build_bins,
        escape_route_report,
        format_escape_route_report,
        load_bins,
        model_fingerprint,
    )
    from squeeze.core.errors import ConfigError
    from squeeze.core.rundir import RunDir, read_json, write_json, write_jsonl
    from squeeze.lm.models import resolve_original

    for name in ("model", "forget", "out"):
        if not getattr(cfg, name):
            raise ConfigError(f"--{name} is required")
    from squeeze.lm.models import load_model, load_tokenizer
    from squeeze.lm.runtime import parse_batch_size, resolve_device, resolve_dtype

    device = resolve_device(cfg.device)
    load = dict(device=device, dtype=resolve_dtype(cfg.dtype, device))
    batch_size = parse_batch_size(cfg.batch_size)
    loaded = None
    if batch_size == "auto":  # found before the reuse check: bins_meta.json records the batch size
        model_dir = resolve_original(cfg.model)
        records, _ = load_forget(cfg.forget, cfg.limit)
        loaded = load_model(model_dir, **load).eval(), load_tokenizer(model_dir)
        batch_size = auto_bins_batch(*loaded, records, cfg, model_fingerprint(model_dir))
        print(f"batch_size=auto: {batch_size}")
    settings = BinnerSettings(
        n_candidates=cfg.candidates,
        n_samples=cfg.samples,
        score=cfg.score,
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        seed=cfg.seed,
        batch_size=batch_size,
    )
    try:
        settings.check()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    model_dir = resolve_original(cfg.model)
    records, families = load_forget(cfg.forget, cfg.limit)
    run_dir = RunDir(cfg.out).create()
    meta = {
        "settings": settings.to_dict(),
        "limit": cfg.limit,
        "model_fingerprint": model_fingerprint(model_dir),
        "data_fingerprint": hashlib.sha256(
            json.dumps([r.to_dict() for r in records], sort_keys=True).encode()
        ).hexdigest(),
    }
    meta_path = run_dir / "bins_meta.json"
    reuse = False
    if not cfg.force and run_dir.bins.exists() and meta_path.exists():
        stored = read_json(meta_path)
        same = all(stored.get(k) == v for k, v in meta.items())
        reuse = same and stored.get("bins_sha256") == hashlib.sha256(run_dir.bins.read_bytes()).hexdigest()
    if reuse:
        bins = load_bins(run_dir.bins)
        print(f"reusing {run_dir.bins} (same model, data and settings)")
    else:
        model, tokenizer = loaded or (load_model(model_dir, **load).eval(), load_tokenizer(model_dir))
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
    return run_dir.bins
