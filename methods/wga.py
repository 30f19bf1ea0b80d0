"""Weighted gradient ascent (WGA): DESIGN section 5, equation (E5).

Wang et al. 2025, "Rethinking LLM Unlearning Objectives: A Gradient Perspective and Go
Beyond" (ICLR 2025). Each answer token's GA term is weighted by its own probability,
treated as a constant: `L_forget = -mean over answer tokens of sg(p_t[y_t])^beta *
(-log p_t[y_t])`, beta = 1. Tokens the model already finds unlikely get little push, which
slows the runaway of plain GA. The mean is over all answer tokens of the batch (not per
sequence first), as the equation states.

    squeeze unlearn --method wga --original runs/original --world runs/world --out runs/wga
"""

from __future__ import annotations

import torch

from methods.base import ForgetInputs, Objective
from methods.common import answer_mask, require_logits, token_logprobs


def wga_weights(token_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """`sg(p_t[y_t])^beta` from per-token log-probs; detached, so it carries no gradient."""
    return torch.exp(beta * token_logp.detach())


def wga_forget_loss(inputs: ForgetInputs, beta: float = 1.0) -> torch.Tensor:
    """(E5) mean over the batch's answer tokens of `weight * log p_t[y_t]`."""
    logits, labels = require_logits(inputs, "wga")
    mask = answer_mask(labels)
    logp = token_logprobs(logits, labels)  # 0 at masked positions
    weighted = wga_weights(logp, beta) * logp * mask
    return weighted.sum() / mask.sum().clamp(min=1)


WGA = Objective(
    name="wga",
    forget_loss=wga_forget_loss,
    defaults={"beta": 1.0},
    gamma=1.0,
    alpha=0.0,
    retain_loss="nll",
    averages_over="tokens",  # (E5) the mean is over the batch's answer tokens
)
