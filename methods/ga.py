"""Gradient ascent (GA) on the forget answers: DESIGN section 5, equation (E1).

Jang et al. 2023, "Knowledge Unlearning for Mitigating Privacy Risks in Language Models";
the TOFU baseline (Maini et al. 2024). Minimising `L_forget = -mean_batch CE(y_u|x_u)`
raises the cross-entropy of every forget answer; no retain term (gamma = 1, alpha = 0).
`method.reduction=token` averages over tokens instead of sequences, as OpenUnlearning does
(`configs/methods/openunlearning/ga.yaml`).

    squeeze unlearn --method ga --original runs/original --world runs/world --out runs/ga
"""

from __future__ import annotations

import torch

from methods.base import ForgetInputs, Objective
from methods.common import require_logits, sequence_ce, sequence_logprob

REDUCTIONS = ("sequence", "token")


def ga_forget_loss(inputs: ForgetInputs, reduction: str = "sequence") -> torch.Tensor:
    """(E1) `-mean_batch CE(y|x)`, CE the per-sequence mean answer-token NLL (`reduction="sequence"`).

    `reduction="token"` is OpenUnlearning's GA (`-model(**batch).loss`): the mean NLL over every
    answer token of the batch, so long answers weigh more (issue 15, item 2).
    """
    logits, labels = require_logits(inputs, "ga")
    if reduction == "token":
        logp_sum, n_tokens = sequence_logprob(logits, labels)
        return logp_sum.sum() / n_tokens.sum().clamp(min=1)
    if reduction != "sequence":
        raise ValueError(f"ga: reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    return -sequence_ce(logits, labels).mean()


GA = Objective(
    name="ga", forget_loss=ga_forget_loss, defaults={"reduction": "sequence"}, gamma=1.0, alpha=0.0, retain_loss="nll"
)
