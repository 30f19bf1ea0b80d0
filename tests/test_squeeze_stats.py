"""Squeeze statistics (DESIGN section 8) against hand computations on a small long table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from squeeze.core.types import Fact, QARecord
from squeeze.lm.tiny import build_word_tokenizer
from squeeze.track.stats import drop_curve, item_steps, leak_rates, summarise, value_needles, value_positions

COLUMNS = ["step", "item_id", "group", "candidate", "logp_sum", "logp_mean", "n_tokens", "value_logp"]


def lse(*xs: float) -> float:
    return float(np.logaddexp.reduce(np.array(xs, dtype=float)))


# item a: target falls 0 -> -5 -> -12; high rises then falls; one mid candidate; no low candidate.
# item b: target falls only 2 nats; every bin has one candidate.
SCORES = {
    "a": {
        "target": [-1.0, -6.0, -13.0],
        "high": [[-2.0, -3.0], [-1.0, -2.5], [-4.0, -4.0]],
        "mid": [[-6.0], [-6.5], [-7.0]],
        "low": [],
    },
    "b": {
        "target": [-0.5, -1.5, -2.5],
        "high": [[-1.0], [-0.8], [-0.9]],
        "mid": [[-3.0], [-3.0], [-3.0]],
        "low": [[-9.0], [-8.0], [-7.0]],
    },
}
STEPS = [0, 10, 20]


def table() -> pd.DataFrame:
    rows = []
    for t, step in enumerate(STEPS):
        for item, groups in SCORES.items():
            rows.append(
                (step, item, "target", -1, groups["target"][t], groups["target"][t] / 4, 4, groups["target"][t] / 2)
            )
            index = 0
            for name in ("high", "mid", "low"):
                for value in groups[name][t] if groups[name] else []:
                    sibling = value / 3 if item == "a" and name == "high" else float("nan")
                    rows.append((step, item, name, index, value, value / 5, 5, sibling))
                    index += 1
    return pd.DataFrame(rows, columns=COLUMNS)


def test_bin_mass_and_escape_share_by_hand():
    steps = item_steps(table())
    a0 = steps.loc[(0, "a")]
    assert a0["mass_high"] == pytest.approx(lse(-2, -3))
    assert a0["mass_mid"] == pytest.approx(-6.0)
    assert a0["mass_low"] == -math.inf  # an empty bin holds no probability
    assert a0["escape_share"] == pytest.approx(
        (math.exp(-2) + math.exp(-3)) / (math.exp(-1) + math.exp(-2) + math.exp(-3) + math.exp(-6))
    )
    b2 = steps.loc[(20, "b")]
    assert b2["escape_share"] == pytest.approx(math.exp(-0.9) / sum(math.exp(x) for x in (-2.5, -0.9, -3.0, -7.0)))
    assert a0["value_target"] == pytest.approx(-0.5) and a0["value_siblings"] == pytest.approx((-2 / 3 - 1) / 2)
    assert math.isnan(steps.loc[(0, "b")]["value_siblings"])


def test_per_item_summaries_by_hand():
    summary = summarise(table(), drop=10.0)
    a, b = summary["items"]["a"], summary["items"]["b"]
    high_a = [lse(-2, -3), lse(-1, -2.5), lse(-4, -4)]
    assert a["squeeze_peak"] == pytest.approx(max(h - high_a[0] for h in high_a))
    assert a["escape_gap"] == pytest.approx((high_a[2] - high_a[0]) - (-13.0 - -1.0))
    assert a["delta_target"] == pytest.approx(-12.0)
    assert a["delta_mass_low"] is None  # -inf to -inf: no change to report
    assert a["matched_step"] == 20 and b["matched_step"] is None
    assert a["delta_mass_high_at_matched"] == pytest.approx(high_a[2] - high_a[0])
    assert b["squeeze_peak"] == pytest.approx(0.2)  # -1.0 -> -0.8
    assert b["delta_mass_low"] == pytest.approx(2.0)
    assert a["delta_value_target"] == pytest.approx(-6.0)
    assert a["delta_target_logp_mean"] == pytest.approx(-3.0)
    assert summary["mean"]["squeeze_peak"] == pytest.approx((a["squeeze_peak"] + 0.2) / 2)
    assert summary["median"]["delta_target"] == pytest.approx((-12.0 - 2.0) / 2)
    assert summary["mean"]["n_items_matched"] == 1
    # The run reaches a mean drop of 5 nats at step 20 ((12 + 2) / 2 = 7), not at step 10 ((5 + 1) / 2 = 3).
    assert summarise(table(), drop=5.0)["matched_forgetting"]["step"] == 20
    assert summary["steps"] == STEPS


def test_drop_curve_joins_probes_by_step():
    probes = pd.DataFrame(
        [
            (0, "forget_greedy_leak", "a", 1.0, "x"),
            (0, "forget_greedy_leak", "b", 1.0, "y"),
            (20, "forget_greedy_leak", "a", 0.0, "z"),
            (20, "forget_greedy_leak", "b", 1.0, "w"),
        ],
        columns=["step", "probe", "item_id", "value", "text"],
    )
    curve = drop_curve(table(), probes)
    assert curve["target_drop_mean"].tolist() == pytest.approx([0.0, 3.0, 7.0])
    assert curve["forget_greedy_leak"].tolist()[0] == 1.0 and math.isnan(curve["forget_greedy_leak"].tolist()[1])
    assert curve["forget_greedy_leak"].tolist()[2] == 0.5
    # the summary hands its own item table in: the same curve
    pd.testing.assert_frame_equal(drop_curve(table(), probes, item_steps(table())), curve)


def test_value_positions_find_the_longest_form():
    tok = build_word_tokenizer(["Ada lived in the city of Lyon . Lyon is nice . Porto"])
    fact = Fact(subject="Ada", relation="birthplace", value="Lyon", aliases=["the city of Lyon"])
    ids = tok("Ada lived in the city of Lyon .", add_special_tokens=False)["input_ids"]
    assert value_positions(ids, value_needles(tok, fact)) == [3, 4, 5, 6]
    other = tok("Porto is nice", add_special_tokens=False)["input_ids"]
    assert value_positions(other, value_needles(tok, fact)) == []
    assert value_needles(tok, None) == []


def test_leak_rates_apply_the_oracle_to_real_generations(trained_world):
    model, tokenizer, _, forget, _ = trained_world
    never = QARecord(
        id="never",
        question=forget[0].question,
        answer="x",
        fact=Fact(subject="s", relation="r", value="Zanzibar", aliases=[]),
    )
    result = leak_rates(model, tokenizer, forget + [never], max_new_tokens=20)
    assert result["n_items"] == len(forget) + 1
    assert result["items"]["never"] == {
        "greedy": False,
        "top5": False,
        "greedy_text": result["items"]["never"]["greedy_text"],
    }
    # The trained model still knows its facts: its greedy answers state them.
    assert all(result["items"][r.id]["greedy"] for r in forget)
    assert result["greedy_rate"] == pytest.approx(len(forget) / (len(forget) + 1))
    assert result["top5_rate"] >= result["greedy_rate"]
