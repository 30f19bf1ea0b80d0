"""What every attack talks through (issue 11): the model under attack and its data, one
attempt to get a forgotten fact back, and the attack itself.

An attack gets an `AttackTarget` and returns `Attempt`s: for some forget items, the answers
the model gave under the attack, each tagged with a variant ("4bit", "template 2",
"few-shot", "sample", ...). It never judges them: the runner reads every attempt with the
world's oracle and the judge in one batch (squeeze.attacks.leakage), so the judge and its
cache are shared by all attacks. An attack that changes weights works on a copy in memory;
the target's model is never modified and no file is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from squeeze.attacks.settings import AttackSettings
from squeeze.core.types import QARecord


@dataclass
class AttackTarget:
    model: Any  # a causal LM in eval mode; attacks must not change it
    tokenizer: Any
    forget: list[QARecord]
    retain: list[QARecord]
    settings: AttackSettings
    world: Any = None  # a squeeze.world.build.World when the data are the world's (its question templates)
    max_new_tokens: int = 32
    batch_size: int = 16
    progress: bool = False


@dataclass
class Attempt:
    item_id: str
    variant: str  # which form of the attack: "8bit", "phrasing 1", "few-shot", "sample", "trained on half A"
    question: str  # the forget question in the form the model was asked (what the judge reads)
    generation: str
    prompt: str = ""  # the full prompt when it is more than the question (few-shot)


@dataclass(frozen=True)
class Attack:
    name: str
    summary: str  # one line: what the attack does
    run: Callable[[AttackTarget], list[Attempt]]
    notes: dict = field(default_factory=dict)


def greedy_attempts(model, target: AttackTarget, records: Sequence[QARecord], variant: str) -> list[Attempt]:
    """Greedy answers of `model` to the records' own questions, as attempts of `variant`."""
    from squeeze.lm.generation import generate_answers

    answers = generate_answers(
        model,
        target.tokenizer,
        [r.question for r in records],
        n=1,
        mode="greedy",
        max_new_tokens=target.max_new_tokens,
        batch_size=target.batch_size,
        progress=target.progress,
    )
    return [Attempt(r.id, variant, r.question, c[0].text) for r, c in zip(records, answers, strict=True)]
