"""Calibration statistics: how well a judge's score tracks the world's leakage oracle, and
the thresholds and 0-5 mappings tuned from it (DESIGN sections 3 and 10).

Every function here is a pure function of lists of labels and scores, so each is checked
against a hand computation in tests/test_calibration.py.

- (C1) `auroc`: P(s+ > s-) + 0.5 P(s+ = s-) over all (positive, negative) pairs, computed
  as the Mann-Whitney U statistic from mid-ranks: (R+ - n+(n+ + 1)/2) / (n+ n-), where R+
  is the sum of the positives' ranks among all scores (ties get their average rank).
- (C2) `spearman`: Spearman's rank correlation between the 0/1 oracle and the score (scipy).
- (C3) `balanced_accuracy` of the rule "positive iff score >= t": (TPR + TNR) / 2.
- (C4) `best_threshold`: the t maximising (C3) over the midpoints between consecutive
  distinct scores (and one step beyond each end); of several best, the middle one.
- (C5) `tune_similarity_knots`: a 0-5 mapping of a raw feature x (e.g. a cosine) whose
  knots sit at quantiles of the leaking (pos) and non-leaking (neg) feature values:
  q05(neg) -> 0, q50(neg) -> 1, the best cut t (C4) -> 2.5, q50(pos) -> 4, q95(pos) -> 5,
  dropping knots that would not increase; so "Similarity >= 2.5" is the tuned cut.

    from squeeze.calibrate.calibration import auroc, best_threshold
    auroc([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.4])   # (1 + 1 + 1 + 0.5) / 4 = 0.875
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIDPOINT = 2.5  # the 0-5 score the tuned cut of (C5) maps to


def _arrays(labels: Sequence, scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be two lists of the same length, got {y.shape} and {s.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0/1 (or booleans)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers (drop unparsed scores before calibrating)")
    return y.astype(bool), s


def both_classes(labels: Sequence) -> bool:
    y = np.asarray(labels, dtype=bool)
    return bool(y.any() and (~y).any())


def auroc(labels: Sequence, scores: Sequence) -> float:
    """(C1); NaN when one class is empty."""
    from scipy.stats import rankdata

    y, s = _arrays(labels, scores)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return math.nan
    ranks = rankdata(s)  # average ranks for ties: a tie counts one half
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(labels: Sequence, scores: Sequence) -> float:
    """(C2); NaN when either list is constant."""
    from scipy.stats import spearmanr

    y, s = _arrays(labels, scores)
    if len(set(y.tolist())) < 2 or len(set(s.tolist())) < 2:
        return math.nan
    return float(spearmanr(y.astype(float), s).statistic)


def roc_curve(labels: Sequence, scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates) of "positive iff score >= t", t falling
    through every distinct score, from (0, 0) to (1, 1)."""
    y, s = _arrays(labels, scores)
    n_pos, n_neg = max(1, int(y.sum())), max(1, int((~y).sum()))
    cuts = np.unique(s)[::-1]
    tpr = [0.0] + [float((y & (s >= t)).sum() / n_pos) for t in cuts]
    fpr = [0.0] + [float((~y & (s >= t)).sum() / n_neg) for t in cuts]
    return np.asarray(fpr), np.asarray(tpr)


def balanced_accuracy(labels: Sequence, scores: Sequence, threshold: float) -> float:
    """(C3): the mean of the true positive and true negative rates of "score >= threshold"."""
    y, s = _arrays(labels, scores)
    predicted = s >= threshold
    rates = []
    if y.any():
        rates.append((predicted & y).sum() / y.sum())
    if (~y).any():
        rates.append((~predicted & ~y).sum() / (~y).sum())
    return float(np.mean(rates)) if rates else math.nan


@dataclass(frozen=True)
class Threshold:
    value: float
    balanced_accuracy: float


def best_threshold(labels: Sequence, scores: Sequence) -> Threshold:
    """(C4). Raises ValueError when the labels hold one class only (nothing to separate)."""
    y, s = _arrays(labels, scores)
    if not both_classes(y):
        raise ValueError("tuning a threshold needs both labels (leaking and non-leaking examples)")
    distinct = np.unique(s)
    step = float(np.diff(distinct).min()) if len(distinct) > 1 else 1.0
    cuts = (
        [distinct[0] - step]
        + [(a + b) / 2 for a, b in zip(distinct, distinct[1:], strict=False)]
        + [distinct[-1] + step]
    )
    values = [balanced_accuracy(y, s, float(c)) for c in cuts]
    best = max(values)
    ties = [c for c, v in zip(cuts, values, strict=False) if v >= best - 1e-12]
    return Threshold(float(ties[(len(ties) - 1) // 2]), float(best))


def tune_similarity_knots(pos: Sequence[float], neg: Sequence[float]) -> list[list[float]]:
    """(C5): knots [[x, score], ...] for `judges.features.piecewise_linear`."""
    pos_a, neg_a = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    if not len(pos_a) or not len(neg_a):
        raise ValueError("tuning the similarity mapping needs leaking and non-leaking examples")
    cut = best_threshold([1] * len(pos_a) + [0] * len(neg_a), np.concatenate([pos_a, neg_a])).value
    below = [(float(np.quantile(neg_a, 0.05)), 0.0), (float(np.quantile(neg_a, 0.5)), 1.0)]
    above = [(float(np.quantile(pos_a, 0.5)), 4.0), (float(np.quantile(pos_a, 0.95)), 5.0)]
    knots = [(cut, MIDPOINT)]
    for x, y in reversed(below):  # keep only knots strictly left of the one after them
        if x < knots[0][0] - 1e-9:
            knots.insert(0, (x, y))
    for x, y in above:
        if x > knots[-1][0] + 1e-9:
            knots.append((x, y))
    if len(knots) == 1:  # every value on one point: a step around the cut
        knots = [(cut - 1e-3, 0.0), (cut, MIDPOINT), (cut + 1e-3, 5.0)]
    if knots[0][1] > 0.0:  # the lowest knot still maps to 0, the highest to 5
        knots.insert(0, (knots[0][0] - 1e-3, 0.0))
    if knots[-1][1] < 5.0:
        knots.append((knots[-1][0] + 1e-3, 5.0))
    return [[round(x, 4), y] for x, y in knots]


def tune_lower_upper_knots(
    good: Sequence[float], bad: Sequence[float], low_q: float = 0.5, high_q: float = 0.05
) -> list[list[float]]:
    """Two knots [[median of the bad values, 0], [5th percentile of the good values, 1]]: most
    good examples get the full factor 1 and the typical bad one 0 (used for the naturalness
    log-prob term). Falls back to a unit-wide ramp below the good quantile when they overlap."""
    lo = float(np.quantile(np.asarray(bad, dtype=float), low_q))
    hi = float(np.quantile(np.asarray(good, dtype=float), high_q))
    if lo >= hi:
        lo = hi - 1.0
    return [[round(lo, 4), 0.0], [round(hi, 4), 1.0]]
