"""Harmonic-mean aggregates of conventional metrics (DESIGN section 9: Mem, Util, Agg).

A *definition* names groups of metrics and how each enters its group; the groups'
harmonic means are the aggregates, and `total` (optional) is the harmonic mean of some
groups. Definitions live in `squeeze/defaults/benchmarks/aggregates.yaml`, so the paper's and
OpenUnlearning's readings can both be reported side by side:

    defs = load_aggregate_definitions()
    aggregate(metrics, defs["openunlearning_tofu"])  # -> {"mem": ..., "util": ..., "agg": ...}

Definition format (every aggregate is "higher is better"):
    {"groups": {"mem": {"forget_es": "invert", "forget_truth_ratio": "identity"}, ...},
     "total": {"name": "agg", "of": ["mem", "util"]}}
Transforms: `identity` x; `invert` 1 - x (for metrics where high means still memorised);
`privleak` max(0, 1 - |x| / 100) (MUSE PrivLeak in percent: 0 is ideal either way).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from squeeze.core.errors import ConfigError
from squeeze.core.resources import AGGREGATES, default_file

TRANSFORMS = {
    "identity": lambda x: x,
    "invert": lambda x: 1.0 - x,
    "privleak": lambda x: max(0.0, 1.0 - abs(x) / 100.0),
}


def harmonic_mean(values: Sequence[float]) -> float:
    """n / sum(1/v); 0 if any value is 0 (a zero component zeroes the aggregate)."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("harmonic mean of no values is undefined")
    for v in vals:
        if math.isnan(v) or v < 0:
            raise ValueError(f"harmonic mean needs values >= 0, got {v}")
    if any(v == 0.0 for v in vals):
        return 0.0
    return len(vals) / sum(1.0 / v for v in vals)


def _term(metrics: Mapping[str, float | None], name: str, transform: str) -> float | None:
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown aggregate transform {transform!r} for {name!r}; use one of {sorted(TRANSFORMS)}")
    value = metrics.get(name)
    if value is None:
        return None
    return TRANSFORMS[transform](float(value))


def aggregate(
    metrics: Mapping[str, float | None], definition: Mapping, allow_missing: bool = False
) -> dict[str, float | None]:
    """The groups' harmonic means (and the total's) for one definition.

    A metric the definition names but `metrics` lacks (or holds as None) is an error,
    unless `allow_missing`: then it is left out, a group with no metric left is None,
    and None groups are left out of the total.
    """
    groups = definition.get("groups")
    if not isinstance(groups, Mapping) or not groups:
        raise ConfigError("an aggregate definition needs a non-empty 'groups' mapping")
    out: dict[str, float | None] = {}
    for group, terms in groups.items():
        if not isinstance(terms, Mapping) or not terms:
            raise ConfigError(f"aggregate group {group!r} must map metric names to transforms")
        values = {name: _term(metrics, name, transform) for name, transform in terms.items()}
        missing = sorted(name for name, v in values.items() if v is None)
        if missing and not allow_missing:
            raise ConfigError(f"aggregate group {group!r} needs metrics that were not computed: {', '.join(missing)}")
        present = [v for v in values.values() if v is not None]
        # Transforms of metrics slightly outside [0, 1] (e.g. 1 - x for x > 1) clip at 0.
        out[group] = harmonic_mean([max(0.0, v) for v in present]) if present else None
    total = definition.get("total")
    if total:
        of = total.get("of") or []
        unknown = [g for g in of if g not in out]
        if unknown:
            raise ConfigError(f"aggregate total refers to unknown groups: {', '.join(unknown)}")
        parts = [out[g] for g in of if out[g] is not None]
        out[total.get("name", "agg")] = harmonic_mean(parts) if parts else None
    return out


def load_aggregate_definitions(path: str | Path | None = None) -> dict[str, dict]:
    """Named definitions from YAML (default: the packaged squeeze/defaults/benchmarks/aggregates.yaml)."""
    path = Path(path) if path is not None else default_file(AGGREGATES)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read aggregate definitions {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"aggregate definitions {path} are not valid YAML: {exc}") from exc
    defs = (data or {}).get("definitions")
    if not isinstance(defs, dict) or not defs:
        raise ConfigError(f"{path} has no 'definitions' mapping")
    return defs


def aggregate_all(
    metrics: Mapping[str, float | None], definitions: Mapping[str, Mapping], allow_missing: bool = True
) -> dict[str, dict]:
    """Every named definition at once, e.g. for metrics.json: {name: {group: value}}."""
    return {name: aggregate(metrics, d, allow_missing=allow_missing) for name, d in definitions.items()}
