"""`squeeze unlearn report_to=tensorboard` (issue 15, item 4): the event files hold every loss
row, the learning rate and the tracker's curves, read back with TensorBoard's own reader."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers.trainer_runs import config, log_rows, make_inputs

from squeeze.bins.binner import BinnerSettings, build_bins
from squeeze.core.errors import ConfigError
from squeeze.core.rundir import write_jsonl
from squeeze.lm.models import load_model, load_tokenizer
from squeeze.track.plots import dynamics_deltas
from squeeze.unlearn import stage

pytestmark = pytest.mark.usefixtures("one_thread")


def read_scalars(log_dir) -> dict[str, dict[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """A 4-step GradDiff run with the tracker on (bins in the run folder) and TensorBoard logging."""
    root = tmp_path_factory.mktemp("tb")
    inputs = make_inputs(root / "in")
    original = root / "in" / "original" / "original"
    model, tok = load_model(original).eval(), load_tokenizer(original)
    from squeeze.core.data import load_qa

    forget = load_qa(inputs["forget"])
    bins = build_bins(
        model, tok, forget, BinnerSettings(n_candidates=4, max_new_tokens=8, batch_size=8), progress=False
    )
    run = root / "run"
    write_jsonl(run / "bins.jsonl", [b.to_dict() for b in bins])
    cfg = config(inputs, run, "graddiff", "steps=4", "track_every=2", "report_to=tensorboard", "warmup_steps=2")
    stage.run(cfg)
    return run


def test_losses_and_lr_are_scalars_at_every_step(tracked_run):
    scalars = read_scalars(tracked_run / "tensorboard")
    rows = log_rows(tracked_run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for key in ("loss", "forget", "retain"):
        assert scalars[f"loss/{key}"] == pytest.approx({r["step"]: r[key] for r in rows}, rel=1e-6), key
    # warm-up from 0: the logged lr rises, so a constant or missing lr would fail here.
    assert scalars["lr"] == pytest.approx({r["step"]: r["lr"] for r in rows}, rel=1e-6)
    assert scalars["lr"][1] < scalars["lr"][3]


def test_tracker_curves_match_the_dynamics_table(tracked_run):
    scalars = read_scalars(tracked_run / "tensorboard")
    dynamics = pd.read_parquet(tracked_run / "dynamics.parquet")
    deltas = dynamics_deltas(dynamics)
    steps = sorted(set(dynamics["step"]))
    assert steps == [0, 2, 4]
    for column in ("target", "mass_high", "mass_mid", "mass_low"):
        expected = {s: float(deltas.xs(s, level="step")[column].median()) for s in steps}
        expected = {s: v for s, v in expected.items() if np.isfinite(v)}
        assert scalars[f"dynamics/{column}"] == pytest.approx(expected, abs=1e-5), column
    assert scalars["dynamics/target"][0] == 0.0  # change since step 0
    assert scalars["dynamics/target"][4] < 0  # GradDiff pushes the target down
    # The mean target drop, by hand from the table: the target rows' logp_sum at step 0 minus at step 4.
    target = dynamics[dynamics["group"] == "target"].pivot_table(index="item_id", columns="step", values="logp_sum")
    assert scalars["dynamics/target_drop_mean"][4] == pytest.approx(float((target[0] - target[4]).mean()), abs=1e-4)


def test_without_report_to_no_event_files_and_a_bad_value_is_one_error(tmp_path):
    inputs = make_inputs(tmp_path / "in")
    stage.run(config(inputs, tmp_path / "plain", "ga"))
    assert not (tmp_path / "plain" / "tensorboard").exists()
    assert json.loads((tmp_path / "plain" / "loss_log.jsonl").read_text().splitlines()[0])["step"] == 1
    with pytest.raises(ConfigError, match="report_to must be one of"):
        config(inputs, tmp_path / "bad", "ga", "report_to=wandb").check()
