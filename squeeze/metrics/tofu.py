"""TOFU's conventional metrics (DESIGN section 9; Maini et al. 2024, "TOFU: A Task of
Fictitious Unlearning for LLMs").

Notation (DESIGN section 5): `CE(y|x) = -(1/T) logp(y|x)`, the per-token mean NLL of the
answer tokens (EOS included, as everywhere in squeeze), so `exp(-CE)` is the geometric
mean of the per-token probabilities.

- Prob: `mean_i exp(-CE_i)`. On real-author / world-fact style sets that carry wrong
  options, TOFU normalises it: `exp(-CE(y)) / (exp(-CE(y)) + sum_j exp(-CE(w_j)))`.
- Truth ratio of one item: `TR = p_w / p_c`, `p_c = exp(-CE(paraphrased))`,
  `p_w = exp(-mean_j CE(perturbed_j))`. The mean is the arithmetic mean of the perturbed
  answers' CEs, i.e. p_w is the geometric mean over perturbed answers of their per-token
  geometric-mean probabilities. So `log TR = CE(paraphrased) - mean_j CE(perturbed_j)`.
- Forget aggregate `mean(min(TR, 1/TR))` (1 = the model cannot tell true from false);
  retain aggregate `mean(max(0, 1 - TR))` (1 = it strongly prefers the truth).
- Forget quality: the two-sample KS-test p-value between the forget-set TRs of the
  unlearned model and those of a model trained without the forget set.
- Model utility: harmonic mean of the retain / real-author / world-fact Prob, ROUGE and
  truth-ratio aggregates that are present (zero if any is zero).

Pure functions take numbers; `item_*` functions compute those numbers for a model with
the shared scorer (`squeeze.lm.logprobs.score_pairs`). Example:
    ces = answer_ces(model, tok, [r.question for r in forget], [r.answer for r in forget])
    probability(ces)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
from scipy.stats import ks_2samp

from squeeze.core.errors import DataError
from squeeze.core.types import QARecord
from squeeze.lm.batching import collator_for
from squeeze.lm.logprobs import score_pairs
from squeeze.lm.prompting import encode_qa
from squeeze.metrics.aggregate import harmonic_mean


# ---------------------------------------------------------------- pure: numbers in, number out
def probability(ces: Sequence[float]) -> float:
    """TOFU Prob: mean over items of exp(-CE)."""
    if len(ces) == 0:
        raise ValueError("Prob of an empty set is undefined: no CEs given")
    return float(np.mean(np.exp(-np.asarray(ces, dtype=np.float64))))


def normalised_probability(ce_correct: Sequence[float], ce_wrong: Sequence[Sequence[float]]) -> float:
    """TOFU's Prob for option sets: mean of p(y) / (p(y) + sum_j p(w_j)), p = exp(-CE)."""
    if len(ce_correct) != len(ce_wrong) or len(ce_correct) == 0:
        raise ValueError(
            f"need one list of wrong-answer CEs per item, got {len(ce_correct)} items and {len(ce_wrong)} lists"
        )
    values = []
    for ce_c, ces_w in zip(ce_correct, ce_wrong, strict=False):
        # Softmax over -CE of (correct, wrong...), taken at the correct option, computed stably.
        logits = -np.asarray([ce_c, *ces_w], dtype=np.float64)
        values.append(float(np.exp(logits[0] - np.logaddexp.reduce(logits))))
    return float(np.mean(values))


def truth_ratio(ce_paraphrased: float, ce_perturbed: Sequence[float]) -> float:
    """TR = p_w / p_c = exp(CE(paraphrased) - mean_j CE(perturbed_j)) for one item."""
    if len(ce_perturbed) == 0:
        raise ValueError("a truth ratio needs at least one perturbed answer")
    with np.errstate(over="ignore"):
        return float(np.exp(ce_paraphrased - np.mean(np.asarray(ce_perturbed, dtype=np.float64))))


def truth_ratios(ce_paraphrased: Sequence[float], ce_perturbed: Sequence[Sequence[float]]) -> list[float]:
    if len(ce_paraphrased) != len(ce_perturbed):
        raise ValueError(f"{len(ce_paraphrased)} paraphrased CEs but {len(ce_perturbed)} perturbed lists")
    return [truth_ratio(c, w) for c, w in zip(ce_paraphrased, ce_perturbed, strict=False)]


