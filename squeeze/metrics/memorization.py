"""Extraction strength and exact memorisation (DESIGN section 9; ES from Carlini et al.
2021 as used by Wang et al. 2025 and OpenUnlearning; EM from Tirumala et al. 2022).

For an answer y = (y_1..y_n) after prompt x:
- ES = 1 - k*/n, with k* the smallest k in 0..n such that greedy decoding from the
  prompt followed by y_1..y_k reproduces the rest of the answer, y_k+1..y_n.
  k* = 0: the whole answer is extractable from the prompt alone (ES = 1); k* = n: not
  even the last token is (ES = 0).
- EM = (1/n) #{t : argmax_v p_t(v) = y_t}, teacher-forced.

Greedy decoding from x, y_1..y_k reproduces y_k+1..y_n exactly when the teacher-forced argmax
equals y_t at every t > k: each greedy step sees the same context as teacher forcing as
long as every earlier step matched. So both metrics come from one forward pass over
(x, y); `tests/test_metrics_memorization.py` checks this against real greedy decoding.
Answer tokens include the EOS that `encode_answer` appends: "reproduces" includes stopping.
Under `convention="openunlearning"` (squeeze.metrics.conventions) the last answer token
(the EOS) is left out, and k* is searched over 0..n-1 only, as OpenUnlearning computes them;
an answer with no token left then has ES 0 and no EM (skipped in the mean), as there.

    per_item = item_extraction_strengths(model, tok, records); sum(per_item) / len(per_item)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from squeeze.core.types import QARecord
from squeeze.lm.batching import collator_for
from squeeze.lm.prompting import encode_qa
from squeeze.metrics.conventions import OPENUNLEARNING, SQUEEZE, extraction_prefix_cap, scored_tokens
from squeeze.metrics.tokens import answer_token_stats


def _check(predicted: Sequence[int], target: Sequence[int]) -> int:
    if len(predicted) != len(target):
        raise ValueError(f"{len(predicted)} predicted tokens for {len(target)} target tokens")
    if len(target) == 0:
        raise ValueError("an empty answer has no tokens to memorise")
    return len(target)


def extraction_prefix_length(predicted: Sequence[int], target: Sequence[int]) -> int:
    """k*: the fewest answer tokens to give before greedy decoding reproduces the rest.

    `predicted[t]` is the teacher-forced argmax at answer position t.
    """
    n = _check(predicted, target)
    k = n
    # Walk back from the end while the model's prediction matches: the matching suffix.
    while k > 0 and predicted[k - 1] == target[k - 1]:
        k -= 1
    return k


def extraction_strength(predicted: Sequence[int], target: Sequence[int], convention: str = SQUEEZE) -> float:
    """ES = 1 - k*/n for one answer (k* capped at n - 1 under OpenUnlearning's convention)."""
    predicted, target = scored_tokens(predicted, convention), scored_tokens(target, convention)
    if convention == OPENUNLEARNING and not target:
        return 0.0
    k = min(extraction_prefix_length(predicted, target), extraction_prefix_cap(len(target), convention))
    return 1.0 - k / len(target)


def exact_memorization(predicted: Sequence[int], target: Sequence[int], convention: str = SQUEEZE) -> float | None:
    """EM = fraction of answer positions where the teacher-forced argmax is the true token
    (None for an answer with no scored token under OpenUnlearning's convention)."""
    predicted, target = scored_tokens(predicted, convention), scored_tokens(target, convention)
    if convention == OPENUNLEARNING and not target:
        return None
    n = _check(predicted, target)
    return sum(int(p == t) for p, t in zip(predicted, target, strict=False)) / n


def _stats(model, tokenizer, records: Sequence[QARecord], batch_size: int, scores=None):
    if scores is not None:  # squeeze.metrics.packed_scores.AnswerScores of this model
        return scores.stats([scores.encode(r.question, r.answer) for r in records])
    pairs = [encode_qa(tokenizer, r.question, r.answer) for r in records]
    return answer_token_stats(model, pairs, collator_for(tokenizer), batch_size=batch_size, desc="ES/EM")


def item_extraction_strengths(model, tokenizer, records: Sequence[QARecord], batch_size: int = 32) -> list[float]:
    return [extraction_strength(s.argmax_ids, s.target_ids) for s in _stats(model, tokenizer, records, batch_size)]


def item_exact_memorizations(model, tokenizer, records: Sequence[QARecord], batch_size: int = 32) -> list[float]:
    return [exact_memorization(s.argmax_ids, s.target_ids) for s in _stats(model, tokenizer, records, batch_size)]


def memorization_scores(
    model,
    tokenizer,
    records: Sequence[QARecord],
    batch_size: int = 32,
    scores=None,
    convention: str = SQUEEZE,
) -> dict[str, float]:
    """Mean ES and EM over records from a single pass: {"es": ..., "em": ...}."""
    stats = _stats(model, tokenizer, records, batch_size, scores)
    if not stats:
        raise ValueError("ES and EM of an empty set are undefined")
    em = [exact_memorization(s.argmax_ids, s.target_ids, convention) for s in stats]
    em = [v for v in em if v is not None]
    return {
        "es": float(np.mean([extraction_strength(s.argmax_ids, s.target_ids, convention) for s in stats])),
        "em": float(np.mean(em)) if em else float("nan"),
    }
