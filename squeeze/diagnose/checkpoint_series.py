"""`squeeze track`: log-prob dynamics from any trainer's saved checkpoints (issue 15, item 3).

The tracker (squeeze.track.tracker, DESIGN section 8) normally runs inside our trainer. Here
it replays a finished run: the reference (original) model is step 0, and each checkpoint
folder is the step its name ends with (`checkpoint-100`, `step_200`, `global_step300`; the
Hugging Face Trainer, OpenUnlearning and most loops name them so). A folder that holds such
checkpoint folders stands for all of them. Each checkpoint may be any model source
(squeeze.lm.sources: a full model or a PEFT adapter checkpoint). The output is what a run of
our own trainer writes: OUT/bins.jsonl (the reference's beliefs, reused when the settings
match), dynamics.parquet, probes.parquet, dynamics_summary.json (squeeze peak, escape gap,
matched forgetting: squeeze.track.stats) and figures/ (squeeze.track.plots), plus
config.yaml and track.json (the checkpoints and their steps). `squeeze diagnose --model
LAST_CHECKPOINT ... --out OUT/diagnose` then makes OUT a leaderboard row whose squeeze peak
is the tracked one.

    squeeze track --checkpoints ckpts/ --reference orig/ --forget forget.jsonl --out runs/tracked
    squeeze track --checkpoints a/checkpoint-50 a/checkpoint-100 --reference orig --forget world/ --out t

It sits in the diagnose package, not in track, because it reuses diagnose's bin reuse
(bins_meta / ensure_bins) and its one-tokenizer check, and track is a layer below diagnose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from squeeze.core.config import option
from squeeze.core.errors import ConfigError

STEP_IN_NAME = re.compile(r"(\d+)$")


@dataclass
class TrackConfig:
    checkpoints: list = option(
        [], "checkpoint folders (any trainer's checkpoint-N), or folders holding them; ordered by the step in the name"
    )
    reference: str = option("", "the original model the checkpoints were unlearned from (step 0); any model source")
    forget: str = option("", "forget set: a QA file or a world directory (then also its facts and retain split)")
    retain: str = option("", "retain QA file for the retain probe; default: the world's retain split")
    out: str = option("", "output run folder")
    bins: str = option("", "a bins.jsonl (bins_meta.json beside it) to reuse when its settings match")
    candidates: int = option(20, "beam candidates per forget question for the bins")
    samples: int = option(0, "extra sampled candidates per question for the bins")
    max_new_tokens: int = option(32, "longest candidate / greedy answer, in tokens")
    batch_size: int | str = option(64, "sequences per scoring batch, or auto (largest that fits, cached)")
    limit: int | None = option(None, "only the first N forget items")
    matched_drop: float = option(10.0, "nats of target drop at which methods are compared (matched forgetting)")
    device: str = option("auto", "auto (a GPU when there is one), cpu, cuda or cuda:N")
    dtype: str = option("auto", "auto (bf16 on a GPU that has it, else fp32), fp32, bf16 or fp16")
    progress: bool = option(True, "progress bars")


def checkpoint_step(path: Path) -> int | None:
    match = STEP_IN_NAME.search(path.name)
    return int(match.group(1)) if match else None


def list_checkpoints(sources) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint named, ordered by step. A folder that is no model itself
    stands for its sub-folders whose names end in a step number."""
    from squeeze.lm.sources import is_model_folder

    found: list[tuple[int, Path]] = []
    for source in sources:
        path = Path(str(source))
        if not path.is_dir():
            raise ConfigError(f"--checkpoints {source}: no such folder")
        if is_model_folder(path):
            inside = [path]
        else:
            inside = [p for p in path.iterdir() if p.is_dir() and checkpoint_step(p) is not None and is_model_folder(p)]
            if not inside:
                raise ConfigError(
                    f"--checkpoints {source}: neither a model folder nor a folder of checkpoint-N model folders"
                )
        for folder in inside:
            step = checkpoint_step(folder)
            if step is None:
                raise ConfigError(f"checkpoint {folder}: its name does not end in a step number (e.g. checkpoint-100)")
            found.append((step, folder))
    found.sort(key=lambda pair: pair[0])
    steps = [s for s, _ in found]
    if len(set(steps)) != len(steps):
        dup = next(s for s in steps if steps.count(s) > 1)
        raise ConfigError(f"two checkpoints have step {dup}: {[str(f) for s, f in found if s == dup]}")
    if steps and steps[0] == 0:
        raise ConfigError(f"checkpoint {found[0][1]} has step 0, which is the reference model's step")
    return found


