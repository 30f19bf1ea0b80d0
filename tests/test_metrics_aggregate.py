"""Named Mem/Util/Agg aggregates from squeeze/defaults/benchmarks/aggregates.yaml (DESIGN section 9)
by hand, and the one-call metric suite on a tiny Llama."""

import pytest
from helpers.metric_records import FACTS, FORGET, HOLDOUT, RETAIN

from squeeze.core.errors import ConfigError
from squeeze.lm.tiny import tiny_model_and_tokenizer
from squeeze.metrics import (
    aggregate,
    aggregate_all,
    answer_ces,
    harmonic_mean,
    item_truth_ratios,
    load_aggregate_definitions,
    probability,
    tofu_metrics,
)


def test_definitions_load_and_name_both_readings():
    defs = load_aggregate_definitions()
    assert {"paper", "openunlearning_tofu", "muse"} <= set(defs)
    assert defs["paper"]["total"] == {"name": "agg", "of": ["mem", "util"]}


def test_paper_aggregate_by_hand():
    metrics = {"forget_prob": 0.2, "forget_rouge": 0.5, "forget_truth_ratio": 0.4, "model_utility": 0.6}
    out = aggregate(metrics, load_aggregate_definitions()["paper"])
    # Mem = HM(1 - 0.2, 1 - 0.5, 0.4) = 3 / (1.25 + 2 + 2.5); Util = 0.6; Agg = HM(Mem, Util).
    mem = 3 / 5.75
    assert out["mem"] == pytest.approx(mem)
    assert out["util"] == pytest.approx(0.6)
    assert out["agg"] == pytest.approx(2 / (1 / mem + 1 / 0.6))


def test_openunlearning_aggregate_by_hand():
    metrics = {
        "forget_es": 0.5,
        "forget_em": 0.75,
        "forget_paraphrased_prob": 0.5,
        "forget_truth_ratio": 0.5,
        "privleak": -40.0,
        "model_utility": 0.5,
    }
    out = aggregate(metrics, load_aggregate_definitions()["openunlearning_tofu"])
    # Mem = HM(0.5, 0.25, 0.5, 0.5) = 4 / (2 + 4 + 2 + 2); Priv = 1 - 40/100; Util = 0.5.
    assert out["mem"] == pytest.approx(0.4)
    assert out["priv"] == pytest.approx(0.6)
    assert out["agg"] == pytest.approx(harmonic_mean([0.4, 0.6, 0.5]))


def test_a_fully_memorised_metric_zeroes_the_aggregate():
    metrics = {"forget_prob": 1.0, "forget_rouge": 0.1, "forget_truth_ratio": 0.9, "model_utility": 0.9}
    out = aggregate(metrics, load_aggregate_definitions()["paper"])
    assert out["mem"] == 0.0 and out["agg"] == 0.0


def test_missing_metrics_and_bad_definitions():
    paper = load_aggregate_definitions()["paper"]
    with pytest.raises(ConfigError, match="forget_rouge"):
        aggregate({"forget_prob": 0.2, "forget_truth_ratio": 0.4, "model_utility": 0.6}, paper)
    out = aggregate({"forget_prob": 0.5, "model_utility": 0.5}, paper, allow_missing=True)
    assert out == pytest.approx({"mem": 0.5, "util": 0.5, "agg": 0.5})
    assert aggregate({"forget_prob": 0.5}, paper, allow_missing=True) == pytest.approx(
        {"mem": 0.5, "util": None, "agg": 0.5}
    )
    with pytest.raises(ConfigError, match="transform"):
        aggregate({"x": 0.5}, {"groups": {"g": {"x": "square"}}})
    with pytest.raises(ConfigError):
        load_aggregate_definitions("/nonexistent/aggregates.yaml")


# ------------------------------------------------------------------ the suite on a tiny model


def test_tofu_metrics_suite_on_tiny_models():
    corpus = [
        t
        for r in FORGET + RETAIN + FACTS + HOLDOUT
        for t in (r.question, r.answer, r.paraphrased_answer or "", *(r.perturbed_answer or []))
    ]
    model, tok = tiny_model_and_tokenizer(corpus, hidden_size=32, num_layers=2, num_heads=2, seed=5)
    retain_model, _ = tiny_model_and_tokenizer(corpus, hidden_size=32, num_layers=2, num_heads=2, seed=6)
    generations = {"forget": ["Ada was born in Rome .", "nothing"], "retain": ["Cy lives in Lima ."]}
    m = tofu_metrics(
        model,
        tok,
        FORGET,
        retain=RETAIN,
        world_facts=FACTS,
        generations=generations,
        retain_model=retain_model,
        holdout=HOLDOUT,
    )
    assert {
        "forget_prob",
        "forget_paraphrased_prob",
        "forget_rouge",
        "forget_truth_ratio",
        "forget_quality",
        "forget_es",
        "forget_em",
        "privleak",
        "retain_prob",
        "retain_rouge",
        "retain_truth_ratio",
        "world_facts_prob",
        "world_facts_truth_ratio",
        "model_utility",
    } == set(m)
    ces = answer_ces(model, tok, [r.question for r in FORGET], [r.answer for r in FORGET])
    assert m["forget_prob"] == pytest.approx(probability(ces))
    assert m["forget_rouge"] == pytest.approx(0.5)  # one exact answer, one with no word in common
    assert m["retain_rouge"] == pytest.approx(1.0)
    # Two truth ratios per model: the exact KS p-value is 2/6 when the samples are separated
    # (D = 1: 2 of the C(4,2) orderings) and 1 otherwise (D <= 1/2 is always reached).
    a, b = item_truth_ratios(model, tok, FORGET), item_truth_ratios(retain_model, tok, FORGET)
    separated = max(a) < min(b) or max(b) < min(a)
    assert m["forget_quality"] == pytest.approx(1 / 3 if separated else 1.0)
    parts = [m[f"{s}_{k}"] for s in ("retain", "world_facts") for k in ("prob", "truth_ratio")] + [m["retain_rouge"]]
    assert m["model_utility"] == pytest.approx(harmonic_mean(parts))
    table = aggregate_all(m, load_aggregate_definitions())
    assert set(table) >= {"paper", "openunlearning_tofu"}
    assert 0.0 <= table["paper"]["agg"] <= 1.0
