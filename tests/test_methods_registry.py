"""The objective registry, where method defaults live, and BS-S's combination and micro-batch weights (E8)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from methods import (
    OBJECTIVES,
    RETAIN_LOSSES,
    get_objective,
    kl_retain_loss,
    nll_retain_loss,
    resolve_params,
    token_nll_retain_loss,
)
from methods.base import ForgetInputs
from methods.bs_s import augmented_micro_weights, bs_s_combine, validate_bs_s_params
from methods.ga import ga_forget_loss
from methods.wga import wga_forget_loss
from squeeze.core.config import load_yaml
from squeeze.core.resources import defaults_dir
from squeeze.unlearn.config import load_unlearn_config, resolve_objective

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["ga", "graddiff", "npo", "simnpo", "wga", "rmu", "bs_t", "bs_s"]


def test_registry_lists_the_eight_methods_and_three_retain_losses():
    assert list(OBJECTIVES) == NAMES
    assert all(OBJECTIVES[name].name == name for name in NAMES)
    # nll_token: OpenUnlearning's retain NLL (token mean over the batch), for its method presets.
    assert RETAIN_LOSSES == {"nll": nll_retain_loss, "nll_token": token_nll_retain_loss, "kl": kl_retain_loss}


def test_unknown_method_is_a_clear_error_listing_known_names():
    with pytest.raises(
        ValueError, match="unknown unlearning method 'gd'.*ga, graddiff, npo, simnpo, wga, rmu, bs_t, bs_s"
    ):
        get_objective("gd")


def test_resolve_params_copies_defaults_and_rejects_unknown_keys():
    params = resolve_params("bs_s", {"lam": 0.25})
    assert params["lam"] == 0.25 and params["n_samples"] == 3
    params["base_params"]["lam"] = 0.9  # a copy: the registry is untouched
    assert get_objective("bs_s").defaults["base_params"] == {}
    with pytest.raises(ValueError, match="unknown parameter 'lambda' for method 'bs_t'; its parameters: k, lam, tau"):
        resolve_params("bs_t", {"lambda": 0.1})


def test_flags_say_what_the_trainer_must_prepare():
    flags = {
        name: (o.needs_reference_logprobs, o.needs_hidden_states, o.augments_forget_set)
        for name, o in OBJECTIVES.items()
    }
    assert flags.pop("npo") == (True, False, False)
    assert flags.pop("rmu") == (False, True, False)
    assert flags.pop("bs_s") == (False, False, True)
    assert all(f == (False, False, False) for f in flags.values())


def test_design_defaults():
    o = OBJECTIVES
    assert (o["ga"].gamma, o["ga"].alpha) == (1.0, 0.0)
    assert (o["graddiff"].gamma, o["graddiff"].alpha, o["graddiff"].retain_loss) == (1.0, 1.0, "nll")
    assert o["npo"].defaults == {"beta": 0.1} and o["npo"].alpha == 0.0
    assert o["simnpo"].defaults == {"beta": 4.5, "delta": 0.0} and o["simnpo"].gamma == 0.125
    assert o["wga"].defaults == {"beta": 1.0}
    assert o["rmu"].defaults == {"layer": -1, "c": 2.0, "seed": 0} and o["rmu"].retain_loss == "rmu"
    assert o["bs_t"].defaults == {"lam": 0.2, "k": 20, "tau": 1.0}
    assert {k: o["bs_s"].defaults[k] for k in ("lam", "n_samples", "base", "policy")} == {
        "lam": 0.5,
        "n_samples": 3,
        "base": "ga",
        "policy": "off",
    }


def test_method_defaults_have_one_home_the_objective():
    # Issue 12, item 3: no second copy of a method's defaults (a packaged YAML) that could drift.
    stray = [p for p in defaults_dir().rglob("*.yaml") if "method" in (load_yaml(p) or {})]
    assert stray == []


@pytest.mark.parametrize("name", NAMES)
def test_a_run_with_no_settings_gets_the_objectives_defaults(name):
    cfg, obj = resolve_objective(load_unlearn_config(name, original="o", world="w", out="x"))
    assert (cfg.gamma, cfg.alpha, cfg.retain_loss) == (obj.gamma, obj.alpha, obj.retain_loss)
    assert cfg.params == resolve_params(name)
    assert set(cfg.params) == set(obj.defaults)


def test_methods_package_never_imports_squeeze():
    code = "import sys, methods; bad = [m for m in sys.modules if m.split('.')[0] == 'squeeze']; assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_bs_s_combine_is_the_e8_mixture():
    f, a = torch.tensor(-2.0), torch.tensor(-5.0)
    assert bs_s_combine(f, a, lam=0.5).item() == pytest.approx(0.5 * -2.0 + 0.5 * -5.0)
    assert bs_s_combine(f, a, lam=0.2, n_samples=3, policy="off").item() == pytest.approx(0.8 * -2.0 + 0.2 * -5.0)
    assert torch.equal(bs_s_combine(f, a, lam=0.0), f)
    with pytest.raises(ValueError, match="lam"):
        bs_s_combine(f, a, lam=1.5)


def test_micro_weights_sum_to_lambda_and_follow_sizes():
    for lam, sizes in [(0.5, [4, 4, 4]), (0.3, [4, 4, 1]), (1.0, [7]), (0.5, [3, 0, 2])]:
        weights = augmented_micro_weights(lam, sizes)
        assert math.fsum(weights) == pytest.approx(lam, abs=1e-15)
        assert weights == pytest.approx([lam * s / sum(sizes) for s in sizes])
    with pytest.raises(ValueError, match="sizes"):
        augmented_micro_weights(0.5, [])


def _random_set(n: int, vocab: int = 30, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 6, vocab, generator=g, dtype=torch.float64)
    labels = torch.randint(0, vocab, (n, 6), generator=g)
    for i in range(n):
        labels[i, : i % 4] = -100  # different answer lengths
    return logits, labels


def test_micro_batched_augmented_term_equals_the_full_batch_term():  # (E8) accumulation is exact
    lam = 0.5
    logits, labels = _random_set(7)
    full = lam * ga_forget_loss(ForgetInputs(logits=logits, labels=labels))
    chunks = [(0, 3), (3, 6), (6, 7)]  # micro-batches of 3
    weights = augmented_micro_weights(lam, [e - s for s, e in chunks])
    parts = [
        w * ga_forget_loss(ForgetInputs(logits=logits[s:e], labels=labels[s:e]))
        for w, (s, e) in zip(weights, chunks, strict=False)
    ]
    assert sum(parts).item() == pytest.approx(full.item(), abs=1e-12)
    # WGA averages over tokens, so its micro-batch sizes are answer-token counts.
    full = lam * wga_forget_loss(ForgetInputs(logits=logits, labels=labels))
    weights = augmented_micro_weights(lam, [int((labels[s:e] != -100).sum()) for s, e in chunks])
    parts = [
        w * wga_forget_loss(ForgetInputs(logits=logits[s:e], labels=labels[s:e]))
        for w, (s, e) in zip(weights, chunks, strict=False)
    ]
    assert sum(parts).item() == pytest.approx(full.item(), abs=1e-12)


def test_bs_s_params_validation():
    good = resolve_params("bs_s")
    assert validate_bs_s_params({**good, "policy": True}, list(OBJECTIVES))["policy"] == "on"  # YAML `on`
    for bad, match in [
        ({"base": "bs_s"}, "base must be one of"),
        ({"base": "nope"}, "base must be one of"),
        ({"policy": "sometimes"}, "policy"),
        ({"sample_mode": "greedy"}, "sample_mode"),
        ({"n_samples": 0}, "n_samples"),
        ({"lam": 2}, "lam"),
        ({"temperature": 0}, "temperature"),
    ]:
        with pytest.raises(ValueError, match=match):
            validate_bs_s_params({**good, **bad}, list(OBJECTIVES))


def test_print_config_shows_the_objectives_defaults_with_overrides(capsys, tmp_path):
    from squeeze.cli.main import main

    config = tmp_path / "c.yaml"
    config.write_text("method: bs_s\nlr: 0.003\n")
    assert main(["unlearn", "--config", str(config), "--print-config", "method.lam=0.3", "alpha=0.5"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    expected = resolve_params("bs_s", {"lam": 0.3})
    assert (shown["method"], shown["lr"], shown["alpha"], shown["gamma"]) == (
        "bs_s",
        0.003,
        0.5,
        OBJECTIVES["bs_s"].gamma,
    )
    assert shown["params"] == {**expected, "policy": str(expected["policy"])}
    assert main(["unlearn", "--method", "nope", "--print-config"]) == 1
