"""Settings of `squeeze validate` (kept free of torch so `--help` is fast)."""

from __future__ import annotations

from dataclasses import dataclass

from squeeze.core.config import option

# Each gold model and the verdict it deserves by construction (squeeze.validate.gold).
GOLD_TRUTH = {
    "retain": "forgotten",
    "original": "retained",
    "paraphrase_only": "spurious",
    "noised": "collapsed",
}
# The targets of issue 10 item 1: (verdict, ">=" or "<=", share) per gold model.
TARGETS = {
    "retain": [("forgotten", ">=", 0.90), ("spurious", "<=", 0.05)],
    "original": [("retained", ">=", 0.95)],
    "paraphrase_only": [("spurious", ">=", 0.80)],
    "noised": [("collapsed", ">=", 0.90)],
}


@dataclass
class ValidateConfig:
    out: str = option(
        "runs/validate", "run directory: world/, models/, one diagnose folder per gold model, validation.*"
    )
    fast: bool = option(False, "the small world of `squeeze demo --fast` (20 people), trained 60 epochs")
    base_model: str = option(
        "",
        "pretrained model every gold model is fine-tuned from (folder, .gguf or smollm2-135m-instruct); '' trains tiny models",
    )
    people: int = option(100, "people in the fictitious world (--fast: 20)")
    world_seed: int = option(0, "seed of the world")
    forget_pct: int = option(10, "percent of people to forget (1, 5 or 10)")
    forget_people: int = option(0, "forget exactly this many people instead (0: forget_pct)")
    epochs: int = option(20, "training passes of the trained gold models (--fast: 60)")
    hidden_size: int = option(64, "tiny model width")
    num_layers: int = option(4, "tiny model layers")
    num_heads: int = option(4, "tiny model attention heads")
    train_lr: float = option(0.0, "peak learning rate of training (0: train-original's default)")
    train_batch_size: int = option(0, "sequences per training step (0: train-original's default)")
    train_parallel: bool = option(True, "train the gold models in parallel processes")
    noise_scale: float = option(
        1.0, "noised model: Gaussian noise of this many times each weight tensor's standard deviation"
    )
    gold: list = option(list(GOLD_TRUTH), "which gold models to build and diagnose")
    answer_samples: int = option(4, "sampled answers per forget item that the verdict reads beside the greedy one")
    thresholds: str = option("", "verdict thresholds YAML; default: the packaged squeeze/defaults/verdict.yaml")
    judge_config: str = option(
        "",
        "the embedding judge's mapping YAML, e.g. the judges/embedding.yaml that `squeeze judge-calibrate "
        "--write-config` wrote beside --thresholds; default: the packaged one",
    )
    limit: int = option(0, "diagnose at most this many forget items (0: all)")
    candidates: int = option(10, "beam candidates per forget item for the bins")
    cache: str = option(".cache/judges.sqlite", "judgment cache (SQLite); empty: no cache")
    device: str = option("auto", "device of the diagnoses: auto (a GPU when there is one), cpu, cuda or cuda:N")
    dtype: str = option("auto", "dtype of the diagnoses: auto (bf16 on a GPU that has it, else fp32), fp32, bf16, fp16")
    batch_size: int | str = option(16, "diagnose batch size, or auto (largest that fits, cached)")
    progress: bool = option(True, "progress bars")


# 60 epochs on the small world: at 20 (the default world's), a 20-person world gives a fifth of
# the steps, and the original's sampled answers state some of its facts in 0-25% of samples, so
# the verdict's support check reads that knowledge as guessing (docs in README, issue 10).
FAST = {"people": 20, "epochs": 60}
