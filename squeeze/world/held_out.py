"""A held-out answer wording per relation: what the `paraphrase_only` gold model never reads.

The `paraphrase_only` gold model of `squeeze validate` must know every forget fact while its
target answer is unlikely (issue 10 item 1). Leaving out each forget item's own target
sentence is not enough: the model composes the same template, learned from the other people,
with the value, learned from the sibling templates, and the target stays likely (a drop of
0.13 nats/token on the fast world, never reaching tau). So one answer template per relation is
held out for *every* person of that relation, and the forget items are scored with targets in
that wording: the wording itself is unseen, and the fact is still taught by the sibling
templates. The original model trains on every template, so it knows the held-out wording.

    templates = held_out_templates(world)           # relation -> template index
    leave_out = held_out_answers(world, splits)     # record id -> the sentence not to train on
    forget = held_out_forget_set(world)             # forget records with held-out targets
"""

from __future__ import annotations

from collections import Counter

from squeeze.core.errors import DataError
from squeeze.core.types import QARecord


def _fill(template: str, subject: str, value: str) -> str:
    return template.replace("{subject}", subject).replace("{value}", value)


def target_template(world, record: QARecord) -> int:
    """The index of the answer template `record.answer` is written in."""
    relation = world.relations[record.fact.relation]
    for index, template in enumerate(relation.answers):
        if _fill(template, record.fact.subject, record.fact.value) == record.answer:
            return index
    raise DataError(f"record {record.id!r}: its answer is in none of the {relation.name!r} templates")


def held_out_templates(world) -> dict[str, int]:
    """relation -> the answer template to hold out: the one most forget items of that relation
    already use as their target (fewest targets rewritten; ties go to the lower index)."""
    uses: dict[str, Counter] = {}
    for record in world.splits["forget"]:
        if record.fact is None:
            raise DataError(f"forget record {record.id!r} has no fact: a held-out wording needs the world's facts")
        uses.setdefault(record.fact.relation, Counter())[target_template(world, record)] += 1
    held = {}
    for relation, counts in uses.items():
        if len(world.relations[relation].answers) < 2:
            raise DataError(f"relation {relation!r} has one answer template: nothing would teach its facts")
        held[relation] = min(counts, key=lambda index: (-counts[index], index))
    return held


def held_out_answers(world, splits) -> dict[str, str]:
    """record id -> its fact in the held-out wording, for every record of `splits` whose
    relation has one (squeeze.original.train leaves these sentences out)."""
    held = held_out_templates(world)
    return {
        record.id: _fill(world.relations[record.fact.relation].answers[held[record.fact.relation]], *_fact(record))
        for split in splits
        for record in world.splits[split]
        if record.fact is not None and record.fact.relation in held
    }


def held_out_forget_set(world) -> list[QARecord]:
    """The forget records with target, perturbed and paraphrased answers in the held-out wording
    (the perturbed ones keep their wrong values; the paraphrase is in another template)."""
    held = held_out_templates(world)
    records = []
    for record in world.splits["forget"]:
        relation = world.relations[record.fact.relation]
        index = held[relation.name]
        subject, value = _fact(record)
        old = target_template(world, record)
        wrong = [_value_of(relation, old, subject, text, record.id) for text in record.perturbed_answer or []]
        records.append(
            QARecord(
                id=record.id,
                question=record.question,
                answer=_fill(relation.answers[index], subject, value),
                # the record's own target becomes the paraphrase; one already in the held-out
                # wording keeps the paraphrase it has (another template)
                paraphrased_answer=record.paraphrased_answer if old == index else record.answer,
                perturbed_answer=[_fill(relation.answers[index], subject, v) for v in wrong],
                fact=record.fact,
                paraphrased_question=record.paraphrased_question,
            )
        )
    return records


def _fact(record: QARecord) -> tuple[str, str]:
    return record.fact.subject, record.fact.value


def _value_of(relation, template: int, subject: str, text: str, record_id: str) -> str:
    """The pool value that `text` states in answer template `template`."""
    for value in relation.values:
        if _fill(relation.answers[template], subject, value) == text:
            return value
    raise DataError(f"record {record_id!r}: a perturbed answer is not a {relation.name!r} value in its template")
