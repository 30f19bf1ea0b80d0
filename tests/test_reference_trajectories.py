"""Each method's per-step losses and target log-prob on a fixed tiny model and seed match the
recorded reference (tests/reference_trajectories/, TRL-style invariant tests; issue 12)."""

from __future__ import annotations

import json

import pytest
from helpers.trajectories import STEPS, TOLERANCE, reference_file, trajectory, trajectory_inputs

import methods


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    return trajectory_inputs(tmp_path_factory.mktemp("trajectory_inputs"))


@pytest.mark.parametrize("method", list(methods.OBJECTIVES))
def test_trajectory_matches_its_reference(method, inputs, tmp_path):
    path = reference_file(method)
    assert path.is_file(), f"no reference for {method}: run tests/reference_trajectories/regenerate.py {method}"
    reference = json.loads(path.read_text(encoding="utf-8"))
    got = trajectory(method, inputs, tmp_path / method)
    assert got["settings"] == reference["settings"]
    assert [r["step"] for r in got["losses"]] == list(range(1, STEPS + 1))
    assert [r["step"] for r in got["target_logp"]] == list(range(STEPS + 1))
    for ours, theirs in zip(got["losses"], reference["losses"], strict=True):
        for key in ("loss", "forget", "retain"):
            assert ours[key] == pytest.approx(theirs[key], **TOLERANCE), (method, ours["step"], key)
    for ours, theirs in zip(got["target_logp"], reference["target_logp"], strict=True):
        assert ours["mean_logp_sum"] == pytest.approx(theirs["mean_logp_sum"], **TOLERANCE), (method, ours["step"])


def test_the_trajectories_move():
    """The references record training, not a constant: the target's log-prob changes."""
    for method in methods.OBJECTIVES:
        values = [r["mean_logp_sum"] for r in json.loads(reference_file(method).read_text())["target_logp"]]
        assert values[-1] != pytest.approx(values[0], rel=1e-3), method
