"""Gold-standard models whose true state is known by construction (issue 10 item 1).

From one world (squeeze.world.build), each trained the way train-original trains (every
answer template of every fact, squeeze.original.train):
- `original`: forget + retain + world_facts: it knows every forget fact -> truth `retained`;
- `retain`: retain + world_facts: it never saw the forget people -> truth `forgotten`;
- `paraphrase_only`: like the original, except that one answer template per relation is left
  out for every person (squeeze.world.held_out) while the sibling templates stay in, and the
  forget targets are written in that held-out wording: the target's probability is low
  (conventional metrics say "forgotten") yet the model states the fact -> truth `spurious`;
- `noised`: the original with Gaussian noise of `noise_scale` times each weight tensor's
  standard deviation added to every weight, so it no longer produces language -> truth
  `collapsed`.

    models = build_gold_models(cfg, world_dir, out / "models")
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from squeeze.validate.config import ValidateConfig

TRAINED = ("original", "retain", "paraphrase_only")
# Bumped when a gold model's construction changes, so that a model built the old way is rebuilt.
CONSTRUCTION = {"original": 1, "retain": 1, "paraphrase_only": 2, "noised": 1}
META = "gold_meta.json"


def train_config(cfg: ValidateConfig, world_dir: Path, models_dir: Path, names: list[str]):
    """The train-original settings every trained gold model shares."""
    from squeeze.original.config import TrainOriginalConfig

    train = TrainOriginalConfig(
        world=str(world_dir),
        out=str(models_dir),
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        num_heads=cfg.num_heads,
        epochs=cfg.epochs,
        parallel=cfg.train_parallel,
        models=names,
        base_model=cfg.base_model,
    )
    if cfg.train_lr:
        train.lr = cfg.train_lr
    if cfg.train_batch_size:
        train.batch_size = cfg.train_batch_size
    return train


def gold_meta(cfg: ValidateConfig, name: str, world_dir: Path) -> dict:
    """What a gold model was built from: reused only when all of it matches."""
    import hashlib

    train = train_config(cfg, world_dir, Path("."), [name])
    settings = {k: v for k, v in dataclasses.asdict(train).items() if k not in ("out", "models", "world")}
    if name == "noised":
        settings = {"noise_scale": cfg.noise_scale, "seed": cfg.world_seed, "original": settings}
    manifest = (world_dir / "manifest.json").read_bytes()
    return {
        "gold": name,
        "construction": CONSTRUCTION[name],
        "settings": settings,
        "world_sha256": hashlib.sha256(manifest).hexdigest(),
    }


def _is_built(folder: Path, meta: dict) -> bool:
    from squeeze.core.rundir import read_json

    return (folder / "config.json").is_file() and (folder / META).is_file() and read_json(folder / META) == meta


def add_weight_noise(model, scale: float, seed: int = 0):
    """Every weight tensor w becomes w + scale * std(w) * N(0, 1) (in place; returns the model).
    A tensor whose entries are all equal (std 0, e.g. an untouched norm) gets noise of scale * |mean|."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            spread = float(param.float().std()) if param.numel() > 1 else 0.0
            spread = spread or float(param.float().abs().mean())
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32) * (scale * spread)
            param.add_(noise.to(param.dtype).to(param.device))
    return model


def build_gold_models(cfg: ValidateConfig, world_dir: Path, models_dir: Path) -> dict[str, Path]:
    """{name: model folder} for the gold models of `cfg.gold`, plus the original and the retain
    model (always: the original is every diagnosis's reference, the retain model its
    naturalness LM and chance baseline). Trained models already in `models_dir` are reused."""
    from squeeze.core.rundir import write_json
    from squeeze.lm.models import load_model_and_tokenizer, save_model
    from squeeze.original.train import train_original

    wanted = ["original", "retain", *[g for g in cfg.gold if g not in ("original", "retain")]]
    names = [g for g in wanted if g in TRAINED]
    metas = {g: gold_meta(cfg, g, world_dir) for g in [*names, "noised"]}
    missing = [g for g in names if not _is_built(models_dir / g, metas[g])]
    if missing:
        train_original(train_config(cfg, world_dir, models_dir / "_training", missing))
        for name in missing:
            if (models_dir / name).exists():  # built the old way or with other settings
                shutil.rmtree(models_dir / name)
            (models_dir / "_training" / name).rename(models_dir / name)
            write_json(models_dir / name / META, metas[name])
    paths = {name: models_dir / name for name in names}
    if "noised" in cfg.gold:
        target = models_dir / "noised"
        if "original" in missing or not _is_built(target, metas["noised"]):
            model, tokenizer = load_model_and_tokenizer(paths["original"])
            save_model(add_weight_noise(model, cfg.noise_scale, seed=cfg.world_seed), tokenizer, target)
            write_json(target / META, metas["noised"])
        paths["noised"] = target
    return paths
