"""MUSE's memorisation metrics (DESIGN section 9; Shi et al. 2024, "MUSE: Machine
Unlearning Six-Way Evaluation for Language Models").

- VerbMem: ROUGE-L F1 between the model's continuation of a forget-text prefix and the
  true continuation, averaged over prefixes.
- KnowMem: ROUGE-L recall between the model's answer to a question about the forget (or
  retain) text and the reference answer, averaged over questions.
- PrivLeak: Min-K% membership AUC relative to the retain model: `squeeze.metrics.privacy`.

Generations come in as strings (from `squeeze.lm.generation` or any other generator):
    verbmem_rouge(continuations, true_continuations)
"""

from __future__ import annotations

from collections.abc import Sequence

from squeeze.metrics.rouge import rouge_l_f1, rouge_l_recall


def verbmem_rouge(continuations: Sequence[str], true_continuations: Sequence[str]) -> float:
    """Mean ROUGE-L F1 of continuations against the ground-truth continuations."""
    return rouge_l_f1(continuations, true_continuations)


def knowmem_rouge(answers: Sequence[str], reference_answers: Sequence[str]) -> float:
    """Mean ROUGE-L recall of QA answers against the reference answers."""
    return rouge_l_recall(answers, reference_answers)
