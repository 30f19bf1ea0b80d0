"""Multiple-choice accuracy by choice log-likelihood (DESIGN section 9: WMDP, MMLU).

The prompt lists the question and its lettered choices; each choice's *text* is then
scored as the answer to that prompt, teacher-forced, as the sum of its token log-probs
(no EOS: the score is the likelihood of the choice's words, not of stopping after them).
The predicted choice is the argmax (the first one on an exact tie); accuracy is the
fraction of records whose prediction is the answer index. This is the `acc` of
lm-evaluation-harness, not its length-normalised `acc_norm`.

Records are anything with `question`, `choices` and `answer` (an index), such as
`squeeze.core.data.MCQRecord`:
    scores = choice_logprobs(model, tok, records); mcq_accuracy(scores, [r.answer for r in records])
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from squeeze.core.errors import DataError
from squeeze.lm.prompting import encode_answer, encode_prompt

LETTERS = string.ascii_uppercase


class MultipleChoice(Protocol):
    id: str
    question: str
    choices: list[str]
    answer: int


def mcq_prompt(question: str, choices: Sequence[str]) -> str:
    """The question followed by one "A. choice" line per choice."""
    if not 2 <= len(choices) <= len(LETTERS):
        raise ValueError(f"a multiple-choice question needs 2 to {len(LETTERS)} choices, got {len(choices)}")
    lines = [question.strip()] + [f"{LETTERS[i]}. {c.strip()}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def predicted_choices(choice_scores: Sequence[Sequence[float]]) -> list[int]:
    return [int(np.argmax(np.asarray(s, dtype=np.float64))) for s in choice_scores]


def mcq_accuracy(choice_scores: Sequence[Sequence[float]], answers: Sequence[int]) -> float:
    """Fraction of items whose highest-scoring choice is the answer."""
    if len(choice_scores) != len(answers):
        raise ValueError(f"{len(choice_scores)} scored items but {len(answers)} answers")
    if not answers:
        raise ValueError("accuracy of an empty set is undefined")
    for i, (scores, answer) in enumerate(zip(choice_scores, answers, strict=False)):
        if not 0 <= answer < len(scores):
            raise ValueError(f"item {i}: answer index {answer} outside its {len(scores)} choices")
    return float(np.mean([p == a for p, a in zip(predicted_choices(choice_scores), answers, strict=False)]))


def choice_logprobs(model, tokenizer, records: Sequence[MultipleChoice], batch_size: int = 32) -> list[list[float]]:
    """Sum log-prob of every choice's text after its record's prompt, per record.

    A record's choices share its prompt, so each record is one packed row: the prompt once,
    then the prefix tree of its choices (squeeze.lm.tree_scoring). That forwards the prompt
    once instead of once per choice; `batch_size` counts choices, as a flat batch would.
    """
    import torch

    from squeeze.lm.tree_scoring import tree_token_logprobs

    items = []
    for r in records:
        if not 0 <= int(r.answer) < len(r.choices):
            raise DataError(f"record {r.id!r}: answer index {r.answer} outside its {len(r.choices)} choices")
        prompt_ids = encode_prompt(tokenizer, mcq_prompt(r.question, r.choices))
        choice_ids = []
        for c in r.choices:
            answer_ids = encode_answer(tokenizer, c, add_eos=False)
            if not answer_ids:
                raise DataError(f"record {r.id!r}: choice {c!r} has no tokens to score")
            choice_ids.append(answer_ids)
        items.append((prompt_ids, choice_ids))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    per_row = max(1, batch_size // max(len(r.choices) for r in records)) if records else 1
    out: list[list[float]] = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(items), per_row), desc="choices", leave=False, disable=None):
            for token_logps in tree_token_logprobs(model, items[start : start + per_row], pad_id):
                out.append([float(sum(choice)) for choice in token_logps])
    return out


def mcq_accuracy_from_model(model, tokenizer, records: Sequence[MultipleChoice], batch_size: int = 32) -> float:
    return mcq_accuracy(choice_logprobs(model, tokenizer, records, batch_size), [int(r.answer) for r in records])
