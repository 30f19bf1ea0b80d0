"""Multiple-choice accuracy by choice log-likelihood (DESIGN section 9: WMDP, MMLU).

The prompt lists the question and its lettered choices; each choice's *text* is then
scored as the answer to that prompt, teacher-forced, as the sum of its token log-probs
(no EOS: the score is the likelihood of the choice's words, not of stopping after them).
The predicted choice is the argmax (the first one on an exact tie); accuracy is the
fraction of records whose prediction is the answer index. This is the `acc` of
lm-evaluation-harness, not its length-normalised `acc_norm`.

Records are anything with `question`, `choices` and `answer` (an index), such as
`squeeze.data.MCQRecord`:
    scores = choice_logprobs(model, tok, records); mcq_accuracy(scores, [r.answer for r in records])
"""

from __future__ import annotations

import string
from typing import Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from squeeze.batching import collator_for
from squeeze.errors import DataError
from squeeze.logprobs import score_pairs
from squeeze.prompting import encode_answer, encode_prompt

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
    for i, (scores, answer) in enumerate(zip(choice_scores, answers)):
        if not 0 <= answer < len(scores):
            raise ValueError(f"item {i}: answer index {answer} outside its {len(scores)} choices")
    return float(np.mean([p == a for p, a in zip(predicted_choices(choice_scores), answers)]))


def choice_logprobs(model, tokenizer, records: Sequence[MultipleChoice], batch_size: int = 32) -> list[list[float]]:
    """Sum log-prob of every choice's text after its record's prompt, per record."""
    pairs, sizes = [], []
    for r in records:
        if not 0 <= int(r.answer) < len(r.choices):
            raise DataError(f"record {r.id!r}: answer index {r.answer} outside its {len(r.choices)} choices")
        prompt_ids = encode_prompt(tokenizer, mcq_prompt(r.question, r.choices))
        for c in r.choices:
            answer_ids = encode_answer(tokenizer, c, add_eos=False)
            if not answer_ids:
                raise DataError(f"record {r.id!r}: choice {c!r} has no tokens to score")
            pairs.append((prompt_ids, answer_ids))
        sizes.append(len(r.choices))
    if not pairs:
        return []
    collator = collator_for(tokenizer)
    flat: list[float] = []
    for start in tqdm(range(0, len(pairs), batch_size), desc="choices", leave=False, disable=None):
        flat += score_pairs(model, pairs[start : start + batch_size], collator, batch_size=batch_size).logp_sum.tolist()
    out, at = [], 0
    for n in sizes:
        out.append(flat[at : at + n])
        at += n
    return out


def mcq_accuracy_from_model(model, tokenizer, records: Sequence[MultipleChoice], batch_size: int = 32) -> float:
    return mcq_accuracy(choice_logprobs(model, tokenizer, records, batch_size), [int(r.answer) for r in records])
