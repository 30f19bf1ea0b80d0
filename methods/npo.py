"""Negative preference optimisation (NPO): DESIGN section 5, equation (E3).

Zhang, Lin, Bai and Mei 2024, "Negative Preference Optimization: From Catastrophic Collapse
to Effective Unlearning". DPO with only a rejected answer:
`L_forget = -(2/beta) mean_batch log sigmoid(-beta (logp_theta(y|x) - logp_0(y|x)))`.

`logp_0` (the original model's sequence log-prob of each forget answer) is fixed, so the
trainer computes it once before training and passes it as `inputs.ref_logp`: no reference
model stays in memory. At the reference point the loss is `(2/beta) log 2` per sequence;
as logp_theta falls the loss and its gradient go to 0, which is what slows NPO's collapse
compared with GA. alpha defaults to 0; any retain loss composes with it through the config.

    squeeze unlearn --method npo --original runs/original --world runs/world --out runs/npo
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from methods.base import ForgetInputs, Objective
from methods.common import require_logits, sequence_logprob


def npo_forget_loss(inputs: ForgetInputs, beta: float = 0.1) -> torch.Tensor:
    """(E3) with the stored reference log-probs `inputs.ref_logp` of shape (B,)."""
    logits, labels = require_logits(inputs, "npo")
    if beta <= 0:
        raise ValueError(f"npo: beta must be > 0, got {beta}")
    ref_logp = inputs.ref_logp
    if ref_logp is None:
        raise ValueError("npo: the forget loss needs the reference log-probs ref_logp (computed once before training)")
    logp, _ = sequence_logprob(logits, labels)
    if ref_logp.shape != logp.shape:
        raise ValueError(
            f"npo: ref_logp must have shape {tuple(logp.shape)} (one per sequence), got {tuple(ref_logp.shape)}"
        )
    log_ratio = logp - ref_logp.detach().to(logp.dtype)
    return -(2.0 / beta) * F.logsigmoid(-beta * log_ratio).mean()


NPO = Objective(
    name="npo",
    forget_loss=npo_forget_loss,
    defaults={"beta": 0.1},
    gamma=1.0,
    alpha=0.0,
    retain_loss="nll",
    needs_reference_logprobs=True,
)
