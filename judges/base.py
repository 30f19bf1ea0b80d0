"""The judge protocol and its result type (DESIGN section 10).

A judge scores a generation g for a prompt x against a reference answer y on two 0-5
scales: Similarity (does g convey the same information as y?) and Naturalness (is g
fluent language that answers x?). A score that cannot be parsed is None, counted and
reported, never the minimum and never a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

# Called once per item as soon as its judgment is final, with the item's index in the
# input: the cache commits it there, and the CLI advances its progress bar.
ResultCallback = Callable[[int, "Judgment"], None]

# Names the two 0-5 scales; a backend that judges them in separate calls uses these.
ASPECTS = ("similarity", "naturalness")
SCORE_MIN, SCORE_MAX = 0.0, 5.0


@dataclass(frozen=True)
class JudgeItem:
    """What a judge sees: the question, the reference answer, and the generation to score.

    `wrong_answers`: answers to the same question known to be false (TOFU's and the world's
    perturbed answers). They name the fact: what the reference says that none of them does.
    A judge may use them (the embedding judge's fact check does) or ignore them."""

    prompt: str
    reference: str
    generation: str
    item_id: str = ""
    wrong_answers: tuple[str, ...] = ()


@dataclass
class Judgment:
    item_id: str
    prompt: str
    reference: str
    generation: str
    similarity: float | None
    naturalness: float | None
    reason: str | None
    raw: str
    backend: str
    model: str
    prompt_version: str
    latency_s: float
    error: str | None = None
    cached: bool = False

    @property
    def parsed(self) -> bool:
        return self.similarity is not None and self.naturalness is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> Judgment:
        return cls(**row)


class Judge(Protocol):
    backend: str
    model: str
    prompt_version: str

    def judge(self, items: Sequence[JudgeItem], on_result: ResultCallback | None = None) -> list[Judgment]:
        """One Judgment per item, in the order given; `on_result(index, judgment)` as each finishes."""
        ...


def failure_counts(judgments: Sequence[Judgment]) -> dict[str, int]:
    """How many scores could not be parsed (None), per scale, and how many items failed."""
    return {
        "items": len(judgments),
        "similarity_none": sum(j.similarity is None for j in judgments),
        "naturalness_none": sum(j.naturalness is None for j in judgments),
        "unparsed_items": sum(not j.parsed for j in judgments),
        "errors": sum(j.error is not None for j in judgments),
        "cached": sum(j.cached for j in judgments),
    }
