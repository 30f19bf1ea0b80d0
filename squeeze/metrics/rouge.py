"""ROUGE-L between generations and references (DESIGN section 9: TOFU ROUGE, MUSE verbmem/knowmem).

TOFU and MUSE's knowmem report ROUGE-L *recall* (how much of the reference the generation
recovers); MUSE's verbmem reports ROUGE-L *F1*. Both come from the `rouge-score` package
with Porter stemming, `RougeScorer(["rougeL"], use_stemmer=True)`, whose tokenizer
lower-cases and keeps alphanumeric words only.

OpenUnlearning's TOFU ROUGE (its `eval_text_similarity`, rouge_type `rougeL_recall`) is the
same scorer (`RougeScorer(["rouge1", "rougeL"], use_stemmer=True)`; rouge1 does not change
rougeL) and the same recall, so squeeze has one ROUGE for its default and for
`--preset openunlearning-tofu` (tests/test_openunlearning_conventions.py checks it against
rouge_score on examples where stemming decides). One detail differs in the texts, not the
metric: OpenUnlearning scores against the *decoded tokenised* answer, squeeze against the answer
text as given; for a lossless tokenizer (the BPE of every model it ships configs for) the two
are the same words.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def _check_lengths(generations: Sequence[str], references: Sequence[str]) -> None:
    if len(generations) != len(references):
        raise ValueError(f"{len(generations)} generations but {len(references)} references; they must pair up")
    if not generations:
        raise ValueError("ROUGE-L of an empty set is undefined: no generations given")


def rouge_l(generation: str, reference: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of the longest common subsequence of words."""
    score = _scorer().score(reference, generation)["rougeL"]  # score(target, prediction)
    return float(score.precision), float(score.recall), float(score.fmeasure)


def rouge_l_recalls(generations: Sequence[str], references: Sequence[str]) -> list[float]:
    _check_lengths(generations, references)
    return [rouge_l(g, r)[1] for g, r in zip(generations, references, strict=False)]


def rouge_l_f1s(generations: Sequence[str], references: Sequence[str]) -> list[float]:
    _check_lengths(generations, references)
    return [rouge_l(g, r)[2] for g, r in zip(generations, references, strict=False)]


def rouge_l_recall(generations: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L recall over items (TOFU ROUGE; MUSE knowmem)."""
    return float(np.mean(rouge_l_recalls(generations, references)))


def rouge_l_f1(generations: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F1 over items (MUSE verbmem)."""
    return float(np.mean(rouge_l_f1s(generations, references)))
