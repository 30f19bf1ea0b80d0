"""The tracker's budget (issue 13): which steps, items and candidates it scores.

Scoring every item's target and every bin candidate every `track_every` steps costs several
times the training itself on the default world, so by default the tracker measures less:
- **steps**: a log-spaced schedule, dense early (where the squeeze peaks) and sparse late:
  step 0, `points` steps spaced geometrically over 1..total, and always the last step;
  `schedule=every` keeps the old grid (step 0, every `track_every` steps, the last step);
- **items**: an evenly spread subsample of `items` forget items (deterministic);
- **candidates**: in each bin, the `candidates` most likely under the original model (the
  ones that dominate the bin's logsumexp mass, DESIGN section 8);
- **probes** (greedy leak, retain probe): at the first and last tracked step only, unless
  `probe_every` is a number of steps (1: at every tracked step; 0: never).
`items=all candidates=all schedule=every probe_every=<track_every>` is the full measurement.
The summary reports the interval of every averaged statistic, so a subsample says how sure it is.

    squeeze unlearn ... track.items=all track.candidates=all     # full measurement, log schedule
    squeeze unlearn ... track.schedule=every track_every=10      # the old grid
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from squeeze.core.errors import ConfigError
from squeeze.core.types import BIN_NAMES, ItemBins

SCHEDULES = ("log", "every")
ALL = "all"


@dataclass(frozen=True)
class TrackBudget:
    items: int | None = 32  # None: every forget item
    candidates: int | None = 3  # per bin; None: every candidate
    schedule: str = "log"
    points: int = 10  # log-spaced steps between step 0 and the last one (schedule=log)
    probe_every: int | None = None  # None: probes at the first and last tracked step only

    @classmethod
    def from_settings(cls, settings: dict | None, track_every: int | None = None) -> TrackBudget:
        """The budget of `UnlearnConfig.track` (a dict of the fields above, `all` for None).

        An explicit `track_every` without `track.schedule` keeps its meaning: the every-N grid."""
        settings = dict(settings or {})
        known = {f for f in asdict(cls())}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"unknown track setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values: dict = {}
        for key in ("items", "candidates", "probe_every"):
            if key in settings:
                values[key] = _count(key, settings[key], allow_all=key != "probe_every")
        if "points" in settings:
            values["points"] = _count("points", settings["points"], allow_all=False)
        schedule = settings.get("schedule")
        if schedule is None:
            schedule = "every" if track_every is not None else "log"
        if schedule not in SCHEDULES:
            raise ConfigError(f"track.schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
        values["schedule"] = schedule
        return replace(cls(), **values)

    @classmethod
    def full(cls) -> TrackBudget:
        """Every item and candidate (the schedule stays the caller's)."""
        return cls(items=None, candidates=None)

    def describe(self) -> dict:
        return {k: (ALL if v is None and k in ("items", "candidates") else v) for k, v in asdict(self).items()}


def _count(key: str, value, allow_all: bool) -> int | None:
    if allow_all and (value is None or (isinstance(value, str) and value.lower() == ALL)):
        return None
    if key == "probe_every" and (value is None or (isinstance(value, str) and value.lower() == "ends")):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "probe_every" else 1):
        hint = " or all" if allow_all else (" or ends" if key == "probe_every" else "")
        raise ConfigError(f"track.{key} must be a positive integer{hint}, got {value!r}")
    return value


def tracked_steps(total_steps: int, budget: TrackBudget, track_every: int | None = None) -> list[int]:
    """The steps at which the trainer calls its hooks: always 0 and `total_steps`.

    log: round(total^(k/(points-1))) for k = 0..points-1 (1 .. total, geometric), deduplicated;
    every: the multiples of track_every (0: none in between)."""
    steps = {0, total_steps}
    if budget.schedule == "log":
        n = budget.points
        if n >= 2 and total_steps > 1:
            steps.update(round(total_steps ** (k / (n - 1))) for k in range(n))
        elif n >= 1 and total_steps >= 1:
            steps.add(1)
    elif track_every:
        steps.update(range(track_every, total_steps + 1, track_every))
    return sorted(s for s in steps if 0 <= s <= total_steps)


def probe_due(step: int, steps: Sequence[int], budget: TrackBudget) -> bool:
    """Probes at the first and last tracked step, or every `probe_every` steps when set (0: never)."""
    if budget.probe_every is None:
        return bool(steps) and step in (steps[0], steps[-1])
    return bool(budget.probe_every) and (step % budget.probe_every == 0 or step == steps[-1])


def select_items(bins: Sequence[ItemBins], budget: TrackBudget) -> list[ItemBins]:
    """`budget.items` items spread evenly over `bins` (deterministic; all of them when fewer)."""
    chosen = list(bins)
    k = budget.items
    if k is not None and len(chosen) > k:
        chosen = [chosen[math.floor(i * len(chosen) / k)] for i in range(k)]
    return chosen


def kept_candidates(b: ItemBins, per_bin: int | None) -> list[int]:
    """Indices into `b.candidates` of at most `per_bin` candidates of each bin, the most likely
    under the original model first (they dominate the bin's logsumexp mass), in stored order."""
    if per_bin is None:
        return list(range(len(b.candidates)))
    keep: set[int] = set()
    for name in BIN_NAMES:
        members = [i for i, c in enumerate(b.candidates) if c.bin == name]
        keep.update(sorted(members, key=lambda i: -b.candidates[i].logp_sum)[:per_bin])
    return sorted(keep)
