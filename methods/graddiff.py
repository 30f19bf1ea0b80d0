"""Gradient difference (GradDiff): DESIGN section 5, equation (E2).

Liu, Liu and Stone 2022, "Continual Learning and Private Unlearning"; the TOFU baseline
(Maini et al. 2024). The forget term is GA's (E1); the retain NLL is added with equal
weight (gamma = alpha = 1), so the model descends on D_r while it ascends on D_u.

    squeeze unlearn --method graddiff --original runs/original --world runs/world --out runs/graddiff
"""

from __future__ import annotations

from methods.base import Objective
from methods.ga import ga_forget_loss

GRADDIFF = Objective(
    name="graddiff",
    forget_loss=ga_forget_loss,
    defaults={"reduction": "sequence"},
    gamma=1.0,
    alpha=1.0,
    retain_loss="nll",
)
