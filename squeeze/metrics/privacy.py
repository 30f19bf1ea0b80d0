"""Min-K% membership scores and MUSE's PrivLeak (DESIGN section 9; Shi et al. 2024,
"Detecting Pretraining Data from Large Language Models"; Shi et al. 2024, "MUSE").

- Min-K% score of a sequence: the mean of its ceil(k * T) lowest token log-probs over all
  T answer tokens, EOS included (k = 0.4 by default, the k of MUSE's and OpenUnlearning's
  configs). Higher = more member-like. OpenUnlearning counts differently
  (squeeze.metrics.conventions): it leaves out the last answer token (EOS) and averages
  max(1, int(k * T)) tokens (and flips the sign); `convention="openunlearning"` does that.
- Membership AUC (MUSE's orientation): the ROC AUC of telling *holdout* (never trained
  on) from forget items by the score, i.e. P(score(holdout) > score(forget)) with ties
  counted 1/2. Near 0 when the forget set is plainly remembered, 0.5 when the two look
  alike.
- PrivLeak = (AUC_unlearned - AUC_retain) / AUC_retain * 100, with the retain model (never
  trained on the forget set) as the reference. Near 0 is ideal; large negative values mean
  under-unlearning (the forget set still looks like training data), large positive ones
  over-unlearning. A model that remembers everything gets about -100, as in MUSE's tables.

    forget_scores = item_min_k_scores(model, forget_pairs, collator)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from squeeze.lm.batching import Pair, QACollator
from squeeze.metrics.conventions import SQUEEZE, min_k_count, scored_tokens
from squeeze.metrics.tokens import answer_token_stats

DEFAULT_K = 0.4


def min_k_score(token_logprobs: Sequence[float], k: float = DEFAULT_K, convention: str = SQUEEZE) -> float:
    """Mean of the ceil(k*T) lowest token log-probs of one sequence (OpenUnlearning's
    convention: of the first T-1 tokens, max(1, int(k*(T-1))) of them)."""
    if not 0.0 < k <= 1.0:
        raise ValueError(f"Min-K% needs 0 < k <= 1, got {k}")
    token_logprobs = scored_tokens(token_logprobs, convention)
    if len(token_logprobs) == 0:
        raise ValueError("Min-K% of an empty sequence is undefined")
    count = min_k_count(len(token_logprobs), k, convention)
    lowest = np.sort(np.asarray(token_logprobs, dtype=np.float64))[:count]
    return float(lowest.mean())


def membership_auc(forget_scores: Sequence[float], holdout_scores: Sequence[float]) -> float:
    """MUSE-oriented AUC: P(holdout score > forget score) + 1/2 P(tie) (Mann-Whitney U)."""
    f = np.asarray(forget_scores, dtype=np.float64)
    h = np.asarray(holdout_scores, dtype=np.float64)
    if f.size == 0 or h.size == 0:
        raise ValueError("membership AUC needs scores for both forget and holdout items")
    ranks = rankdata(np.concatenate([h, f]))  # average ranks: ties count one half
    u = ranks[: h.size].sum() - h.size * (h.size + 1) / 2.0
    return float(u / (h.size * f.size))


def privleak(auc_unlearned: float, auc_retain: float) -> float:
    """(AUC_unlearned - AUC_retain) / AUC_retain * 100 (MUSE)."""
    if auc_retain <= 0:
        raise ValueError("PrivLeak is undefined when the retain model's AUC is 0")
    return (auc_unlearned - auc_retain) / auc_retain * 100.0


def privleak_from_scores(
    forget_unlearned: Sequence[float],
    holdout_unlearned: Sequence[float],
    forget_retain: Sequence[float],
    holdout_retain: Sequence[float],
) -> float | None:
    """PrivLeak from the Min-K% scores of both models on the same forget and holdout items; None
    where it is undefined: the retain model's AUC is 0 (every forget item scored as more
    memorised than every holdout item, which a few items on a tiny model can give)."""
    auc_retain = membership_auc(forget_retain, holdout_retain)
    if auc_retain <= 0:
        return None
    return privleak(membership_auc(forget_unlearned, holdout_unlearned), auc_retain)


def text_pair(tokenizer, text: str) -> Pair:
    """A raw text (MUSE's documents) as a scoring pair: every token after BOS is scored.

    Without a BOS token the first text token becomes the 'prompt' (nothing predicts it).
    """
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if tokenizer.bos_token_id is not None:
        return [tokenizer.bos_token_id], ids
    if len(ids) < 2:
        raise ValueError(f"text {text[:40]!r} is too short to score without a BOS token")
    return ids[:1], ids[1:]


def item_min_k_scores(
    model,
    pairs: Sequence[Pair],
    collator: QACollator,
    k: float = DEFAULT_K,
    batch_size: int = 32,
    convention: str = SQUEEZE,
) -> list[float]:
    """Min-K% score of each pair's answer tokens under `model` (pairs from `encode_qa` or `text_pair`)."""
    stats = answer_token_stats(model, pairs, collator, batch_size=batch_size, desc="Min-K%")
    return [min_k_score(s.logprobs, k, convention) for s in stats]
