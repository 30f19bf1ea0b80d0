"""Simple NPO (SimNPO): DESIGN section 5, equation (E4).

Fan et al. 2024, "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM
Unlearning". NPO without a reference model and with the length-normalised log-prob:
`L_forget = -(2/beta) mean_batch log sigmoid(beta (CE(y|x) - delta))`, where
CE(y|x) = -(1/T) logp(y|x). Defaults beta = 4.5, delta = 0, gamma = 0.125 with the retain
NLL at alpha = 1 (the paper's TOFU setting: the small gamma only makes sense against a
retain term).

    squeeze unlearn --method simnpo --original runs/original --world runs/world --out runs/simnpo
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from methods.base import ForgetInputs, Objective
from methods.common import require_logits, sequence_ce


def simnpo_forget_loss(inputs: ForgetInputs, beta: float = 4.5, delta: float = 0.0) -> torch.Tensor:
    """(E4): no reference log-probs; the margin delta shifts the per-token CE."""
    logits, labels = require_logits(inputs, "simnpo")
    if beta <= 0:
        raise ValueError(f"simnpo: beta must be > 0, got {beta}")
    ce = sequence_ce(logits, labels)
    return -(2.0 / beta) * F.logsigmoid(beta * (ce - delta)).mean()


SIMNPO = Objective(
    name="simnpo",
    forget_loss=simnpo_forget_loss,
    defaults={"beta": 4.5, "delta": 0.0},
    gamma=0.125,
    alpha=1.0,
    retain_loss="nll",
)
