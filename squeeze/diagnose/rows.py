"""Typed results of the verdict step (issue 12 item 5, issue 10 item 6).

`VerdictRow` is one forget item's verdict and everything it was decided from; `VerdictSummary`
is the count of each outcome with its Wilson 95% interval (squeeze.core.intervals). The
diagnose report, its figures and the leaderboard only render these: report.json stores
`row.to_dict()` / `summary.to_dict()` and the leaderboard reads them back with `from_dict`.

Adding a per-item measurement (an attack's recovery, say) means a value in `row.extras`
(kept in report.json under "extras"); a per-run rate goes into `VerdictSummary.extras` as
a `Rate`, and the leaderboard shows it once a column names it (squeeze.leaderboard.table).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from squeeze.core.intervals import Rate
from squeeze.core.types import VERDICTS

UNJUDGED = "unjudged"
ALL_VERDICTS: tuple[str, ...] = (*VERDICTS, UNJUDGED)
# Below this many judged items the report says that methods cannot be told apart.
MIN_RESOLVABLE_ITEMS = 30


@dataclass
class VerdictRow:
    """One forget item: its answer, the judge's scores, the target's log-probs and the verdict."""

    item_id: str
    question: str
    target: str
    generation: str
    verdict: str  # one of ALL_VERDICTS
    verdict_reason: str
    similarity: float | None = None
    naturalness: float | None = None
    judge_reason: str = ""
    reference_model_generation: str = ""
    target_logp_mean_reference: float | None = None
    target_logp_mean_checkpoint: float | None = None
    target_logp_mean_drop: float | None = None
    target_logp_sum_drop: float | None = None
    truncated: bool = False  # the answer hit max_new_tokens before the end of sequence
    leaks: bool | None = None  # world oracle: the answer states the fact (None: no fact)
    reference_leaks: bool | None = None
    # Sampled answers (several per item tell knowing from guessing): how many were drawn and
    # the share of them whose Similarity reached s_min (None when none were drawn).
    n_samples: int = 0
    sample_support: float | None = None
    sample_leak_rate: float | None = None  # the oracle on the sampled answers
    stats: dict[str, float | None] = field(default_factory=dict)  # per-item squeeze statistics
    extras: dict[str, Any] = field(default_factory=dict)  # measurements other stages add (attacks, ...)

    def __post_init__(self):
        if self.verdict not in ALL_VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}; known: {', '.join(ALL_VERDICTS)}")

    def to_dict(self) -> dict:
        """A flat JSON object: the fields, the squeeze statistics beside them, extras nested."""
        out = {k: v for k, v in asdict(self).items() if k not in ("stats", "extras")}
        out.update(self.stats)
        if self.extras:
            out["extras"] = dict(self.extras)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> VerdictRow:
        names = {f.name for f in fields(cls)} - {"stats", "extras"}
        known = {k: v for k, v in data.items() if k in names}
        stats = {k: v for k, v in data.items() if k not in names and k != "extras"}
        return cls(**known, stats=stats, extras=dict(data.get("extras") or {}))


@dataclass
class VerdictSummary:
    """How many items got each outcome; rates over judged items with 95% intervals."""

    counts: dict[str, int]
    extras: dict[str, Rate] = field(default_factory=dict)

    @classmethod
    def of(cls, verdicts: Iterable[str]) -> VerdictSummary:
        verdicts = list(verdicts)
        unknown = sorted(set(verdicts) - set(ALL_VERDICTS))
        if unknown:
            raise ValueError(f"unknown verdict(s) {unknown}; known: {', '.join(ALL_VERDICTS)}")
        return cls({v: verdicts.count(v) for v in ALL_VERDICTS})

    @property
    def n_items(self) -> int:
        return sum(self.counts.values())

    @property
    def n_judged(self) -> int:
        return self.n_items - self.counts.get(UNJUDGED, 0)

    def rate(self, verdict: str) -> Rate:
        """A verdict's share of the judged items; `unjudged`'s share of all items."""
        if verdict == UNJUDGED:
            return Rate.of(self.counts.get(UNJUDGED, 0), self.n_items)
        if verdict not in VERDICTS:
            raise KeyError(f"unknown verdict {verdict!r}")
        return Rate.of(self.counts.get(verdict, 0), self.n_judged)

    @property
    def resolvable(self) -> bool:
        """Enough judged items that two methods' rates can differ beyond their intervals."""
        return self.n_judged >= MIN_RESOLVABLE_ITEMS

    def to_dict(self) -> dict:
        rates = {v: self.rate(v) for v in VERDICTS}
        out = {
            "n_items": self.n_items,
            "n_judged": self.n_judged,
            "counts": dict(self.counts),
            "rates": {v: r.rate for v, r in rates.items()},
            "ci95": {v: (list(r.ci95) if r.ci95 else None) for v, r in rates.items()},
            "unjudged_rate": self.rate(UNJUDGED).rate,
            "unjudged_ci95": list(self.rate(UNJUDGED).ci95) if self.n_items else None,
        }
        if self.extras:
            out["extras"] = {k: r.to_dict() for k, r in self.extras.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> VerdictSummary:
        counts = {v: int(data["counts"].get(v, 0)) for v in ALL_VERDICTS}
        extras = {k: Rate.from_dict(r) for k, r in (data.get("extras") or {}).items()}
        return cls(counts, extras)
