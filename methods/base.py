"""What an unlearning objective is (DESIGN section 5; STYLE: pure loss functions).

An objective's `forget_loss(inputs, **params)` is a pure function of tensors returning a
scalar. The trainer does the model calls and batching; it reads the declarations below to
know what to prepare (reference log-probs, hidden states, a frozen model, augmented samples)
and how to weigh micro-batches, and never tests a method's name. A retain loss declares the
same (`RetainTerm`). Total loss: `L = gamma * L_forget + alpha * L_retain`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
class Augmentation:
    """How the trainer prepares an augmenting objective's extra targets (BS-S, E8)."""

    n_samples: int  # responses per forget prompt
    sample_mode: str  # "sample" or "beam"
    temperature: float
    on_policy: bool  # resample from the current model every `resample_every` steps (else once, from pi_0)
    resample_every: int
    micro_batch: int  # augmented samples per micro-batch (gradient accumulation)


@dataclass(frozen=True)
class RetainTerm:
    """A retain loss and what it needs: `loss(logits, labels)`, or `loss(logits, ref_logits,
    labels)` with a frozen model, or activations at the objective's layer (`uses_hidden_states`)."""

    name: str
    loss: Callable[..., torch.Tensor]
    needs_frozen_model: bool = False  # the frozen original's outputs on the same retain batch
    uses_hidden_states: bool = False  # compares activations at the objective's layer (needs an RMU-style objective)


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
    augments_forget_set: bool = False  # BS-S: the trainer samples extra targets (see `augmentation`)
    # "sequences" or "tokens": what the forget loss is a mean over (WGA: answer tokens); the
    # trainer weighs accumulated micro-batches by that unit, so their sum is the whole mean.
    averages_over: str = "sequences"
    # (name key, params key) when the objective runs another objective on its batches: the
    # base's name is params[name key], its own parameters params[params key] (BS-S: base, base_params).
    base_objective_keys: tuple[str, str] | None = None
    augmentation: Callable[[dict[str, Any]], Augmentation] | None = None  # from the params, when augmenting
    check_params: Callable[[dict[str, Any], Sequence[str]], dict[str, Any]] | None = None  # (params, known methods)

    def base_of(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(base objective's name, its parameters) for an objective that runs a base, else None."""
        if self.base_objective_keys is None:
            return None
        name_key, params_key = self.base_objective_keys
        return params[name_key], params.get(params_key) or {}