def _ratios(trs: Sequence[float]) -> np.ndarray:
    arr = np.asarray(trs, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("truth-ratio aggregate of an empty set is undefined")
    if np.any(arr < 0) or np.any(np.isnan(arr)):
        raise ValueError("truth ratios are ratios of probabilities: they must be >= 0 and not NaN")
    return arr


def forget_truth_ratio(trs: Sequence[float]) -> float:
    """Forget-set aggregate: mean(min(TR, 1/TR)); 1 when true and false answers look alike."""
    arr = _ratios(trs)
    with np.errstate(divide="ignore"):
        return float(np.mean(np.minimum(arr, 1.0 / arr)))


def retain_truth_ratio(trs: Sequence[float]) -> float:
    """Retain-set aggregate: mean(max(0, 1 - TR)); 1 when the truth is strongly preferred."""
    return float(np.mean(np.maximum(0.0, 1.0 - _ratios(trs))))


def forget_quality(trs_unlearned: Sequence[float], trs_retain_model: Sequence[float]) -> float:
    """KS-test p-value between the forget-set TRs of the unlearned and the retain-only model."""
    if len(trs_unlearned) == 0 or len(trs_retain_model) == 0:
        raise ValueError("forget quality needs truth ratios from both models")
    return float(
        ks_2samp(np.asarray(trs_unlearned, dtype=np.float64), np.asarray(trs_retain_model, dtype=np.float64)).pvalue
    )


def model_utility(components: Mapping[str, float | None]) -> float:
    """Harmonic mean of the utility components present (None = not measured)."""
    present = {k: v for k, v in components.items() if v is not None}
    if not present:
        raise ValueError("model utility needs at least one measured component")
    return harmonic_mean(list(present.values()))


# ---------------------------------------------------------------- from a model
def answer_ces(
    model, tokenizer, questions: Sequence[str], answers: Sequence[str], batch_size: int = 32, scores=None
) -> list[float]:
    """CE(answer | question) per pair with the shared scorer, or read from `scores`
    (squeeze.metrics.packed_scores.AnswerScores of this model: packed, duplicates once)."""
    if len(questions) != len(answers):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
    if not questions:
        return []
    encode = scores.encode if scores is not None else partial(encode_qa, tokenizer)
    pairs = [encode(q, a) for q, a in zip(questions, answers, strict=False)]
    if scores is not None:
        return [-m for m in scores.logp_means(pairs)]
    scored = score_pairs(model, pairs, collator_for(tokenizer), batch_size=batch_size)
    return (-scored.logp_mean).tolist()


def item_probabilities(model, tokenizer, records: Sequence[QARecord], batch_size: int = 32) -> list[float]:
    """exp(-CE(answer)) per record; `probability` of their CEs is their mean."""
    ces = answer_ces(model, tokenizer, [r.question for r in records], [r.answer for r in records], batch_size)
    return np.exp(-np.asarray(ces, dtype=np.float64)).tolist()


def _perturbed_ces(model, tokenizer, records: Sequence[QARecord], batch_size: int, scores=None) -> list[list[float]]:
    for r in records:
        if not r.perturbed_answer:
            raise DataError(f"record {r.id!r} has no perturbed_answer; truth ratio and normalised Prob need them")
    # One flat scoring call for all perturbed answers, then split back per record.
    flat_q = [r.question for r in records for _ in r.perturbed_answer]
    flat_a = [a for r in records for a in r.perturbed_answer]
    flat = answer_ces(model, tokenizer, flat_q, flat_a, batch_size, scores)
    out, at = [], 0
    for r in records:
        out.append(flat[at : at + len(r.perturbed_answer)])
        at += len(r.perturbed_answer)
    return out


def item_truth_ratios(
    model,
    tokenizer,
    records: Sequence[QARecord],
    batch_size: int = 32,
    base_field: str = "paraphrased_answer",
    scores=None,
) -> list[float]:
    """TR per record from its perturbed answers against `base_field`.

    p_c comes from the paraphrased answer on forget/retain sets; TOFU takes the answer
    itself on its real-author and world-fact sets (`base_field="answer"`).
    """
    if base_field not in ("paraphrased_answer", "answer"):
        raise ValueError(f"base_field must be 'paraphrased_answer' or 'answer', not {base_field!r}")
    for r in records:
        if not getattr(r, base_field):
            raise DataError(f"record {r.id!r} has no {base_field}; the truth ratio needs one")
    ce_base = answer_ces(
        model, tokenizer, [r.question for r in records], [getattr(r, base_field) for r in records], batch_size, scores
    )
    return truth_ratios(ce_base, _perturbed_ces(model, tokenizer, records, batch_size, scores))


def normalised_probability_from_model(
    model, tokenizer, records: Sequence[QARecord], batch_size: int = 32, scores=None
) -> float:
    """TOFU's normalised Prob of the records' answers against their perturbed answers."""
    questions, answers = [r.question for r in records], [r.answer for r in records]
    ce_correct = answer_ces(model, tokenizer, questions, answers, batch_size, scores)
    return normalised_probability(ce_correct, _perturbed_ces(model, tokenizer, records, batch_size, scores))
