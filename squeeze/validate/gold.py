"""Gold-standard models whose true state is known by construction (issue 10 item 1).

From one world (squeeze.world.build), each trained the way train-original trains (every
answer template of every fact, squeeze.original.train):
- `original`: forget + retain + world_facts: it knows every forget fact -> truth `retained`;
- `retain`: retain + world_facts: it never saw the forget people -> truth `forgotten`;
- `paraphrase_only`: like the original, except that each forget item's target answer
  template is left out while its sibling templates stay in: the target's probability is low
  (conventional metrics say "forgotten") yet the model states the fact -> truth `spurious`;
- `noised`: the original with Gaussian noise of `noise_scale` times each weight tensor's
  standard deviation added to every weight, so it no longer produces language -> truth
  `collapsed`.

    models = build_gold_models(cfg, world_dir, out / "models")
"""

from __future__ import annotations

from pathlib import Path

from squeeze.validate.config import ValidateConfig

TRAINED = ("original", "retain", "paraphrase_only")


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
    return train


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
    from squeeze.lm.models import load_model_and_tokenizer, save_model
    from squeeze.original.train import train_original

    wanted = ["original", "retain", *[g for g in cfg.gold if g not in ("original", "retain")]]
    names = [g for g in wanted if g in TRAINED]
    missing = [g for g in names if not (models_dir / g / "config.json").is_file()]
    if missing:
        train_original(train_config(cfg, world_dir, models_dir / "_training", missing))
        for name in missing:
            (models_dir / "_training" / name).rename(models_dir / name)
    paths = {name: models_dir / name for name in names}
    if "noised" in cfg.gold:
        target = models_dir / "noised"
        if not (target / "config.json").is_file():
            model, tokenizer = load_model_and_tokenizer(paths["original"])
            save_model(add_weight_noise(model, cfg.noise_scale, seed=cfg.world_seed), tokenizer, target)
        paths["noised"] = target
    return paths