def load_records(cfg: TrackConfig):
    """(forget, retain) records: from a world directory (facts filled in) or QA files."""
    from squeeze.core.data import load_qa

    if not cfg.forget:
        raise ConfigError("no forget set: give --forget FILE or a world directory")
    if (Path(cfg.forget) / "manifest.json").is_file():
        from squeeze.world.build import load_world

        splits = load_world(cfg.forget).splits
        forget, retain = list(splits["forget"]), list(splits.get("retain", []))
    else:
        forget, retain = load_qa(cfg.forget), []
    if cfg.retain:
        retain = load_qa(cfg.retain)
    if cfg.limit is not None:
        if cfg.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {cfg.limit}")
        forget = forget[: cfg.limit]
    return forget, retain


def run(cfg: TrackConfig) -> Path:
    """Track every checkpoint of `cfg`; returns the output run folder."""
    import yaml
    from tqdm.auto import tqdm

    from squeeze.bins.binner import BinnerSettings, build_bins, model_fingerprint
    from squeeze.core.config import to_dict
    from squeeze.core.provenance import now_utc, provenance
    from squeeze.core.rundir import RunDir, write_json, write_text
    from squeeze.diagnose.inputs import checkpoint_tokenizer
    from squeeze.diagnose.pipeline import bins_meta, ensure_bins
    from squeeze.lm.models import load_model, load_tokenizer, resolve_original
    from squeeze.lm.runtime import batch_size_for_records, parse_batch_size, resolve_device, resolve_dtype
    from squeeze.track.tracker import Tracker

    if not cfg.out:
        raise ConfigError("give --out DIR for the tracked run")
    if not cfg.reference:
        raise ConfigError("give --reference: the original model the checkpoints started from")
    checkpoints = list_checkpoints(cfg.checkpoints)
    if not checkpoints:
        raise ConfigError("no checkpoints given (--checkpoints DIR [DIR ...])")
    device = resolve_device(cfg.device)
    load = dict(device=device, dtype=resolve_dtype(cfg.dtype, device))
    batch_size = parse_batch_size(cfg.batch_size)
    reference_dir = resolve_original(cfg.reference)
    forget, retain = load_records(cfg)
    started = now_utc()
    out = RunDir(cfg.out).create().root
    say = print if cfg.progress else (lambda *a, **k: None)

    reference, tok = load_model(reference_dir, **load).eval(), load_tokenizer(reference_dir)
    if batch_size == "auto":
        batch_size = batch_size_for_records(
            reference, tok, forget, cfg.max_new_tokens, model_fingerprint(reference_dir)
        )
        say(f"batch_size=auto: {batch_size}")
    settings = BinnerSettings(
        n_candidates=cfg.candidates, n_samples=cfg.samples, max_new_tokens=cfg.max_new_tokens, batch_size=8
    )
    bins, bins_from = ensure_bins(
        out,
        [Path(cfg.bins)] if cfg.bins else [],
        bins_meta(settings, cfg.limit, reference_dir, forget),
        lambda: build_bins(reference, tok, forget, settings, progress=cfg.progress),
    )
    say(f"bins: {bins_from} ({len(bins)} items)")
    # The keys an unlearning run's config.yaml has, so diagnose, plots and the leaderboard read it alike.
    world = cfg.forget if (Path(cfg.forget) / "manifest.json").is_file() else ""
    run_config = {**to_dict(cfg), "source": "checkpoints", "original": str(reference_dir), "world": world}
    write_text(out / "config.yaml", yaml.safe_dump(run_config, sort_keys=False))
    tracker = Tracker(
        out,
        tok,
        bins,
        track_every=1,
        batch_size=batch_size,
        forget=forget,
        retain=retain,
        matched_drop=cfg.matched_drop,
        max_new_tokens=cfg.max_new_tokens,
    )
    tracker.on_step(0, reference)
    reference = None  # free it: one model in memory at a time
    model = None
    for step, folder in tqdm(checkpoints, desc="tracking checkpoints", disable=not cfg.progress):
        model = load_model(folder, **load).eval()
        checkpoint_tokenizer(folder, tok, forget)  # token log-probs compare ids: one tokenizer for all
        tracker.on_step(step, model)
    tracker.on_end(model)  # the summary's final leak rates come from the last checkpoint
    write_json(
        out / "track.json",
        {
            "reference": str(reference_dir),
            "checkpoints": [{"step": s, "path": str(f)} for s, f in checkpoints],
            "bins": bins_from,
            "provenance": provenance(
                config=cfg,
                seeds={"bins": settings.seed},
                data=[cfg.forget, cfg.retain or None],
                **load,
                started=started,
            ),
        },
    )
    print(f"tracked {len(checkpoints)} checkpoints (steps {checkpoints[0][0]}..{checkpoints[-1][0]}); wrote {out}")
    return out
