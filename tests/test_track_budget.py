"""The tracker's budget (issue 13): schedule, item subsample, candidate cap, probes and figures."""

from __future__ import annotations

import pandas as pd
import pytest

from squeeze.bins.binner import BinnerSettings, build_bins
from squeeze.core.errors import ConfigError
from squeeze.core.types import BinnedCandidate, ItemBins
from squeeze.lm.models import save_model
from squeeze.track.budget import TrackBudget, kept_candidates, select_items, tracked_steps
from squeeze.track.stats import interval95
from squeeze.track.tracker import Tracker
from squeeze.unlearn.config import UnlearnConfig, load_unlearn_config
from squeeze.unlearn.trainer import run_unlearning


def test_log_schedule_is_dense_early_sparse_late_and_ends_on_the_last_step():
    steps = tracked_steps(125, TrackBudget(points=10))
    # round(125 ** (k / 9)) for k = 0..9: 1, 2, 3, 5, 9, 15, 25, 43, 73, 125
    assert steps == [0, 1, 2, 3, 5, 9, 15, 25, 43, 73, 125]
    assert tracked_steps(7, TrackBudget(points=10)) == list(range(8))  # short runs: every step
    assert tracked_steps(1, TrackBudget(points=10)) == [0, 1]


def test_every_schedule_is_the_old_grid():
    assert tracked_steps(25, TrackBudget(schedule="every"), track_every=10) == [0, 10, 20, 25]
    assert tracked_steps(25, TrackBudget(schedule="every"), track_every=0) == [0, 25]


def test_settings_from_the_config_dict():
    assert TrackBudget.from_settings({}) == TrackBudget()
    default = TrackBudget()  # no probes and no figures unless asked: diagnose measures leakage
    assert (default.probe_every, default.figures) == (0, False)
    assert TrackBudget.from_settings({"probe_every": "ends", "figures": True}).probe_every is None
    assert TrackBudget.from_settings({"figures": True}).figures is True
    assert TrackBudget().describe()["probe_every"] == 0
    assert TrackBudget(probe_every=None).describe()["probe_every"] == "ends"
    full = TrackBudget.from_settings({"items": "all", "candidates": "ALL", "probe_every": 5, "points": 4})
    assert (full.items, full.candidates, full.probe_every, full.points) == (None, None, 5, 4)
    assert TrackBudget.from_settings({}, track_every=10).schedule == "every"  # an explicit grid keeps its meaning
    assert TrackBudget.from_settings({"schedule": "log"}, track_every=10).schedule == "log"
    for bad in (
        {"itmes": 3},
        {"items": 0},
        {"candidates": "some"},
        {"schedule": "linear"},
        {"points": "all"},
        {"figures": "yes"},
    ):
        with pytest.raises(ConfigError, match="track"):
            TrackBudget.from_settings(bad)


def test_unlearn_config_exposes_the_budget_and_rejects_a_bad_one():
    cfg = load_unlearn_config(
        "ga", overrides=["track.items=all", "track.candidates=2", "track.points=5"], original="o", world="w", out="r"
    )
    assert cfg.track_budget() == TrackBudget(items=None, candidates=2, points=5)
    assert cfg.hook_steps(16) == [0, 1, 2, 4, 8, 16]
    with pytest.raises(ConfigError, match="track.items"):
        UnlearnConfig(method="ga", original="o", world="w", out="r", track={"items": -1}).check()


def _bins(n_items: int, logps: list[tuple[str, float]]) -> list[ItemBins]:
    cands = [BinnedCandidate(f"c{j}", [j + 1], lp, lp, 1, b) for j, (b, lp) in enumerate(logps)]
    return [ItemBins(f"i{k}", "q", "t", [9], -1.0, cands) for k in range(n_items)]


def test_item_subsample_is_spread_evenly_and_the_cap_keeps_the_most_likely_per_bin():
    bins = _bins(10, [("high", -1.0), ("high", -0.5), ("mid", -3.0), ("mid", -2.0), ("mid", -4.0), ("low", -9.0)])
    assert [b.item_id for b in select_items(bins, TrackBudget(items=4))] == ["i0", "i2", "i5", "i7"]
    assert len(select_items(bins, TrackBudget(items=None))) == 10
    # per bin the two most likely: high keeps both, mid keeps -2.0 and -3.0 (indices 3 and 2), low its one
    assert kept_candidates(bins[0], 2) == [0, 1, 2, 3, 5]
    assert kept_candidates(bins[0], 1) == [1, 3, 5]
    assert kept_candidates(bins[0], None) == list(range(6))


