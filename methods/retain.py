"""Retain losses: DESIGN section 5, `L = gamma * L_forget + alpha * L_retain`.

- `nll`: the batch mean of the per-sequence CE on retain answers (the default).
- `nll_token`: the mean NLL over every retain answer token of the batch (OpenUnlearning's
  `model(**retain).loss`).
- `kl`: KL(pi_0 || pi_theta) summed over the vocabulary, averaged over retain answer tokens
  only (prompt and padding masked); needs the frozen original model's logits.
- `rmu` (E6): MSE between retain activations and the frozen model's at RMU's layer; its
  signature differs (hidden states, not logits), so the trainer calls it directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from methods.common import answer_mask, sequence_ce, sequence_logprob
from methods.rmu import masked_mse


def nll_retain_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over retain sequences of CE(y_r|x_r), on aligned logits and labels."""
    return sequence_ce(logits, labels).mean()


def token_nll_retain_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean NLL over all retain answer tokens of the batch (OpenUnlearning's retain NLL)."""
    logp_sum, n_tokens = sequence_logprob(logits, labels)
    return -logp_sum.sum() / n_tokens.sum().clamp(min=1)


def kl_retain_loss(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """KL(pi_0 || pi_theta) = sum_v p0[v] (log p0[v] - log p[v]), mean over answer tokens.

    Only answer positions are selected before any softmax, so prompt and padding cost
    nothing and cannot leak in. `ref_logits` (the frozen model's) carry no gradient.
    """
    if ref_logits.shape != logits.shape:
        raise ValueError(
            f"kl retain loss: ref_logits {tuple(ref_logits.shape)} must match logits {tuple(logits.shape)}"
        )
    mask = answer_mask(labels)
    if not bool(mask.any()):
        return logits.sum() * 0.0  # no retain answer tokens: a zero that keeps the graph
    logp = torch.log_softmax(logits[mask], dim=-1)  # (N, V)
    ref_logp = torch.log_softmax(ref_logits.detach()[mask].to(logp.dtype), dim=-1)
    per_token = F.kl_div(logp, ref_logp, reduction="none", log_target=True).sum(-1)
    return per_token.mean()


def rmu_retain_loss(hidden: torch.Tensor, frozen_hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(E6) retain term: MSE between activations and the frozen model's, over answer positions."""
    if frozen_hidden.shape != hidden.shape:
        raise ValueError(
            f"rmu retain loss: frozen_hidden {tuple(frozen_hidden.shape)} must match hidden {tuple(hidden.shape)}"
        )
    return masked_mse(hidden, frozen_hidden.detach().to(hidden.dtype), mask)
