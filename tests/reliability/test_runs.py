"""Issue 14, cases 3 and 4: failed judgments fail `diagnose`; run folders are locked and
never mix two runs; train-original's workers die with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers.judge_server import JudgeServer
from helpers.tiny_runs import diagnose_args, tiny

from squeeze.cli.main import main

PREVIOUS = ("report.md", "report.json", "judgments.jsonl", "metrics.json", "generations.jsonl")


def _squeeze(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "squeeze.cli.main", *args], env=env, **kwargs)


def _wait_for(condition, timeout_s: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_case3_diagnose_with_every_judgment_failed_exits_nonzero_and_writes_no_report(tmp_path, capfd):
    with JudgeServer() as server:
        url = server.base_url  # nobody listens here once the server has stopped
    out = tmp_path / "diag"
    code = main(diagnose_args(out, url))
    err = capfd.readouterr().err
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("squeeze: error:")] == [
        next(line for line in err.splitlines() if "2 of 2 items unjudged" in line)
    ]
    assert (out / "judgments.jsonl").is_file()  # what failed can be read ...
    assert not (out / "report.json").exists() and not (out / "report.md").exists()  # ... but no report


def test_case4_second_run_into_a_folder_in_use_refuses_and_a_dead_runs_lock_is_taken_over(tmp_path, capfd):
    out = tmp_path / "diag"
    with JudgeServer(slow_s=600) as server:
        server.plan.for_item("", "slow", times=1000)  # the first run stays in judging
        first = _squeeze(diagnose_args(out, server.base_url, "--judge-timeout", "600", "--no-cache"))
        try:
            _wait_for(lambda: server.requests > 0 or first.poll() is not None, what="the first run to judge")
            assert first.poll() is None
            config = (out / "config.yaml").read_text()
            code = main(diagnose_args(out, server.base_url, "--candidates", "3", "--no-cache"))
            err = capfd.readouterr().err
            assert code == 1 and f"in use by another squeeze run (pid {first.pid})" in err
            assert (out / "config.yaml").read_text() == config  # the first run's files are untouched
        finally:
            first.kill()
            first.wait()
    # Killed, the first run could not let go: its lock file (with its pid) is stale and taken over.
    assert (out / ".squeeze.lock").read_text().strip() == str(first.pid)
    with JudgeServer() as server:
        assert main(diagnose_args(out, server.base_url)) == 0
    assert (out / "report.json").is_file() and not (out / ".squeeze.lock").exists()


def test_case4_killed_diagnose_leaves_no_outputs_of_the_previous_run(tmp_path):
    out = tmp_path / "diag"
    with JudgeServer() as server:
        assert main(diagnose_args(out, server.base_url)) == 0
        assert all((out / name).is_file() for name in PREVIOUS)
        # A second diagnosis (another candidate count) that hangs in judging, then is killed.
        server.slow_s = 600
        server.plan.for_item("", "slow", times=1000)
        server.reset_counts()
        run = _squeeze(diagnose_args(out, server.base_url, "--candidates", "3", "--judge-timeout", "600", "--no-cache"))
        try:
            _wait_for(lambda: server.requests > 0 or run.poll() is not None, what="the second run to judge")
            assert run.poll() is None
            run.send_signal(signal.SIGKILL)
            run.wait()
        finally:
            if run.poll() is None:
                run.kill()
    assert (
        "n_candidates: 3" in (out / "config.yaml").read_text() or "candidates: 3" in (out / "config.yaml").read_text()
    )
    left = [name for name in PREVIOUS if name != "generations.jsonl" and (out / name).exists()]
    assert left == [], f"the earlier run's {left} sit beside the new config.yaml"


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        found.update(int(c) for c in children)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_case4_killed_train_original_takes_its_workers_with_it(tmp_path):
    out = tmp_path / "orig"
    parent = _squeeze(
        ["train-original", "--world", str(tiny()["world"]), "--out", str(out), "epochs=100000", "threads=1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    try:

        def two_workers():
            workers.update(c for c in _children(parent.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text())
            return len(workers) >= 2

        _wait_for(two_workers, what="two training workers")
        time.sleep(1.0)  # let them get into training
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        _wait_for(lambda: not any(_alive(w) for w in workers), timeout_s=60, what="the orphaned workers to end")
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
    assert not (out / "original").exists() and not (out / "retain").exists()
