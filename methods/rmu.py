"""Representation misdirection for unlearning (RMU): DESIGN section 5, equation (E6).

Li et al. 2024, "The WMDP Benchmark: Measuring and Reducing Malicious Use With Unlearning".
At one layer l the activations of forget answer tokens are pushed toward a fixed random
direction of norm c: `L_forget = MSE(h_l(x_u)[answer], c * u/||u||)`, u drawn once from a
generator seeded by `seed` (uniform on [0, 1)^H, as in the paper). The retain term
(`methods.retain.rmu_retain_loss`) is the MSE between the retain activations and a frozen
copy of the original model's at the same layer, so RMU is one of the two methods that keep
a frozen model in memory.

`layer = -1` means "a middle layer"; the trainer resolves it (it knows the depth) and
passes the hidden states of that layer as `inputs.hidden` with `inputs.hidden_mask` True
at answer positions. c = 2 suits TOFU-like data; WMDP-scale models use larger c.

    squeeze unlearn --method rmu --original runs/original --world runs/world --out runs/rmu
"""

from __future__ import annotations

import torch

from methods.base import ForgetInputs, Objective


def rmu_target(hidden_size: int, c: float, seed: int) -> torch.Tensor:
    """`c * u/||u||` with u ~ U[0, 1)^H from a CPU generator seeded by `seed` (float32, CPU)."""
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    u = torch.rand(hidden_size, generator=generator, dtype=torch.float32)
    return c * u / u.norm()


def masked_mse(values: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hidden dimension and the positions where `mask` is True.

    `values` (B, L, H); `target` broadcastable to it; `mask` (B, L). 0 when nothing is masked in.
    """
    if mask.shape != values.shape[:2]:
        raise ValueError(f"hidden_mask must be (B, L) = {tuple(values.shape[:2])}, got {tuple(mask.shape)}")
    mask = mask.to(torch.bool)
    sq = (values - target).pow(2).sum(-1) * mask  # (B, L): squared distance per position
    return sq.sum() / (mask.sum().clamp(min=1) * values.shape[-1])


def rmu_forget_loss(inputs: ForgetInputs, layer: int = -1, c: float = 2.0, seed: int = 0) -> torch.Tensor:
    """(E6) MSE between answer-position activations and `c * u/||u||`.

    `layer` is the trainer's business (it chose which hidden states to pass); it is accepted
    here so every method parameter can be passed as a keyword.
    """
    hidden, mask = inputs.hidden, inputs.hidden_mask
    if hidden is None or mask is None:
        raise ValueError("rmu: the forget loss needs hidden states and hidden_mask at the chosen layer (got None)")
    if hidden.dim() != 3:
        raise ValueError(f"rmu: hidden must be (B, L, H), got {tuple(hidden.shape)}")
    target = rmu_target(hidden.shape[-1], c, seed).to(device=hidden.device, dtype=hidden.dtype)
    return masked_mse(hidden, target, mask)


RMU = Objective(
    name="rmu",
    forget_loss=rmu_forget_loss,
    defaults={"layer": -1, "c": 2.0, "seed": 0},
    gamma=1.0,
    # Both terms are per-element MSEs at the same layer, so they share a scale; alpha = 1 is
    # the TOFU-scale setting (c = 2). WMDP-scale runs (7B models, c ~ 6.5) use alpha in the
    # hundreds to thousands because the retain drift there is tiny per element.
    alpha=1.0,
    retain_loss="rmu",
    needs_hidden_states=True,
)
