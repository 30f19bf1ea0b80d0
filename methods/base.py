"""What an unlearning objective is (DESIGN section 5; STYLE: pure loss functions).

An objective's `forget_loss(inputs, **params)` is a pure function of tensors returning a
scalar. The trainer does the model calls and batching; it reads the flags below to know
what to prepare (reference log-probs, hidden states, a frozen model, augmented samples).
Total loss: `L = gamma * L_forget + alpha * L_retain`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class ForgetInputs:
    """Aligned tensors for one forget (micro-)batch (see methods.common)."""

    logits: torch.Tensor | None = None  # (B, T, V): logits[:, t] scores labels[:, t]
    labels: torch.Tensor | None = None  # (B, T): answer token ids, -100 elsewhere
    ref_logp: torch.Tensor | None = None  # (B,): logp_0(y|x), fixed before training (NPO)
    hidden: torch.Tensor | None = None  # (B, L, H): activations at the objective's layer (RMU)
    hidden_mask: torch.Tensor | None = None  # (B, L): True at answer positions of `hidden`


@dataclass(frozen=True)
class Objective:
    name: str
    forget_loss: Callable[..., torch.Tensor]
    defaults: dict[str, Any] = field(default_factory=dict)  # the method's own parameters
    gamma: float = 1.0  # weight of L_forget
    alpha: float = 0.0  # weight of L_retain (0: no retain term)
    retain_loss: str = "nll"  # default retain loss: a name in methods.RETAIN_LOSSES
    needs_reference_logprobs: bool = False  # NPO: logp_0 on the forget set, computed once
    needs_hidden_states: bool = False  # RMU: activations at `params["layer"]`
    augments_forget_set: bool = False  # BS-S: the trainer samples extra targets
