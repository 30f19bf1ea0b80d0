"""Sequence-level bootstrapping (BS-S): DESIGN section 5, equation (E8).

The squeezing-effect paper (arXiv 2510.19422). For each forget prompt the trainer samples N
responses from the model (temperature-1 sampling or the top-N beams; exact copies of y_u
dropped) and trains on both sets with a base forget loss:
`L_forget = (1 - lambda) L_base(D_u) + lambda L_base(D_aug)`, lambda = 0.5, N = 3, base GA
(BS-T recommended). Off-policy (`policy: off`) samples once from pi_0 before training;
on-policy (`policy: on`) resamples from the current model every `resample_every` steps,
for every forget prompt.

Unlike the other objectives, this module's `forget_loss` is `bs_s_combine(forget_term,
augmented_term, lam)`: a pure function of two scalars the trainer computed with the base
objective. Sampling is data preparation done by the trainer (squeeze/lm/generation.py), not
here. The augmented set goes through the model in micro-batches of `aug_micro_batch` with
gradient accumulation, so memory does not grow with N: the trainer backpropagates
`w_m * L_base(micro_m)` for each micro-batch with `w_m` from `augmented_micro_weights`.
Because the base losses are means, that sum equals `lambda * L_base(D_aug)` exactly when
the sizes are counted in the unit the base loss averages over: sequences for ga, npo,
simnpo and bs_t; answer tokens for wga (a mean over tokens).

    squeeze unlearn --method bs_s --original runs/original --world runs/world --out runs/bs_s method.base=bs_t
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from methods.base import Augmentation, Objective

POLICIES = ("off", "on")
SAMPLE_MODES = ("sample", "beam")


def bs_s_combine(
    forget_term: torch.Tensor, augmented_term: torch.Tensor, lam: float = 0.5, **_unused: Any
) -> torch.Tensor:
    """(E8) `(1 - lam) * forget_term + lam * augmented_term`.

    Extra keyword arguments (BS-S's sampling settings) are accepted and ignored so the
    trainer may pass all of the method's parameters.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"bs_s: lam must be in [0, 1], got {lam}")
    return (1 - lam) * forget_term + lam * augmented_term


def augmented_micro_weights(lam: float, sizes: Sequence[int]) -> list[float]:
    """Backprop weight `lam * size_m / total` of each augmented micro-batch (they sum to lam)."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"bs_s: lam must be in [0, 1], got {lam}")
    if not sizes or any(int(s) < 0 for s in sizes) or sum(sizes) <= 0:
        raise ValueError(f"bs_s: micro-batch sizes must be non-negative with a positive total, got {list(sizes)}")
    total = sum(int(s) for s in sizes)
    return [lam * int(s) / total for s in sizes]


def validate_bs_s_params(params: dict[str, Any], known_bases: Sequence[str]) -> dict[str, Any]:
    """A checked copy of BS-S's parameters, or one clear error for a bad setting.

    `policy` given as a YAML boolean (`policy=on` on the command line parses as True) is
    mapped back to "on"/"off".
    """
    params = dict(params)
    if isinstance(params.get("policy"), bool):
        params["policy"] = "on" if params["policy"] else "off"
    base = params.get("base")
    if base not in known_bases or base == "bs_s":
        raise ValueError(f"bs_s: base must be one of {sorted(b for b in known_bases if b != 'bs_s')}, got {base!r}")
    if params.get("policy") not in POLICIES:
        raise ValueError(f"bs_s: policy must be one of {list(POLICIES)}, got {params.get('policy')!r}")
    if params.get("sample_mode") not in SAMPLE_MODES:
        raise ValueError(f"bs_s: sample_mode must be one of {list(SAMPLE_MODES)}, got {params.get('sample_mode')!r}")
    for key in ("n_samples", "resample_every", "aug_micro_batch"):
        value = params.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"bs_s: {key} must be a positive integer, got {value!r}")
    lam, temperature = params.get("lam"), params.get("temperature")
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
        raise ValueError(f"bs_s: lam must be a number in [0, 1], got {lam!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(f"bs_s: temperature must be a number > 0, got {temperature!r}")
    if not isinstance(params.get("base_params", {}), dict):
        raise ValueError(f"bs_s: base_params must be a mapping, got {params.get('base_params')!r}")
    return params


def bs_s_augmentation(params: dict[str, Any]) -> Augmentation:
    """What the trainer must sample for BS-S with these (validated) parameters."""
    return Augmentation(
        n_samples=int(params["n_samples"]),
        sample_mode=params["sample_mode"],
        temperature=float(params["temperature"]),
        on_policy=params["policy"] == "on",
        resample_every=int(params["resample_every"]),
        micro_batch=int(params["aug_micro_batch"]),
    )


BS_S = Objective(
    name="bs_s",
    forget_loss=bs_s_combine,
    defaults={
        "lam": 0.5,
        "n_samples": 3,
        "base": "ga",
        "base_params": {},
        "policy": "off",
        "resample_every": 10,
        "sample_mode": "sample",
        "temperature": 1.0,
        "aug_micro_batch": 4,
    },
    gamma=1.0,
    alpha=0.0,
    retain_loss="nll",
    augments_forget_set=True,
    base_objective_keys=("base", "base_params"),
    augmentation=bs_s_augmentation,
    check_params=validate_bs_s_params,
)
