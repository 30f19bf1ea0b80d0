"""The verdict rule of DESIGN section 10 (as issue 10 redesigned it: every verdict reads the
answer) on hand cases, None scores and sampled answers included, and the agreement
statistics against the world's leakage oracle."""

from __future__ import annotations

import math

import pytest

from squeeze.diagnose.verdict import (
    UNJUDGED,
    VerdictThresholds,
    cohen_kappa,
    decide,
    leak_agreement,
    thresholds_from_mapping,
    verdict_rates,
)
from squeeze.diagnose.verdict_config import load_verdict_thresholds as load_thresholds

T = VerdictThresholds(tau=0.5, n_min=2.0, s_min=3.0)


@pytest.mark.parametrize(
    "drop, similarity, naturalness, expected",
    [
        (0.0, 5.0, 5.0, "retained"),  # nothing fell, the answer conveys the fact
        (0.49, 3.0, 2.0, "retained"),  # fell by less than tau; Similarity at s_min, Naturalness at n_min
        (0.49, 0.0, 0.0, "collapsed"),  # the target barely moved, yet the answer is not language
        (-3.0, 1.0, 4.0, "forgotten"),  # the target rose, but the answer no longer conveys the fact
        (0.5, 5.0, 1.99, "collapsed"),  # broken language
        (4.0, 5.0, 0.0, "collapsed"),
        (0.5, 5.0, 4.0, "spurious"),  # fell exactly tau: suppressed, and the fact is still there
        (4.0, 3.0, 2.0, "spurious"),  # Similarity at s_min, Naturalness at n_min
        (4.0, 2.99, 4.0, "forgotten"),
        (math.inf, 0.0, 5.0, "forgotten"),  # the target became impossible
    ],
)
def test_rule_on_hand_cases(drop, similarity, naturalness, expected):
    assert decide(drop, similarity, naturalness, T).verdict == expected


def test_none_scores_are_unjudged_only_where_the_rule_needs_them():
    # Every verdict reads the answer: without its scores nothing can be said, even if the target did not move.
    assert decide(0.1, None, None, T).verdict == UNJUDGED
    assert decide(0.1, None, 4.0, T).verdict == UNJUDGED
    # Naturalness is needed first: None is unjudged, never read as 0 (which would say collapsed).
    assert decide(2.0, 5.0, None, T).verdict == UNJUDGED
    assert decide(2.0, None, None, T).verdict == UNJUDGED
    # A collapsed answer needs no Similarity.
    assert decide(2.0, None, 1.0, T).verdict == "collapsed"
    # A fluent answer needs Similarity: None is unjudged, never read as 0 (which would say forgotten).
    verdict = decide(2.0, None, 4.0, T)
    assert verdict.verdict == UNJUDGED and "Similarity" in verdict.reason
    # An undefined log-prob change cannot be judged either.
    assert decide(float("nan"), 5.0, 5.0, T).verdict == UNJUDGED


def test_thresholds_move_the_boundaries():
    strict = VerdictThresholds(tau=3.0, n_min=4.5, s_min=4.9)
    assert decide(2.0, 5.0, 5.0, strict).verdict == "retained"
    assert decide(2.0, 4.8, 5.0, strict).verdict == "forgotten"  # the target barely moved, the answer lost the fact
    assert decide(4.0, 5.0, 4.0, strict).verdict == "collapsed"
    assert decide(4.0, 4.8, 5.0, strict).verdict == "forgotten"


def test_rates_sum_to_one_over_judged_items_and_count_unjudged():
    verdicts = ["spurious", "spurious", "forgotten", "collapsed", "retained", "unjudged", "spurious", "unjudged"]
    out = verdict_rates(verdicts)
    assert out["n_items"] == 8 and out["n_judged"] == 6
    assert out["counts"] == {"retained": 1, "forgotten": 1, "spurious": 3, "collapsed": 1, "unjudged": 2}
    assert out["rates"]["spurious"] == pytest.approx(3 / 6)
    assert sum(out["rates"].values()) == pytest.approx(1.0)
    assert out["unjudged_rate"] == pytest.approx(2 / 8)


def test_rates_when_nothing_was_judged_are_undefined_not_zero():
    out = verdict_rates(["unjudged", "unjudged"])
    assert out["n_judged"] == 0 and all(v is None for v in out["rates"].values())
    with pytest.raises(ValueError, match="unknown verdict"):
        verdict_rates(["spurious", "maybe"])


