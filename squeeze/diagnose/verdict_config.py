"""The verdict thresholds of DESIGN section 10, read from the packaged `squeeze/defaults/verdict.yaml`.

A forget item is `collapsed` if its answer's Naturalness < `n_min`; otherwise its answer
conveys the fact when Similarity >= `s_min` (and at least `min_support` of its sampled
answers do too), and it is then `retained` if the target's mean log-prob per token fell by
less than `tau` nats, else `spurious`; an answer that does not convey the fact is
`forgotten` (squeeze.diagnose.verdict). `squeeze judge-calibrate --write-config` tunes the
three on the fictitious world against fact leakage and writes the file; `squeeze diagnose`
reads it through `load_verdict_thresholds`.

    from squeeze.diagnose.verdict_config import load_verdict_thresholds
    thresholds = load_verdict_thresholds()            # the packaged squeeze/defaults/verdict.yaml
"""

from __future__ import annotations

from pathlib import Path

from squeeze.core.errors import ConfigError
from squeeze.core.resources import VERDICT_THRESHOLDS, default_file
from squeeze.diagnose.verdict import VerdictThresholds


def load_verdict_thresholds(path: str | Path | None = None) -> VerdictThresholds:
    """The `thresholds:` of `path` (default: the packaged squeeze/defaults/verdict.yaml, which
    every install ships). Missing keys keep the built-in defaults of VerdictThresholds."""
    import yaml

    path = Path(path) if path is not None else default_file(VERDICT_THRESHOLDS)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the verdict thresholds: {exc}") from None
    # `thresholds:` as judge-calibrate writes it, or tau/n_min/s_min at the top level.
    values = data.get("thresholds", data) if isinstance(data, dict) else None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a `thresholds:` mapping with tau, n_min and s_min")
    unknown = sorted(set(values) - {"tau", "n_min", "s_min", "min_support"})
    if unknown:
        raise ConfigError(f"{path}: unknown verdict threshold(s) {unknown}; known: tau, n_min, s_min, min_support")
    return VerdictThresholds(**values, source=str(path))
