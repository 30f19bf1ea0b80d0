"""Tensor helpers shared by the objectives (DESIGN section 5 notation).

Objectives receive *aligned* tensors: `logits[:, t]` is the distribution over
`labels[:, t]`, with `labels == -100` wherever a position is not an answer token (prompt
or padding). `shift_for_next_token` turns a causal LM's raw outputs into that form.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100


def shift_for_next_token(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal LM outputs (position i predicts token i+1) -> aligned (logits, labels)."""
    return logits[:, :-1, :], labels[:, 1:]


def answer_mask(labels: torch.Tensor) -> torch.Tensor:
    return labels != IGNORE_INDEX


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p_t[y_t] at every aligned position, 0 where the label is masked. Shape (B, T).

    Computed as z[y] - logsumexp(z) so no (B, T, V) log-softmax tensor is kept beyond
    what autograd needs for the logsumexp.
    """
    mask = answer_mask(labels)
    safe_labels = labels.masked_fill(~mask, 0)
    picked = logits.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)
    logp = picked - torch.logsumexp(logits, dim=-1)
    return logp * mask


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence `logp(y|x) = sum_t log p_t[y_t]` and token count T (DESIGN section 5)."""
    mask = answer_mask(labels)
    return token_logprobs(logits, labels).sum(-1), mask.sum(-1)


def sequence_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sequence `CE(y|x) = -(1/T) logp(y|x)` (DESIGN section 5)."""
    logp_sum, n_tokens = sequence_logprob(logits, labels)
    return -logp_sum / n_tokens.clamp(min=1)


def require_logits(inputs, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The aligned (logits, labels) of a ForgetInputs, or one clear error naming the method."""
    logits, labels = inputs.logits, inputs.labels
    if logits is None or labels is None:
        raise ValueError(f"{method}: the forget loss needs aligned logits and labels (got None)")
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(
            f"{method}: logits must be (B, T, V) and labels (B, T); got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    return logits, labels
