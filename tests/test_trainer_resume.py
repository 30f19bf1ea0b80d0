"""Resume after SIGKILL (DESIGN section 6): a real subprocess is killed mid-run, restarted
with --resume, and ends with the weights of an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO
from helpers.trainer_runs import config, log_rows, make_inputs, quiet_env, weights

from squeeze.unlearn.checkpoint import latest_checkpoint
from squeeze.unlearn.trainer import run_unlearning

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

# The run under test: the real trainer with a hook that paces it, so the parent can kill it
# between checkpoints (a hook's state travels through checkpoints like the tracker's).
SCRIPT = """
import json, sys, time
import torch
torch.set_num_threads(1)
from squeeze.unlearn.trainer import run_unlearning
from squeeze.unlearn.config import load_unlearn_config

class Pace:
    def on_step(self, step, model, trainer):
        time.sleep(0.05)
    def on_end(self, model, trainer):
        pass
    def state_dict(self):
        return {}
    def load_state_dict(self, state):
        pass

args = json.loads(sys.argv[1])
cfg = load_unlearn_config(args["method"], [], args["overrides"], **args["values"])
run_unlearning(cfg, hooks=[Pace()], resume=args["resume"])
"""

SETTINGS = ["steps=40", "checkpoint_every=3", "track_every=1", "lr=1e-3", "warmup_steps=5", "schedule=linear"]


def launch(script: Path, inputs: dict, out: Path, resume: bool) -> subprocess.Popen:
    overrides = ["device=cpu", "forget_batch_size=2", "retain_batch_size=2", *SETTINGS]
    args = {"method": "graddiff", "overrides": overrides, "values": {**inputs, "out": str(out)}, "resume": resume}
    return subprocess.Popen(
        [sys.executable, str(script), json.dumps(args)],
        cwd=REPO,
        env=quiet_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def logged_steps(out: Path) -> int:
    try:
        lines = (out / "loss_log.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    return len(lines)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    inputs = make_inputs(tmp_path / "inputs")
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    killed = tmp_path / "killed"
    proc = launch(script, inputs, killed, resume=False)
    deadline = time.time() + 90
    while logged_steps(killed) < 17 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    checkpoint = latest_checkpoint(killed / "checkpoint")
    assert checkpoint is not None and 15 <= int(checkpoint.name.split("-")[1]) < 40
    assert not (killed / "model").exists()

    resumed = launch(script, inputs, killed, resume=True)
    assert resumed.wait(timeout=90) == 0, resumed.stderr.read()[-2000:]
    straight = run_unlearning(config(inputs, tmp_path / "straight", "graddiff", *SETTINGS, "track_every=0"))
    assert [r["step"] for r in log_rows(killed)] == list(range(1, 41))
    for a, b in zip(log_rows(killed), log_rows(straight), strict=False):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6) and a["lr"] == pytest.approx(b["lr"], rel=1e-12)
    wk, ws = weights(killed / "model"), weights(straight / "model")
    assert max(float((wk[k] - ws[k]).abs().max()) for k in ws) <= 1e-6
