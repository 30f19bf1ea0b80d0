"""Does an answer still convey the forgotten fact? (issue 11, item 1)

Two readers, used together where both exist:
- the world's **oracle** (`contains_fact`, DESIGN section 3) when the record carries its fact:
  the answer states the value or one of its aliases;
- the **judge** (DESIGN section 10): Similarity to the target >= s_min, the verdict rule's
  threshold for "conveys the same information". An unparsed score is None, never a leak.
An attempt's `leak` is the oracle's reading when the fact is known, else the judge's.
Each attack's attempts go to the judge in one call. A reader judges each (question,
reference, answer, wrong answers) once over all its calls: an attempt that repeats an answer already
judged (a sample or an 8-bit answer equal to the greedy one, the same answer under
another attack) reuses that judgment, the greedy "before" judgments handed in included,
as the judge's own cache does across runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from squeeze.attacks.base import Attempt
from squeeze.core.types import QARecord


@dataclass
class LeakReader:
    judge: object | None  # a judges.Judge, or None to read by the oracle only
    s_min: float
    progress: bool = False
    # (question, reference, answer, wrong answers) -> its judgment, for every answer this reader has seen judged
    known: dict = field(default_factory=dict, repr=False)

    def read(self, records: Mapping[str, QARecord], attempts: Sequence[Attempt], judgments=None) -> list[dict]:
        """One reading per attempt: leak_oracle, similarity, naturalness, leak_judge, leak.
        `judgments` (one per attempt) are used instead of asking the judge when given."""
        from squeeze.world.build import contains_fact

        if judgments is None:
            judgments = self._judge(records, attempts)
        else:
            for attempt, judgment in zip(attempts, judgments, strict=True):
                if judgment is not None and judgment.error is None:
                    self.known[_key(attempt, records[attempt.item_id])] = judgment
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

    def remember(self, judgments, records: Sequence[QARecord]) -> None:
        """Keep judgments made elsewhere (diagnose's, of answers to `records`' own questions) for
        answers that come again; failed ones are asked again."""
        wrong: dict[tuple[str, str], set] = {}
        for r in records:
            wrong.setdefault((r.question, r.answer), set()).add(_wrong_answers(r))
        for judgment in judgments:
            found = wrong.get((judgment.prompt, judgment.reference)) if judgment is not None else None
            if found and len(found) == 1 and judgment.error is None:
                self.known[(judgment.prompt, judgment.reference, judgment.generation, *found)] = judgment

    def _judge(self, records: Mapping[str, QARecord], attempts: Sequence[Attempt]) -> list:
        if self.judge is None or not attempts:
            return [None] * len(attempts)
        from tqdm.auto import tqdm

        from judges import JudgeItem

        # Samples and phrasings often give the same answer again: each distinct one is judged once.
        # The record's perturbed answers go with each item: the embedding judge's fact check reads them.
        keys = [_key(a, records[a.item_id]) for a in attempts]
        asked: set[tuple] = set()
        items = []
        for key, attempt in zip(keys, attempts, strict=True):
            if key not in self.known and key not in asked:
                asked.add(key)
                question, answer, generation, wrong = key
                items.append(JudgeItem(question, answer, generation, attempt.item_id, wrong))
        fresh: dict[tuple, object] = {}
        if items:
            with tqdm(total=len(items), desc="judging attacks", disable=not self.progress, leave=False) as bar:
                judged = self.judge.judge(items, on_result=lambda i, judgment: bar.update(1))
            fresh = {
                (i.prompt, i.reference, i.generation, i.wrong_answers): j for i, j in zip(items, judged, strict=True)
            }
            self.known.update((key, j) for key, j in fresh.items() if j is not None and j.error is None)
        return [fresh[key] if key in fresh else self.known[key] for key in keys]


def _wrong_answers(record: QARecord) -> tuple[str, ...]:
    return tuple(record.perturbed_answer or ())


def _key(attempt: Attempt, record: QARecord) -> tuple:
    """What a judgment depends on: the question asked, the reference, the answer, the wrong answers."""
    return (attempt.question, record.answer, attempt.generation, _wrong_answers(record))


def any_leak(values: Sequence[bool | None]) -> bool | None:
    """True if any reading leaks; False if all were read and none leaks; None if none could be read."""
    known = [v for v in values if v is not None]
    if any(known):
        return True
    return False if known else None
