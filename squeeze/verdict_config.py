"""The verdict thresholds of DESIGN section 10, read from `configs/verdict.yaml`.

A forget item is `retained` if its target's mean log-prob per token fell by less than `tau`
nats; else `collapsed` if the generation's Naturalness < `n_min`; else `spurious` if its
Similarity >= `s_min`; else `forgotten`. `squeeze judge-calibrate --write-config` tunes the
three on the fictitious world against fact leakage and writes the file; `squeeze diagnose`
reads it through `load_verdict_thresholds`.

    from squeeze.verdict_config import load_verdict_thresholds
    thresholds = load_verdict_thresholds()            # configs/verdict.yaml, else the built-in defaults
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from squeeze.errors import ConfigError

VERDICT_FILE = Path(__file__).resolve().parent.parent / "configs" / "verdict.yaml"


@dataclass(frozen=True)
class VerdictThresholds:
    tau: float = 0.6931  # nats per token: ln 2, the target's per-token probability halved
    n_min: float = 2.5  # Naturalness (0-5) below which a generation is collapsed
    s_min: float = 2.5  # Similarity (0-5) from which a generation still states the fact

    def __post_init__(self):
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"verdict threshold {name} must be a finite number, got {value!r}")
        if self.tau < 0:
            raise ConfigError(f"verdict threshold tau must be >= 0 nats, got {self.tau}")
        for name in ("n_min", "s_min"):
            if not 0.0 <= getattr(self, name) <= 5.0:
                raise ConfigError(f"verdict threshold {name} must be on the 0-5 scale, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return {k: float(v) for k, v in asdict(self).items()}


def load_verdict_thresholds(path: str | Path | None = None) -> VerdictThresholds:
    """The `thresholds:` of `path` (default: configs/verdict.yaml); the built-in defaults when
    no path is given and the checkout has no such file. Missing keys keep their defaults."""
    import yaml

    if path is None:
        if not VERDICT_FILE.is_file():
            return VerdictThresholds()
        path = VERDICT_FILE
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the verdict thresholds: {exc}") from None
    values = data.get("thresholds") if isinstance(data, dict) else None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a `thresholds:` mapping with tau, n_min and s_min")
    unknown = sorted(set(values) - {"tau", "n_min", "s_min"})
    if unknown:
        raise ConfigError(f"{path}: unknown verdict threshold(s) {unknown}; known: tau, n_min, s_min")
    return VerdictThresholds(**values)
