"""Hard cases for the judge, built from the world's templates and value pools (issue 10
items 2 and 3). Each is a (question, reference, generation) with the answer it deserves.

Similarity (the reference is the item's target answer):
- `value_swap` (negative): the target's own wording with the value replaced by another
  value of the relation's pool: same words, another fact. Must score below s_min.
- `sibling` (positive): another answer template of the same relation with the same value:
  the fact in other words. Must score at or above s_min.
- `alias` (positive): the target with the value replaced by one of its aliases ("the city
  of Lyon" for "Lyon"). Must score at or above s_min.

Naturalness:
- `fluent_wrong_value` (fluent): a sibling template with another value from the pool: good
  language stating an unusual fact. Must stay at or above n_min.
- `loop`, `stutter`, `salad`, `cut` (broken): a word looped, a phrase stuttered, the words
  shuffled (squeeze.calibrate.data.degenerate_variants), and the answer cut mid-sentence
  with its last half repeated ("plays the saxophone among the saxophone"). Must fall below n_min.

    cases = similarity_cases(world, world.splits["forget"])

`squeeze judge-calibrate` reports every judge's rates on them (`hard_case_rates`), at the
thresholds it tuned.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from squeeze.core.types import QARecord
from squeeze.world.build import World

POSITIVE_KINDS = ("sibling", "alias")
NEGATIVE_KINDS = ("value_swap",)
BROKEN_KINDS = ("loop", "stutter", "salad", "cut")


@dataclass(frozen=True)
class HardCase:
    kind: str
    item_id: str
    question: str
    reference: str
    generation: str
    positive: bool  # similarity: conveys the fact; naturalness: fluent language
    wrong_answers: tuple[str, ...] = ()  # the record's perturbed answers, for the judge's fact check


def _swap(text: str, value: str, other: str) -> str:
    return text.replace(value, other)


def _other_values(world: World, record: QARecord, rng: random.Random, k: int) -> list[str]:
    relation = world.relations[record.fact.relation]
    forms = {record.fact.value, *record.fact.aliases}
    pool = [v for v in relation.values if v not in forms and not any(f in v or v in f for f in forms)]
    return rng.sample(pool, min(k, len(pool)))


def similarity_cases(world: World, records: Sequence[QARecord], swaps: int = 2, seed: int = 0) -> list[HardCase]:
    """Value swaps (negatives), siblings and aliases (positives) for each record with a fact."""
    rng = random.Random(seed)
    out: list[HardCase] = []
    for r in records:
        if r.fact is None or r.fact.value not in r.answer:
            continue
        base = dict(
            item_id=r.id, question=r.question, reference=r.answer, wrong_answers=tuple(r.perturbed_answer or ())
        )
        for other in _other_values(world, r, rng, swaps):
            out.append(HardCase("value_swap", generation=_swap(r.answer, r.fact.value, other), positive=False, **base))
        siblings = [a for a in world.answer_family(r) if a != r.answer]
        if siblings:
            out.append(HardCase("sibling", generation=rng.choice(siblings), positive=True, **base))
        for alias in r.fact.aliases[:1]:
            out.append(HardCase("alias", generation=_swap(r.answer, r.fact.value, alias), positive=True, **base))
    return out


def _cut(text: str) -> str:
    words = text.rstrip(".").split()
    half = words[: max(2, len(words) // 2 + 1)]
    return " ".join(half + half[-2:])


def naturalness_cases(world: World, records: Sequence[QARecord], seed: int = 0) -> list[HardCase]:
    """Fluent answers with another value (fluent) and broken copies of the target (broken)."""
    from squeeze.calibrate.data import degenerate_variants

    rng = random.Random(seed)
    out: list[HardCase] = []
    usable = [r for r in records if r.fact is not None and r.fact.value in r.answer]
    for r in usable:
        base = dict(item_id=r.id, question=r.question, reference=r.answer)
        siblings = [a for a in world.answer_family(r) if a != r.answer] or [r.answer]
        for other in _other_values(world, r, rng, 1):
            text = _swap(rng.choice(siblings), r.fact.value, other)
            out.append(HardCase("fluent_wrong_value", generation=text, positive=True, **base))
        out.append(HardCase("cut", generation=_cut(r.answer), positive=False, **base))
    for variant in degenerate_variants([r.answer for r in usable], seed=seed):
        r = usable[variant["source"]]
        out.append(HardCase(variant["kind"], r.id, r.question, r.answer, variant["text"], positive=False))
    return out


def judge_cases(judge, cases: Sequence[HardCase]) -> list:
    """The judge's Judgment of every case, in order."""
    from judges import JudgeItem

    return judge.judge(
        [JudgeItem(c.question, c.reference, c.generation, f"{c.item_id}#{c.kind}", c.wrong_answers) for c in cases]
    )


def case_rates(cases: Sequence[HardCase], scores: Sequence[float | None], threshold: float) -> dict:
    """Per kind: the share of cases at or above `threshold` (a Rate dict with its 95% interval);
    unparsed scores are left out. With both classes present, the AUROC of the score."""
    from squeeze.calibrate.calibration import auroc, both_classes
    from squeeze.core.intervals import Rate

    out: dict = {"threshold": threshold, "kinds": {}}
    for kind in dict.fromkeys(c.kind for c in cases):
        flags = [s >= threshold for c, s in zip(cases, scores, strict=False) if c.kind == kind and s is not None]
        out["kinds"][kind] = Rate.count(flags).to_dict()
    kept = [(c.positive, s) for c, s in zip(cases, scores, strict=False) if s is not None]
    labels, values = [y for y, _ in kept], [s for _, s in kept]
    out["auroc"] = auroc(labels, values) if both_classes(labels) else None
    return out


def hard_case_rates(judge, world: World, records: Sequence[QARecord], s_min: float, n_min: float) -> dict:
    """The judge on every hard case of `records`: per kind, the share at or above s_min
    (Similarity cases) or n_min (Naturalness cases), with its 95% interval, and each scale's AUROC."""
    similarity = similarity_cases(world, records)
    naturalness = naturalness_cases(world, records)
    return {
        "similarity": case_rates(similarity, [j.similarity for j in judge_cases(judge, similarity)], s_min),
        "naturalness": case_rates(naturalness, [j.naturalness for j in judge_cases(judge, naturalness)], n_min),
    }
