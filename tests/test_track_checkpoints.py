"""`squeeze track` (issue 15, item 3): dynamics from another trainer's checkpoint-N folders equal
the dynamics our own trainer's tracker wrote during the same run."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
from helpers.diagnose_runs import FAST
from helpers.tiny_trained import trained_world_model

from squeeze.bins.binner import BinnerSettings, build_bins
from squeeze.cli.main import main
from squeeze.core.errors import ConfigError
from squeeze.core.rundir import write_json, write_jsonl
from squeeze.diagnose.checkpoint_series import list_checkpoints
from squeeze.diagnose.pipeline import bins_meta
from squeeze.lm.models import save_model
from squeeze.track.tracker import Tracker
from squeeze.unlearn.config import UnlearnConfig
from squeeze.unlearn.trainer import run_unlearning

SETTINGS = BinnerSettings(n_candidates=4, max_new_tokens=12, batch_size=8)


class SaveLikeHFTrainer:
    """A hook that saves the model as OUT/checkpoint-N at every tracked step after 0, as the
    Hugging Face Trainer (and OpenUnlearning) lay checkpoints out."""

    def __init__(self, folder, tokenizer):
        self.folder, self.tokenizer = folder, tokenizer

    def on_step(self, step, model, trainer):
        if step:
            save_model(model, self.tokenizer, self.folder / f"checkpoint-{step}")

    def on_end(self, model, trainer):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A GA run of our trainer tracked every 2 steps, with its checkpoints saved HF-style."""
    model, tokenizer, world, _, _ = trained_world_model()
    root = tmp_path_factory.mktemp("track_ckpts")
    save_model(model, tokenizer, root / "original")
    world.write(root / "world")
    forget = world.splits["forget"]
    bins = build_bins(model, tokenizer, forget, SETTINGS, progress=False)
    cfg = UnlearnConfig(
        method="ga", original=str(root / "original"), world=str(root / "world"), out=str(root / "ga"), lr=3e-3,
        steps=6, forget_batch_size=2, track_every=2, device="cpu",
    )  # fmt: skip
    tracker = Tracker(root / "ga", tokenizer, bins, track_every=2, forget=forget, batch_size=16)
    run_unlearning(cfg, hooks=[tracker, SaveLikeHFTrainer(root / "ckpts", tokenizer)])
    # The same bins in the tracked run's folder, with the meta `squeeze track` reuses them by.
    out = root / "tracked"
    write_jsonl(out / "bins.jsonl", [b.to_dict() for b in bins])
    meta = bins_meta(SETTINGS, None, root / "original", forget)
    write_json(
        out / "bins_meta.json", {**meta, "bins_sha256": hashlib.sha256((out / "bins.jsonl").read_bytes()).hexdigest()}
    )
    return root


def test_checkpoints_are_ordered_by_the_step_in_their_names(trained_run, tmp_path):
    ckpts = trained_run / "ckpts"
    assert [s for s, _ in list_checkpoints([ckpts])] == [2, 4, 6]
    assert [s for s, _ in list_checkpoints([ckpts / "checkpoint-6", ckpts / "checkpoint-2"])] == [2, 6]
    with pytest.raises(ConfigError, match="two checkpoints have step 2"):
        list_checkpoints([ckpts, ckpts / "checkpoint-2"])
    with pytest.raises(ConfigError, match="neither a model folder nor a folder of checkpoint-N"):
        list_checkpoints([tmp_path])


@pytest.fixture(scope="module")
def tracked(trained_run):
    """`squeeze track` over the run's checkpoint folder; returns (OUT, what it printed)."""
    import contextlib
    import io

    root = trained_run
    out = root / "tracked"
    args = ["track", "--checkpoints", str(root / "ckpts"), "--reference", str(root / "original")]
    args += ["--forget", str(root / "world"), "--out", str(out), "--no-progress", "--candidates", "4"]
    args += ["--max-new-tokens", "12", "batch_size=16"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(args) == 0
    return out, printed.getvalue()


def test_track_reproduces_the_trainers_dynamics(trained_run, tracked):
    root, (out, printed) = trained_run, tracked
    key = ["step", "item_id", "group", "candidate"]
    ours = pd.read_parquet(root / "ga" / "dynamics.parquet").sort_values(key).reset_index(drop=True)
    tracked = pd.read_parquet(out / "dynamics.parquet").sort_values(key).reset_index(drop=True)
    assert sorted(tracked["step"].unique()) == [0, 2, 4, 6]
    pd.testing.assert_frame_equal(tracked[key], ours[key])
    for column in ("logp_sum", "n_tokens", "value_logp"):
        pd.testing.assert_series_equal(tracked[column], ours[column], atol=1e-4, rtol=0)
    mine, theirs = (json.loads((d / "dynamics_summary.json").read_text()) for d in (root / "ga", out))
    assert theirs["steps"] == mine["steps"] == [0, 2, 4, 6]
    assert theirs["mean"]["squeeze_peak"] == pytest.approx(mine["mean"]["squeeze_peak"], abs=1e-4)
    assert theirs["mean"]["escape_gap"] == pytest.approx(mine["mean"]["escape_gap"], abs=1e-4)
    for name in ("dynamics.png", "matched_forgetting.png"):
        assert (out / "figures" / name).stat().st_size > 10_000
    track = json.loads((out / "track.json").read_text())
    assert [c["step"] for c in track["checkpoints"]] == [2, 4, 6] and track["bins"].startswith("reused")
    assert track["provenance"]["config"]["batch_size"] == 16
    assert "tracked 3 checkpoints" in printed


def test_leaderboard_reports_the_tracked_squeeze_peak(trained_run, tracked):
    """A diagnose of the last checkpoint into OUT/diagnose makes OUT a leaderboard row whose
    squeeze peak is the one tracked over the checkpoints."""
    from squeeze.leaderboard.table import DisagreementRule, build_rows

    root, (out, _) = trained_run, tracked
    args = ["diagnose", "--model", root / "ckpts" / "checkpoint-6", "--reference", root / "original"]
    args += ["--world", root / "world", "--out", out / "diagnose", "--no-cache", *FAST]
    assert main([str(a) for a in args]) == 0
    (row,) = build_rows([out], DisagreementRule())
    tracked = json.loads((out / "dynamics_summary.json").read_text())["mean"]
    assert row["squeeze_from"] == "tracked checkpoints"
    assert row["squeeze_peak"] == pytest.approx(tracked["squeeze_peak"])