def test_interval95_is_the_student_t_interval():
    lo, hi = interval95([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.302653
    assert (lo, hi) == pytest.approx((2 - 4.302653 / 3**0.5, 2 + 4.302653 / 3**0.5), abs=1e-5)
    assert interval95([1.0]) is None and interval95([None, 2.0, 2.0]) == [2.0, 2.0]


@pytest.fixture(scope="module")
def run_inputs(tmp_path_factory, trained_world):
    model, tokenizer, world, _, _ = trained_world
    root = tmp_path_factory.mktemp("budget_run")
    save_model(model, tokenizer, root / "original")
    world.write(root / "world")
    bins = build_bins(
        model, tokenizer, world.splits["forget"], BinnerSettings(n_candidates=6, max_new_tokens=12), progress=False
    )
    return root, tokenizer, bins, world.splits["forget"], world.splits["retain"][:3]


def test_budget_tracker_scores_exactly_the_subset_of_the_full_table(run_inputs, tmp_path):
    """The budget run's rows are the full run's rows at its steps, items and kept candidates."""
    root, tokenizer, bins, forget, retain = run_inputs
    common = dict(
        method="ga", original=str(root / "original"), world=str(root / "world"), lr=3e-3, steps=9, device="cpu"
    )
    budget = TrackBudget(items=2, candidates=1, points=3, probe_every=None)  # probes at the ends
    tracked = Tracker(
        tmp_path / "b", tokenizer, bins, 0, forget=forget, retain=retain, budget=budget, make_figures=False
    )
    track = {"items": 2, "candidates": 1, "points": 3, "probe_every": "ends"}
    cfg = UnlearnConfig(out=str(tmp_path / "b"), track=track, **common)
    assert cfg.hook_steps(9) == [0, 1, 3, 9]
    run_unlearning(cfg, hooks=[tracked])
    full = Tracker(tmp_path / "f", tokenizer, bins, 1, make_figures=False)
    run_unlearning(UnlearnConfig(out=str(tmp_path / "f"), track_every=1, **common), hooks=[full])

    got = pd.read_parquet(tmp_path / "b" / "dynamics.parquet")
    want = pd.read_parquet(tmp_path / "f" / "dynamics.parquet")
    assert sorted(got["step"].unique()) == [0, 1, 3, 9]
    chosen = {b.item_id: set(kept_candidates(b, 1)) | {-1} for b in select_items(bins, budget)}
    assert len(chosen) == 2 and set(got["item_id"]) == set(chosen)
    pairs = zip(want["item_id"], want["candidate"], strict=True)
    keep = want["step"].isin([0, 1, 3, 9]) & pd.Series([c in chosen.get(i, ()) for i, c in pairs], index=want.index)
    key = ["step", "item_id", "candidate"]
    got, want = got.sort_values(key).reset_index(drop=True), want[keep].sort_values(key).reset_index(drop=True)
    assert got[key + ["group", "n_tokens"]].equals(want[key + ["group", "n_tokens"]])
    assert got["logp_sum"].tolist() == pytest.approx(want["logp_sum"].tolist(), abs=1e-4)

    probes = pd.read_parquet(tmp_path / "b" / "probes.parquet")
    assert sorted(probes["step"].unique()) == [0, 9]  # the first and last step only
    assert set(probes.loc[probes["probe"] == "forget_greedy_leak", "item_id"]) <= set(chosen)
    summary = pd.read_json(tmp_path / "b" / "dynamics_summary.json", typ="series")
    assert summary["budget"]["n_items_tracked"] == 2 and summary["budget"]["n_items_total"] == len(bins)
    assert set(summary["interval95"]) >= {"squeeze_peak", "escape_gap"}


def test_unlearn_tracks_without_probes_or_figures_by_default_and_with_them_when_asked(run_inputs, tmp_path):
    """`squeeze unlearn` on a run folder with bins.jsonl: the default budget writes the dynamics
    and their summary only; track.probe_every=ends and track.figures=true bring back the probes,
    the end-of-run leak rates and the figures."""
    from squeeze.core.rundir import write_jsonl
    from squeeze.unlearn import stage

    root, _, bins, _, _ = run_inputs
    common = dict(method="ga", original=str(root / "original"), world=str(root / "world"), lr=3e-3, steps=4)
    runs = {}
    for name, track in (("default", {}), ("asked", {"probe_every": "ends", "figures": True})):
        out = tmp_path / name
        write_jsonl(out / "bins.jsonl", [b.to_dict() for b in bins])
        stage.run(UnlearnConfig(out=str(out), device="cpu", track=track, **common))
        runs[name] = out
    summary = pd.read_json(runs["default"] / "dynamics_summary.json", typ="series")
    assert (runs["default"] / "dynamics.parquet").is_file() and "leak" not in summary
    assert summary["budget"]["probe_every"] == 0 and summary["budget"]["figures"] is False
    assert not (runs["default"] / "probes.parquet").exists() and not (runs["default"] / "figures").exists()
    asked = pd.read_json(runs["asked"] / "dynamics_summary.json", typ="series")
    assert set(asked["leak"]) >= {"greedy_rate", "top5_rate"}
    assert sorted(pd.read_parquet(runs["asked"] / "probes.parquet")["step"].unique()) == [0, 4]
    assert (runs["asked"] / "figures" / "dynamics.png").is_file()
    # diagnose draws a default run's figures (squeeze.track.plots.ensure_run_figures), once
    from squeeze.track.plots import ensure_run_figures

    drawn = ensure_run_figures(runs["default"])
    figure = runs["default"] / "figures" / "dynamics.png"
    assert figure in drawn and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stamp = figure.stat().st_mtime_ns
    assert figure in ensure_run_figures(runs["default"]) and figure.stat().st_mtime_ns == stamp
    assert ensure_run_figures(tmp_path) == []  # no dynamics, nothing to draw


def test_diagnose_report_links_the_runs_dynamics_figure():
    from squeeze.diagnose.report import _statistics_lines

    report = {
        "judge_scores": {"similarity_mean": 1.0, "naturalness_mean": 4.0, "unparsed_items": 0, "items": 2},
        "squeeze": {"mean": {}, "median": {}},
        "training_dynamics": {
            "source": "run/dynamics_summary.json",
            "mean": {"squeeze_peak": 0.1, "escape_gap": 0.2},
            "figures": ["../figures/matched_forgetting.png", "../figures/dynamics.png"],
        },
        "metrics": {},
    }
    lines = _statistics_lines(report)
    assert "![dynamics of the run](../figures/dynamics.png)" in lines
    report["training_dynamics"]["figures"] = []
    assert not any("dynamics of the run" in line for line in _statistics_lines(report))