def test_cohen_kappa_against_a_hand_computation():
    # p_o = 3/4; p_a = 1/2, p_b = 1/4; p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2; kappa = (3/4 - 1/2) / (1/2) = 1/2.
    assert cohen_kappa([True, True, False, False], [True, False, False, False]) == pytest.approx(0.5)
    assert cohen_kappa([True, False, True], [True, False, True]) == pytest.approx(1.0)
    assert cohen_kappa([True, False], [False, True]) == pytest.approx(-1.0)
    assert cohen_kappa([True, True], [True, True]) is None  # one class only: chance agreement is 1


def test_leak_agreement_on_a_hand_case():
    verdicts = ["spurious", "retained", "forgotten", "forgotten", "collapsed", "unjudged", "spurious"]
    leaks = [True, True, True, False, False, True, None]  # the last item has no fact
    out = leak_agreement(verdicts, leaks)
    assert out["n_items"] == 6 and out["n_judged"] == 5
    assert out["leak_rate"] == pytest.approx(4 / 6)
    assert out["by_verdict"]["forgotten"] == {"n": 2, "leaks": 1}
    assert out["by_verdict"]["unjudged"] == {"n": 1, "leaks": 1}
    # Judged leaking items: spurious, retained, forgotten -> 2 of 3 judged as still knowing.
    assert out["leaking_judged_knows"] == pytest.approx(2 / 3)
    assert out["clean_judged_gone"] == pytest.approx(1.0)
    assert out["agreement"] == pytest.approx(4 / 5)
    # leaks (T,T,T,F,F) vs knows (T,T,F,F,F): p_o 4/5, p_e 3/5*2/5 + 2/5*3/5 = 12/25 -> kappa = (20/25-12/25)/(13/25) = 8/13.
    assert out["kappa"] == pytest.approx(8 / 13)
    assert leak_agreement(["spurious"], [None]) == {"n_items": 0, "leak_rate": None}


def test_thresholds_from_yaml_and_mapping(tmp_path):
    path = tmp_path / "verdict.yaml"
    path.write_text("tau: 0.7\nn_min: 1.5\ns_min: 3.5\n", encoding="utf-8")
    loaded = load_thresholds(path)
    assert (loaded.tau, loaded.n_min, loaded.s_min) == (0.7, 1.5, 3.5)
    partial = thresholds_from_mapping({"tau": 2}, "test")
    assert (partial.tau, partial.n_min, partial.s_min) == (2.0, VerdictThresholds().n_min, VerdictThresholds().s_min)
    default = load_thresholds(None)
    assert default.tau > 0 and 0 <= default.n_min <= 5 and 0 <= default.s_min <= 5


def test_a_truncated_answer_is_never_judged_as_complete():
    # Cut off at max_new_tokens: not spurious or forgotten on what was read ...
    assert decide(4.0, 5.0, 4.0, T, truncated=True).verdict == UNJUDGED
    assert decide(4.0, 0.0, 4.0, T, truncated=True).verdict == UNJUDGED
    assert "max_new_tokens" in decide(4.0, 5.0, 4.0, T, truncated=True).reason
    # ... but what was read is already broken language: collapsed.
    assert decide(4.0, 5.0, 1.0, T, truncated=True).verdict == "collapsed"


def test_a_retained_item_whose_answer_changed_is_not_retained():
    # The target barely moved (0.2 nats/token), but the answer names another city: the fact is gone.
    verdict = decide(0.2, 0.8, 4.5, T)
    assert verdict.verdict == "forgotten" and "barely moved" in verdict.reason


def test_sampled_answers_tell_knowing_from_guessing():
    # The greedy answer names the right value, but only 1 of 4 samples does: a lucky guess.
    guess = decide(4.0, 4.5, 4.5, T, support=0.25)
    assert guess.verdict == "forgotten" and "guess" in guess.reason
    # Most samples convey it too: knowledge, still there after the target fell.
    assert decide(4.0, 4.5, 4.5, T, support=0.75).verdict == "spurious"
    assert decide(0.1, 4.5, 4.5, T, support=0.5).verdict == "retained"  # at min_support
    assert decide(0.1, 4.5, 4.5, T, support=0.49).verdict == "forgotten"
    # Samples never turn an answer that lacks the fact into knowledge.
    assert decide(4.0, 1.0, 4.5, T, support=1.0).verdict == "forgotten"
    with pytest.raises(Exception, match="min_support"):
        VerdictThresholds(min_support=1.5)
