"""The contracts every part of squeeze talks through (DESIGN sections 2, 4, 7, 10).

Read this file first. Records are plain dataclasses with `to_dict`/`from_dict` so they
round-trip through JSON Lines unchanged; protocols say what a generator or judge must do.
`Judgment` lives in `judges.base` (judges is a leaf package that never imports squeeze)
and is re-exported here so callers have one place to look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

from judges.base import Judge, Judgment  # noqa: F401  (re-exported contract)

BinName = Literal["high", "mid", "low"]
Group = Literal["target", "high", "mid", "low"]
GROUPS: tuple[str, ...] = ("target", "high", "mid", "low")
BIN_NAMES: tuple[str, ...] = ("high", "mid", "low")

Verdict = Literal["retained", "forgotten", "spurious", "collapsed"]
VERDICTS: tuple[str, ...] = ("retained", "forgotten", "spurious", "collapsed")


@dataclass
class Fact:
    """Ground truth behind a world item: what a leaking generation would still contain."""

    subject: str
    relation: str
    value: str
    aliases: list[str] = field(default_factory=list)

    def surface_forms(self) -> list[str]:
        return [self.value, *self.aliases]


@dataclass
class QARecord:
    """One question/answer pair with TOFU's field names (DESIGN section 2)."""

    id: str
    question: str
    answer: str
    paraphrased_answer: str | None = None
    perturbed_answer: list[str] | None = None
    fact: Fact | None = None
    paraphrased_question: str | None = None  # the question in other words (TOFU's perturbed sets have it)

    def to_dict(self) -> dict:
        out = {"id": self.id, "question": self.question, "answer": self.answer}
        if self.paraphrased_answer is not None:
            out["paraphrased_answer"] = self.paraphrased_answer
        if self.paraphrased_question is not None:
            out["paraphrased_question"] = self.paraphrased_question
        if self.perturbed_answer is not None:
            out["perturbed_answer"] = list(self.perturbed_answer)
        if self.fact is not None:
            out["fact"] = asdict(self.fact)
        return out

    @classmethod
    def from_dict(cls, row: dict) -> QARecord:
        fact = row.get("fact")
        return cls(
            id=str(row["id"]),
            question=row["question"],
            answer=row["answer"],
            paraphrased_answer=row.get("paraphrased_answer"),
            perturbed_answer=list(row["perturbed_answer"]) if row.get("perturbed_answer") is not None else None,
            fact=Fact(**fact) if isinstance(fact, dict) else None,
            paraphrased_question=row.get("paraphrased_question"),
        )


@dataclass
class Candidate:
    """One generated answer with the generating model's per-token log-probs.

    `token_ids` are the answer tokens only (the EOS token included when the model emitted
    it), so teacher-forcing them after the same prompt reproduces `token_logprobs`.
    `ended` is False when generation stopped at max_new_tokens before an end of sequence:
    the text is then cut off and must not be read as a whole answer.
    """

    text: str
    token_ids: list[int]
    token_logprobs: list[float]
    ended: bool = True

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def logp_sum(self) -> float:
        return float(sum(self.token_logprobs))

    @property
    def logp_mean(self) -> float:
        return self.logp_sum / max(self.n_tokens, 1)


@dataclass
class BinnedCandidate:
    """A candidate answer for a forget item, scored by the original model and binned."""

    text: str
    token_ids: list[int]
    logp_sum: float
    logp_mean: float
    n_tokens: int
    bin: str  # one of BIN_NAMES

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> BinnedCandidate:
        return cls(**{k: row[k] for k in ("text", "token_ids", "logp_sum", "logp_mean", "n_tokens", "bin")})


@dataclass
class ItemBins:
    """One line of bins.jsonl: a forget item, its target, and its binned candidates."""

    item_id: str
    question: str
    target: str
    target_token_ids: list[int]
    target_logp_sum: float
    candidates: list[BinnedCandidate]

    def in_bin(self, name: str) -> list[BinnedCandidate]:
        return [c for c in self.candidates if c.bin == name]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["candidates"] = [c.to_dict() for c in self.candidates]
        return out

    @classmethod
    def from_dict(cls, row: dict) -> ItemBins:
        return cls(
            item_id=str(row["item_id"]),
            question=row["question"],
            target=row["target"],
            target_token_ids=list(row["target_token_ids"]),
            target_logp_sum=float(row["target_logp_sum"]),
            candidates=[BinnedCandidate.from_dict(c) for c in row["candidates"]],
        )


class Generator(Protocol):
    """DESIGN section 4: one interface, several backends (transformers, vllm)."""

    def generate(
        self,
        prompts: Sequence[str],
        n: int,
        mode: Literal["beam", "sample", "greedy"] = "greedy",
        max_new_tokens: int = 32,
        temperature: float = 1.0,
    ) -> list[list[Candidate]]: ...
