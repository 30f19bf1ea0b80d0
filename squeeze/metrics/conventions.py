"""Two conventions for the token-level metrics: squeeze's own (the default) and
OpenUnlearning's (under `--preset openunlearning-tofu`; issue 15, item 2).

They differ in three places, each of which moves the published numbers:

1. **Which answer tokens count.** squeeze scores every answer token, the EOS that
   `encode_answer` appends included (DESIGN section 2: "reproduces" includes stopping).
   OpenUnlearning's token-wise log-probs (`tokenwise_logprobs` / `tokenwise_vocab_logprobs`
   in its evals/metrics/utils.py) leave out the last labelled token, i.e. the EOS, so
   ES, EM and Min-K% see T - 1 tokens.
2. **Extraction strength's floor.** squeeze: ES = 1 - k*/n with k* in 0..n, so an answer
   whose last token is not reproduced scores 0. OpenUnlearning searches k over 0..n-1 only
   and keeps k = n-1 when no suffix matches: ES = 1 - min(k*, n-1)/n >= 1/n.
3. **How many tokens Min-K% averages.** squeeze: ceil(k*T); OpenUnlearning:
   max(1, int(k*T)) (its mia/min_k.py).

The GA loss differs too (DESIGN E1 averages per sequence, then over the batch;
OpenUnlearning's `-model(**batch).loss` is the token mean over the whole batch): that is the
`reduction` parameter of methods/ga.py (`configs/methods/openunlearning/*.yaml`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SQUEEZE = "squeeze"
OPENUNLEARNING = "openunlearning"
CONVENTIONS = (SQUEEZE, OPENUNLEARNING)


def check_convention(name: str) -> str:
    if name not in CONVENTIONS:
        raise ValueError(f"unknown metric convention {name!r}; expected one of {list(CONVENTIONS)}")
    return name


def scored_tokens(values: Sequence, convention: str = SQUEEZE) -> list:
    """The answer positions a metric sees: all of them, or all but the last (OpenUnlearning)."""
    values = list(values)
    return values[:-1] if check_convention(convention) == OPENUNLEARNING else values


def min_k_count(n_tokens: int, k: float, convention: str = SQUEEZE) -> int:
    """How many of the lowest token log-probs Min-K% averages."""
    if check_convention(convention) == OPENUNLEARNING:
        return max(1, int(n_tokens * k))
    return math.ceil(k * n_tokens)


def extraction_prefix_cap(n_tokens: int, convention: str = SQUEEZE) -> int:
    """The largest k* the convention allows: n (squeeze) or n - 1 (OpenUnlearning's search)."""
    return n_tokens - 1 if check_convention(convention) == OPENUNLEARNING else n_tokens
