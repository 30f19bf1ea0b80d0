"""Gradient ascent (GA) on the forget answers: DESIGN section 5, equation (E1).

Jang et al. 2023, "Knowledge Unlearning for Mitigating Privacy Risks in Language Models";
the TOFU baseline (Maini et al. 2024). Minimising `L_forget = -mean_batch CE(y_u|x_u)`
raises the cross-entropy of every forget answer; no retain term (gamma = 1, alpha = 0).

    squeeze unlearn --method ga --original runs/original --world runs/world --out runs/ga
"""

from __future__ import annotations

import torch

from methods.base import ForgetInputs, Objective
from methods.common import require_logits, sequence_ce


def ga_forget_loss(inputs: ForgetInputs) -> torch.Tensor:
    """(E1) `-mean_batch CE(y|x)`, CE the per-sequence mean answer-token NLL."""
    logits, labels = require_logits(inputs, "ga")
    return -sequence_ce(logits, labels).mean()


GA = Objective(name="ga", forget_loss=ga_forget_loss, defaults={}, gamma=1.0, alpha=0.0, retain_loss="nll")
