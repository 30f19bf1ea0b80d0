"""The Wilson 95% interval (issue 10 item 6) and the Student-t quantile against hand
computations and scipy, and the typed
verdict rows and summary (issue 12 item 5) that carry it."""

from __future__ import annotations

import math

import pytest

from squeeze.core.intervals import Rate, t_quantile_975, wilson
from squeeze.diagnose.rows import VerdictRow, VerdictSummary


def test_wilson_against_a_hand_computation():
    # k = 3, n = 10, z = 1.96: p = 0.3, z^2 = 3.8415, 1 + z^2/n = 1.38415,
    # centre = (0.3 + 0.19207) / 1.38415 = 0.35550,
    # half = 1.96 / 1.38415 * sqrt(0.021 + 0.0096037) = 1.41600 * 0.174939 = 0.247716.
    low, high = wilson(3, 10)
    assert low == pytest.approx(0.35550 - 0.247716, abs=1e-4)
    assert high == pytest.approx(0.35550 + 0.247716, abs=1e-4)
    # k = 0: [0, z^2 / (n + z^2)], not the point the normal approximation gives.
    assert wilson(0, 10) == pytest.approx((0.0, 3.8415 / 13.8415), abs=1e-4)
    assert wilson(10, 10)[1] == pytest.approx(1.0) and wilson(10, 10)[0] == pytest.approx(10 / 13.8415, abs=1e-4)
    assert wilson(0, 0) is None
    with pytest.raises(ValueError):
        wilson(4, 3)


def test_t_quantile_against_closed_forms_and_scipy():
    # df = 1 (Cauchy): tan(0.95 pi / 2); df = 2: t = (2p - 1) / sqrt(2 p (1 - p)) at p = 0.975.
    assert t_quantile_975(1) == pytest.approx(math.tan(0.95 * math.pi / 2), abs=1e-10)
    assert t_quantile_975(2) == pytest.approx(0.95 / math.sqrt(2 * 0.975 * 0.025), abs=1e-10)
    assert t_quantile_975(9) == pytest.approx(2.262157, abs=1e-6)  # the printed tables' 2.262
    from scipy.stats import t

    # both branches: the series with bisection up to 300 df, Cornish-Fisher above
    for df in [*range(1, 40), 99, 299, 300, 301, 1000, 10**6]:
        assert t_quantile_975(df) == pytest.approx(float(t.ppf(0.975, df)), abs=1e-9), df
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            t_quantile_975(bad)


def test_rate_text_overlap_and_round_trip():
    r = Rate.of(3, 10)
    assert r.text() == "30% [11-60%] (3/10)" and r.text(counts=False) == "30% [11-60%]"
    assert Rate.of(0, 0).text() == "n/a" and Rate.of(0, 0).rate is None
    assert Rate.count([True, False, None, True]) == Rate(2, 3)
    assert Rate.from_dict(r.to_dict()) == r
    # 3/10 and 9/10 overlap ([11-60%] and [60-98%]); 1/40 and 39/40 do not.
    assert Rate.of(3, 10).overlaps(Rate.of(9, 10)) and not Rate.of(1, 40).overlaps(Rate.of(39, 40))


def test_verdict_summary_rates_sum_to_one_and_carry_intervals():
    summary = VerdictSummary.of(["spurious"] * 3 + ["forgotten"] * 6 + ["collapsed"] + ["unjudged"] * 2)
    out = summary.to_dict()
    assert out["n_items"] == 12 and out["n_judged"] == 10
    assert sum(out["rates"].values()) == pytest.approx(1.0)
    assert out["ci95"]["spurious"] == pytest.approx(list(wilson(3, 10)))
    assert out["unjudged_rate"] == pytest.approx(2 / 12)
    assert VerdictSummary.from_dict(out).counts == summary.counts
    assert not summary.resolvable and VerdictSummary.of(["forgotten"] * 30).resolvable


def test_verdict_row_round_trips_through_json_with_extras():
    row = VerdictRow(
        item_id="p1",
        question="q",
        target="t",
        generation="g",
        verdict="spurious",
        verdict_reason="r",
        similarity=4.0,
        stats={"squeeze_peak": 1.5},
        extras={"recovered": True},
    )
    data = row.to_dict()
    assert data["squeeze_peak"] == 1.5 and data["extras"] == {"recovered": True}
    assert VerdictRow.from_dict(data) == row
    with pytest.raises(ValueError, match="unknown verdict"):
        VerdictRow(item_id="p", question="q", target="t", generation="g", verdict="maybe", verdict_reason="")
    assert math.isfinite(data["similarity"])
