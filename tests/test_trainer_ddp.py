"""Scale-out on a real engine (DESIGN section 6): two CPU processes under `accelerate launch`
(DDP over gloo) with batch b each follow one process with batch 2b."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import REPO
from helpers.trainer_runs import config, log_rows, make_inputs, quiet_env, weights

from squeeze.unlearn.trainer import run_unlearning

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_processes_follow_one_process_with_double_batch(tmp_path):
    inputs = make_inputs(tmp_path / "inputs")
    settings = ["device=cpu", "steps=4", "lr=1e-2", "track_every=0"]
    two = tmp_path / "two"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "configs" / "accelerate" / "cpu_2proc.yaml"),
        "--main_process_port",
        str(free_port()),
        "-m",
        "squeeze.cli.main",
        "unlearn",
        "--method",
        "graddiff",
        "--original",
        inputs["original"],
        "--forget",
        inputs["forget"],
        "--retain",
        inputs["retain"],
        "--out",
        str(two),
        *settings,
        "forget_batch_size=2",
        "retain_batch_size=2",
    ]
    done = subprocess.run(cmd, cwd=REPO, env=quiet_env(), capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr[-3000:]
    one = run_unlearning(
        config(inputs, tmp_path / "one", "graddiff", *settings, "forget_batch_size=4", "retain_batch_size=4")
    )
    rows_two, rows_one = log_rows(two), log_rows(one)
    assert [r["step"] for r in rows_two] == [1, 2, 3, 4]  # one log, written by the main process only
    for a, b in zip(rows_two, rows_one, strict=False):
        for key in ("loss", "forget", "retain"):
            assert a[key] == pytest.approx(b[key], abs=1e-5), (a, b)
    w2, w1 = weights(two / "model"), weights(one / "model")
    assert max(float((w2[k] - w1[k]).abs().max()) for k in w1) < 1e-5
    assert any(not torch.equal(w1[k], weights(Path(inputs["original"]) / "original")[k]) for k in w1)
