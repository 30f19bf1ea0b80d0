"""`squeeze validate`: build gold models from one world, diagnose each with the default judge
and thresholds, and measure how often the verdict matches the truth (issue 10 item 1).

    squeeze validate --out runs/validate --fast
    squeeze validate --out runs/validate                  # the default world (100 people, seed 0)

Writes OUT/world/, OUT/forget_held_out.jsonl, OUT/models/<gold>/, OUT/diagnose/<gold>/ (a full
`squeeze diagnose` folder each) and OUT/validation.json, OUT/validation.md
(squeeze.validate.report). Every gold model is diagnosed against the original as reference,
with the retain model as the chance baseline, on the same forget items: the world's, with
their targets in each relation's held-out wording (squeeze.world.held_out), the one wording
that paraphrase_only never read. So all four are judged the same way.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from squeeze.validate.config import FAST, GOLD_TRUTH, ValidateConfig


def resolve(cfg: ValidateConfig) -> ValidateConfig:
    """--fast: the small world, unless the setting was changed from its default."""
    from squeeze.core.errors import ConfigError

    unknown = [g for g in cfg.gold if g not in GOLD_TRUTH]
    if unknown or not cfg.gold:
        raise ConfigError(f"gold must be a non-empty subset of {list(GOLD_TRUTH)}, got {cfg.gold}")
    if cfg.noise_scale <= 0:
        raise ConfigError(f"noise_scale must be > 0, got {cfg.noise_scale}")
    from squeeze.lm.runtime import parse_batch_size, resolve_device, resolve_dtype

    resolve_dtype(cfg.dtype, resolve_device(cfg.device))  # one clear line before any training (issue 15)
    cfg = dataclasses.replace(cfg, batch_size=parse_batch_size(cfg.batch_size))
    if not cfg.fast:
        return cfg
    defaults = ValidateConfig()
    changes = {k: v for k, v in FAST.items() if getattr(cfg, k) == getattr(defaults, k)}
    return dataclasses.replace(cfg, **changes)


def make_world(cfg: ValidateConfig, world_dir: Path) -> Path:
    from squeeze.world.build import generate_world

    if not (world_dir / "manifest.json").is_file():
        world = generate_world(cfg.people, cfg.world_seed, cfg.forget_pct, forget_people=cfg.forget_people)
        world.write(world_dir)
    return world_dir


def write_forget_set(world_dir: Path, out: Path) -> Path:
    """OUT/forget_held_out.jsonl: the world's forget items with held-out-wording targets."""
    from squeeze.core.rundir import write_jsonl
    from squeeze.world.build import load_world
    from squeeze.world.held_out import held_out_forget_set

    return write_jsonl(out / "forget_held_out.jsonl", [r.to_dict() for r in held_out_forget_set(load_world(world_dir))])


def diagnose_gold(cfg: ValidateConfig, name: str, models: dict[str, Path], world_dir: Path, out: Path) -> dict:
    """The diagnose report of one gold model against the original."""
    from squeeze.diagnose.pipeline import diagnose

    return diagnose(gold_diagnose_config(cfg, name, models, world_dir, out))


def gold_diagnose_config(cfg: ValidateConfig, name: str, models: dict[str, Path], world_dir: Path, out: Path):
    from squeeze.diagnose.judging import JudgeSpec
    from squeeze.diagnose.pipeline import DiagnoseConfig

    bins = out / "diagnose" / "original" / "bins.jsonl"
    dcfg = DiagnoseConfig(
        model=str(models[name]),
        reference=str(models["original"]),
        world=str(world_dir),
        forget=str(out / "forget_held_out.jsonl"),
        retain_model=str(models["retain"]),
        out=str(out / "diagnose" / name),
        bins=str(bins) if bins.is_file() else "",
        thresholds=cfg.thresholds,
        judge=JudgeSpec(cache=cfg.cache, config=cfg.judge_config),
        limit=cfg.limit or None,
        candidates=cfg.candidates,
        answer_samples=cfg.answer_samples,
        device=cfg.device,
        dtype=cfg.dtype,
        batch_size=cfg.batch_size,
        progress=cfg.progress,
    )
    return dcfg


def validate(cfg: ValidateConfig) -> Path:
    """Build, diagnose and score every gold model of `cfg`; returns OUT."""
    from squeeze.core.config import to_yaml
    from squeeze.core.rundir import RunDir, write_json, write_text
    from squeeze.validate.gold import build_gold_models
    from squeeze.validate.report import render_markdown, summarise

    cfg = resolve(cfg)
    out = RunDir(cfg.out).create().root
    write_text(out / "config.yaml", to_yaml(cfg))
    say = print if cfg.progress else (lambda *a, **k: None)
    started = time.perf_counter()
    world_dir = make_world(cfg, out / "world")
    write_forget_set(world_dir, out)
    models = build_gold_models(cfg, world_dir, out / "models")
    trained = time.perf_counter()
    say(f"gold models ready in {trained - started:.0f} s: {', '.join(models)}")
    # The original first: its bins (the reference's beliefs) are then reused by the others.
    order = sorted(cfg.gold, key=lambda g: g != "original")
    reports = {}
    for name in order:
        say(f"diagnosing the {name} model (truth: {GOLD_TRUTH[name]})")
        reports[name] = diagnose_gold(cfg, name, models, world_dir, out)
    validation = summarise(cfg, reports, out)
    validation["seconds"] = {"train": trained - started, "diagnose": time.perf_counter() - trained}
    write_json(out / "validation.json", validation)
    write_text(out / "validation.md", render_markdown(validation))
    return out
