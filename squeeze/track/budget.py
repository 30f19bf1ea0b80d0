"""The tracker's budget (issue 13): which steps, items and candidates it scores.

Scoring every item's target and every bin candidate every `track_every` steps costs several
times the training itself on the default world, so by default the tracker measures less:
- **steps**: a log-spaced schedule, dense early (where the squeeze peaks) and sparse late:
  step 0, `points` steps spaced geometrically over 1..total, and always the last step;
  `schedule=every` keeps the old grid (step 0, every `track_every` steps, the last step);
- **items**: an evenly spread subsample of `items` forget items (deterministic);
- **candidates**: in each bin, the `candidates` most likely under the original model (the
  ones that dominate the bin's logsumexp mass, DESIGN section 8);
- **probes** (greedy leak, retain probe, and the end-of-run greedy and beam leak rates): off by
  default, because `squeeze diagnose` measures leakage on whole answers with the judge and the
  oracle, and the probes' generation cost more than all the scoring; `probe_every=ends`: at the
  first and last tracked step; a number of steps N: every N steps (1: every tracked step);
- **figures**: the dynamics figures are drawn at the end of `squeeze unlearn` only with
  `figures=true` (drawing them costs more CPU than the default scoring on the default world);
  `squeeze diagnose` of the run, `squeeze track RUN` and the demo draw them.
`items=all candidates=all schedule=every probe_every=<track_every>` is the full measurement.
The summary reports the interval of every averaged statistic, so a subsample says how sure it is.

    squeeze unlearn ... track.items=all track.candidates=all     # full measurement, log schedule
    squeeze unlearn ... track.schedule=every track_every=10      # the old grid
    squeeze unlearn ... track.probe_every=ends track.figures=true  # probes and figures as before
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
    # The defaults cost about 1.1x an untracked run on the default world (bench/tracker_overhead.py)
    # and estimate full tracking's squeeze peak and escape gap within their own 95% interval on
    # seeds 0, 1 and 2 (bench/tracker_budget.py); docs/trainer.md has the numbers.
    items: int | None = 16  # None: every forget item
    candidates: int | None = 1  # per bin; None: every candidate
    schedule: str = "log"
    points: int = 5  # log-spaced steps between step 0 and the last one (schedule=log)
    probe_every: int | None = 0  # 0: no probes; None: at the first and last tracked step only
    figures: bool = False  # draw the dynamics figures at the end of the run

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
        if "figures" in settings:
            if not isinstance(settings["figures"], bool):
                raise ConfigError(f"track.figures must be true or false, got {settings['figures']!r}")
            values["figures"] = settings["figures"]
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
        described = {k: (ALL if v is None and k in ("items", "candidates") else v) for k, v in asdict(self).items()}
        described["probe_every"] = "ends" if self.probe_every is None else self.probe_every
        return described


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
