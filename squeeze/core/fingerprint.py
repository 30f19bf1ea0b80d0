"""Stage fingerprints: a stage is skipped only when what made it is what would make it now (issue 14).

A stage's fingerprint is the sha256 of its settings and of the fingerprints of the stages
it reads from, so a changed setting changes every stage downstream of it. Each stage
leaves a marker, OUT/stages/<name>.json, written `done: false` when it starts and
`done: true` (with its seconds) when it finishes. `StagePlan` reads the markers:

- done, same fingerprint: skipped;
- started but not finished (interrupted, or failed: e.g. its judgments failed), same
  fingerprint: run again (an unlearning run resumes from its checkpoint);
- started with other settings: its outputs are removed and it runs afresh;
- done with other settings: refused before anything runs, with one line naming the
  stages and the changed settings, unless `force` (then recomputed like the above).

    plan = StagePlan(stage_dir, stages, force=False)   # raises StaleStages
    for stage in stages:
        if plan.is_done(stage): continue
        plan.start(stage); stage.action(); plan.finish(stage, seconds)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from squeeze.core.errors import ConfigError


class StaleStages(ConfigError):
    """Finished stages were made with other settings than the ones given now."""


class PlannedStage(Protocol):
    name: str
    settings: dict[str, Any]
    after: Sequence[str]  # names of the stages whose outputs it reads
    outputs: Sequence[Path]  # what it writes: removed before it runs afresh


def fingerprint(settings: dict[str, Any], upstream: Sequence[str] = ()) -> str:
    text = json.dumps({"settings": settings, "upstream": list(upstream)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(path: Path) -> dict | None:
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


class StagePlan:
    def __init__(self, stage_dir: str | Path, stages: Sequence[PlannedStage], force: bool = False):
        self.stage_dir = Path(stage_dir)
        self.prints: dict[str, str] = {}
        for stage in stages:  # in order: a stage's upstream stages come before it
            self.prints[stage.name] = fingerprint(stage.settings, [self.prints[name] for name in stage.after])
        self.markers = {stage.name: _read(self.marker(stage)) for stage in stages}
        stale = [s for s in stages if self._done(s.name) and not self._matches(s.name)]
        if stale and not force:
            changed = sorted({key for s in stale for key in _changed(self.markers[s.name], s.settings)})
            raise StaleStages(
                f"{self.stage_dir.parent} holds stage(s) made with other settings "
                f"({', '.join(s.name for s in stale[:4])}{', ...' if len(stale) > 4 else ''}"
                f"{'; changed: ' + ', '.join(changed) if changed else ''}): "
                "pass --force to recompute them, or choose another --out"
            )

    def marker(self, stage: PlannedStage) -> Path:
        return self.stage_dir / f"{stage.name}.json"

    def _done(self, name: str) -> bool:
        return bool(self.markers[name] and self.markers[name].get("done", True))

    def _matches(self, name: str) -> bool:
        return bool(self.markers[name]) and self.markers[name].get("fingerprint") == self.prints[name]

    def is_done(self, stage: PlannedStage) -> bool:
        return self._done(stage.name) and self._matches(stage.name)

    def seconds(self, stage: PlannedStage) -> float:
        return float(self.markers[stage.name].get("seconds", 0.0))

    def start(self, stage: PlannedStage) -> None:
        """Mark `stage` started; what an earlier run with other settings left of it goes first."""
        from squeeze.core.rundir import write_json

        if self.markers[stage.name] is not None and not self._matches(stage.name):
            for path in stage.outputs:
                if Path(path).is_dir():
                    shutil.rmtree(path)
                else:
                    Path(path).unlink(missing_ok=True)
        entry = {"stage": stage.name, "fingerprint": self.prints[stage.name], "settings": stage.settings}
        self.markers[stage.name] = {**entry, "done": False}
        write_json(self.marker(stage), self.markers[stage.name])

    def finish(self, stage: PlannedStage, seconds: float) -> None:
        from squeeze.core.rundir import write_json

        self.markers[stage.name] = {**self.markers[stage.name], "done": True, "seconds": seconds}
        write_json(self.marker(stage), self.markers[stage.name])


def _changed(marker: dict, settings: dict) -> list[str]:
    stored = marker.get("settings")
    if not isinstance(stored, dict):
        return []
    return [key for key in set(stored) | set(settings) if stored.get(key) != settings.get(key)]
