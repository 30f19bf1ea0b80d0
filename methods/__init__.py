"""Unlearning objectives by name (DESIGN section 5) and the retain losses.

One file per method; adding a method is one import and one line in OBJECTIVES. This
package is a leaf: it imports torch, never `squeeze`.

    from methods import get_objective, RETAIN_LOSSES
    objective = get_objective("bs_t")
    loss = objective.gamma * objective.forget_loss(inputs, **objective.defaults)
"""

from __future__ import annotations

import copy
from typing import Any

from methods.base import Augmentation, ForgetInputs, Objective, RetainTerm
from methods.bs_s import BS_S
from methods.bs_t import BS_T
from methods.ga import GA
from methods.graddiff import GRADDIFF
from methods.npo import NPO
from methods.retain import kl_retain_loss, nll_retain_loss, rmu_retain_loss, token_nll_retain_loss
from methods.rmu import RMU
from methods.simnpo import SIMNPO
from methods.wga import WGA

OBJECTIVES: dict[str, Objective] = {
    "ga": GA,
    "graddiff": GRADDIFF,
    "npo": NPO,
    "simnpo": SIMNPO,
    "wga": WGA,
    "rmu": RMU,
    "bs_t": BS_T,
    "bs_s": BS_S,
}

# How papers and tables write each method (leaderboards, figure legends).
DISPLAY_NAMES: dict[str, str] = {
    "ga": "GA",
    "graddiff": "GradDiff",
    "npo": "NPO",
    "simnpo": "SimNPO",
    "wga": "WGA",
    "rmu": "RMU",
    "bs_t": "BS-T",
    "bs_s": "BS-S",
}


def display_name(label: str) -> str:
    """`bs_t` -> `BS-T`, `npo: long-run` -> `NPO: long-run`: a method id as papers write it."""
    if label in DISPLAY_NAMES:
        return DISPLAY_NAMES[label]
    method, sep, rest = label.partition(": ")
    return f"{DISPLAY_NAMES[method]}: {rest}" if sep and method in DISPLAY_NAMES else label


# Logit-based retain losses; RMU's activation-based one (rmu_retain_loss) is called directly.
RETAIN_LOSSES = {"nll": nll_retain_loss, "nll_token": token_nll_retain_loss, "kl": kl_retain_loss}

# Every retain loss by name, with what the trainer must prepare for it.
RETAIN_TERMS: dict[str, RetainTerm] = {
    "nll": RetainTerm("nll", nll_retain_loss),
    "nll_token": RetainTerm("nll_token", token_nll_retain_loss),  # OpenUnlearning's token mean
    "kl": RetainTerm("kl", kl_retain_loss, needs_frozen_model=True),
    "rmu": RetainTerm("rmu", rmu_retain_loss, needs_frozen_model=True, uses_hidden_states=True),
}


def get_objective(name: str) -> Objective:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"unknown unlearning method {name!r}; known methods: {', '.join(OBJECTIVES)}") from None


def resolve_params(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The method's defaults updated by `overrides`; an unknown key is one clear error.

    Returns a fresh copy, so callers may mutate it without touching the registry. An
    objective that checks its parameters (`check_params`) has them checked; one that runs a
    base objective gets the base's parameters resolved the same way.
    """
    objective = get_objective(name)
    params = copy.deepcopy(objective.defaults)
    for key, value in (overrides or {}).items():
        if key not in params:
            known = ", ".join(sorted(params)) or "none"
            raise ValueError(f"unknown parameter {key!r} for method {name!r}; its parameters: {known}")
        params[key] = value
    if objective.check_params is not None:
        params = objective.check_params(params, list(OBJECTIVES))
    base = objective.base_of(params)
    if base is not None:
        params[objective.base_objective_keys[1]] = resolve_params(*base)
    return params


__all__ = [
    "OBJECTIVES",
    "RETAIN_LOSSES",
    "RETAIN_TERMS",
    "Augmentation",
    "ForgetInputs",
    "Objective",
    "RetainTerm",
    "get_objective",
    "kl_retain_loss",
    "nll_retain_loss",
    "resolve_params",
    "rmu_retain_loss",
    "token_nll_retain_loss",
]
