"""Objectives and retain losses declare what the trainer must prepare (issue 12), so the
trainer, its config and its data code never test a method's name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import methods
from methods import OBJECTIVES, RETAIN_TERMS, get_objective, resolve_params

UNLEARN = Path(__file__).resolve().parents[1] / "squeeze" / "unlearn"


def test_how_each_objective_averages():
    assert get_objective("wga").averages_over == "tokens"  # (E5): a mean over answer tokens
    assert {n for n, o in OBJECTIVES.items() if o.averages_over != "sequences"} == {"wga"}


def test_bs_s_declares_its_base_and_its_sampling():
    bs_s = get_objective("bs_s")
    params = resolve_params("bs_s", {"base": "wga", "policy": "on", "n_samples": 5, "aug_micro_batch": 2})
    assert bs_s.base_of(params) == ("wga", {"beta": 1.0})  # the base's own defaults, resolved
    plan = bs_s.augmentation(params)
    assert (plan.n_samples, plan.on_policy, plan.resample_every, plan.micro_batch) == (5, True, 10, 2)
    assert (plan.sample_mode, plan.temperature) == ("sample", 1.0)
    assert all(o.base_of(o.defaults) is None and o.augmentation is None for n, o in OBJECTIVES.items() if n != "bs_s")
    with pytest.raises(ValueError, match="base must be one of"):
        resolve_params("bs_s", {"base": "bs_s"})


def test_retain_terms_declare_what_they_need():
    needs = {name: (t.needs_frozen_model, t.uses_hidden_states) for name, t in RETAIN_TERMS.items()}
    assert needs == {"nll": (False, False), "nll_token": (False, False), "kl": (True, False), "rmu": (True, True)}
    assert RETAIN_TERMS["kl"].loss is methods.kl_retain_loss and RETAIN_TERMS["rmu"].loss is methods.rmu_retain_loss
    assert {o.retain_loss for o in OBJECTIVES.values()} <= set(RETAIN_TERMS)


def _string_constants(path: Path) -> set[str]:
    return {
        n.value
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


@pytest.mark.parametrize("module", ["trainer.py", "config.py", "data.py"])
def test_unlearn_code_names_no_method_nor_retain_loss(module):
    names = set(OBJECTIVES) | set(RETAIN_TERMS)
    assert _string_constants(UNLEARN / module) & names == set()
