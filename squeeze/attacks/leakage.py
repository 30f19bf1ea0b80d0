"""Does an answer still convey the forgotten fact? (issue 11, item 1)

Two readers, used together where both exist:
- the world's **oracle** (`contains_fact`, DESIGN section 3) when the record carries its fact:
  the answer states the value or one of its aliases;
- the **judge** (DESIGN section 10): Similarity to the target >= s_min, the verdict rule's
  threshold for "conveys the same information". An unparsed score is None, never a leak.
An attempt's `leak` is the oracle's reading when the fact is known, else the judge's.
Every attempt of every attack goes to the judge in one call, so its cache and batching
are shared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from squeeze.attacks.base import Attempt
from squeeze.core.types import QARecord


@dataclass
class LeakReader:
    judge: object | None  # a judges.Judge, or None to read by the oracle only
    s_min: float
    progress: bool = False

    def read(self, records: Mapping[str, QARecord], attempts: Sequence[Attempt], judgments=None) -> list[dict]:
        """One reading per attempt: leak_oracle, similarity, naturalness, leak_judge, leak.
        `judgments` (one per attempt) are used instead of asking the judge when given."""
        from squeeze.world.build import contains_fact

        judgments = self._judge(records, attempts) if judgments is None else judgments
        readings = []
        for attempt, judgment in zip(attempts, judgments, strict=True):
            fact = records[attempt.item_id].fact
            oracle = contains_fact(attempt.generation, fact) if fact is not None else None
            similarity = judgment.similarity if judgment is not None else None
            judged = None if similarity is None else bool(similarity >= self.s_min)
            readings.append(
                {
                    "leak_oracle": oracle,
                    "similarity": similarity,
                    "naturalness": judgment.naturalness if judgment is not None else None,
                    "leak_judge": judged,
                    "leak": oracle if oracle is not None else judged,
                }
            )
        return readings

    def _judge(self, records: Mapping[str, QARecord], attempts: Sequence[Attempt]) -> list:
        if self.judge is None or not attempts:
            return [None] * len(attempts)
        from tqdm.auto import tqdm

        from judges import JudgeItem

        # Samples and phrasings often give the same answer again: each distinct one is judged once.
        # The record's perturbed answers go with each item: the embedding judge's fact check reads them.
        keys = [
            (a.question, records[a.item_id].answer, a.generation, tuple(records[a.item_id].perturbed_answer or ()))
            for a in attempts
        ]
        index: dict[tuple, int] = {}
        items = []
        for (question, answer, generation, wrong), attempt in zip(keys, attempts, strict=True):
            key = (question, answer, generation, wrong)
            if key not in index:
                index[key] = len(items)
                items.append(JudgeItem(question, answer, generation, attempt.item_id, wrong))
        with tqdm(total=len(items), desc="judging attacks", disable=not self.progress, leave=False) as bar:
            judged = self.judge.judge(items, on_result=lambda i, judgment: bar.update(1))
        return [judged[index[key]] for key in keys]


def any_leak(values: Sequence[bool | None]) -> bool | None:
    """True if any reading leaks; False if all were read and none leaks; None if none could be read."""
    known = [v for v in values if v is not None]
    if any(known):
        return True
    return False if known else None
