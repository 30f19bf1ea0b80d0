"""A stage whose judgments failed must not look finished (issue 14).

`check_judged` raises one clear error when more than `max_fraction` of the items have no
usable judgment (a score that could not be parsed, a server that refused or never
answered): the command then exits non-zero and its stage is not marked done. The
judgments are written before the check, so what failed, and why, can be read.
Defaults: `squeeze judge` allows none (0), `squeeze diagnose` 5%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from squeeze.core.errors import ConfigError, SqueezeError


class JudgingFailed(SqueezeError):
    """Too many items were left unjudged."""


def check_fraction(name: str, value) -> float:
    """A share in [0, 1], as an option value; one clear error otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be in [0, 1] (a share of the items), got {value!r}")
    return float(value)


def check_judged(judgments: Sequence, max_fraction: float, what: str) -> None:
    """Raise JudgingFailed when the share of unjudged items exceeds `max_fraction`."""
    from judges.redact import redact

    failed = [j for j in judgments if not j.parsed]
    if not judgments or len(failed) <= max_fraction * len(judgments):
        return
    first = next((j.error for j in failed if j.error), None) or "no score could be parsed"
    raise JudgingFailed(
        f"{what}: {len(failed)} of {len(judgments)} items unjudged ({len(failed) / len(judgments):.0%}, "
        f"more than the allowed {max_fraction:.0%}); first error: {redact(' '.join(first.split()))[:240]}"
    )
