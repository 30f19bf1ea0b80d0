"""Settings of the attacks (issue 11), shared by `squeeze attack`, `squeeze diagnose --attacks`
and the demo. Kept free of torch so `--help` stays fast.

Every attack works on an in-memory copy of the model (or on the model unchanged, for the
ones that only ask differently); none writes a model file.
"""

from __future__ import annotations

from dataclasses import dataclass

from squeeze.core.config import option
from squeeze.core.errors import ConfigError

RELEARN_ON = ("forget", "retain")


@dataclass
class AttackSettings:
    attacks: str = option("", "comma-separated attacks to run: relearn, quantize, rephrase, sample ('' : none)")
    attack_seed: int = option(0, "seed of the relearn split and batches, the few-shot examples and the samples")
    relearn_steps: int = option(20, "relearn: optimizer steps of fine-tuning on the attack's data")
    relearn_lr: float = option(1e-4, "relearn: AdamW learning rate (the demo's unlearning lr)")
    relearn_batch_size: int = option(8, "relearn: sequences per step")
    relearn_on: str = option(
        "forget", "relearn: forget (train on one seeded half of the forget set, measure the other) or retain"
    )
    relearn_folds: int = option(
        2,
        "relearn on the forget set: 1 (train on half A, measure B) or 2 (also train B, measure A; every item measured)",
    )
    quantize_bits: str = option("8,4", "quantize: comma-separated bit widths, each one variant")
    quantize_group: int = option(128, "quantize: weights per group along each output channel's row")
    rephrase_templates: str = option(
        "",
        "rephrase: a file of question templates with {question} (YAML/JSON list or one per line) for data without them",
    )
    rephrase_shots: int = option(3, "rephrase: unrelated retain facts shown before the question in the few-shot prompt")
    sample_k: int = option(16, "sample: answers per question (leak@k)")
    sample_temperature: float = option(1.0, "sample: sampling temperature")
    attack_cache: str = option(
        ".cache/attacks", "folder of cached retain-model baselines (keyed by model, data and settings); '' : none"
    )

    @classmethod
    def of(cls, cfg) -> AttackSettings:
        """The AttackSettings part of a config that inherits them (attack, diagnose or demo), checked."""
        from dataclasses import fields

        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)}).check()

    def attack_names(self) -> list[str]:
        """The attacks asked for, in order, each checked against the registry."""
        from squeeze.attacks import ATTACKS

        names = [n.strip() for n in self.attacks.split(",") if n.strip()]
        unknown = [n for n in names if n not in ATTACKS]
        if unknown:
            raise ConfigError(f"unknown attack(s) {', '.join(unknown)}; known: {', '.join(ATTACKS)}")
        if len(set(names)) != len(names):
            raise ConfigError(f"attack listed twice in {self.attacks!r}")
        return names

    def bits(self) -> list[int]:
        try:
            bits = [int(b) for b in self.quantize_bits.split(",") if b.strip()]
        except ValueError:
            raise ConfigError(
                f"quantize_bits must be integers separated by commas, got {self.quantize_bits!r}"
            ) from None
        if not bits or any(not 2 <= b <= 16 for b in bits):
            raise ConfigError(f"quantize_bits must be between 2 and 16, got {self.quantize_bits!r}")
        return bits

    def check(self) -> AttackSettings:
        """One clear error for an impossible setting."""
        self.attack_names()
        self.bits()
        for name in ("relearn_steps", "relearn_batch_size", "quantize_group", "sample_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.rephrase_shots < 0:
            raise ConfigError(f"rephrase_shots must be >= 0, got {self.rephrase_shots}")
        if self.relearn_lr <= 0 or self.sample_temperature <= 0:
            raise ConfigError("relearn_lr and sample_temperature must be > 0")
        if self.relearn_on not in RELEARN_ON:
            raise ConfigError(f"relearn_on must be one of {', '.join(RELEARN_ON)}, got {self.relearn_on!r}")
        if self.relearn_folds not in (1, 2):
            raise ConfigError(f"relearn_folds must be 1 or 2, got {self.relearn_folds}")
        return self

    def of_attack(self, name: str) -> dict:
        """The settings that change what attack `name` measures (for cache keys and reports)."""
        from dataclasses import asdict

        prefix = f"{name}_"
        return {k: v for k, v in asdict(self).items() if k.startswith(prefix)} | {"attack_seed": self.attack_seed}
