"""Issue 14, case 1: the demo skips a stage only when its fingerprint matches; a stage whose
judgments failed is not done; other settings are refused (or recomputed with --force)."""

from __future__ import annotations

import json

import pytest
from helpers.judge_server import JudgeServer

from squeeze.cli.main import main

SMALL = [
    "people=10",
    "epochs=2",
    "candidates=3",
    "steps=2",
    "track_every=1",
    "forget_batch_size=2",
    "retain_batch_size=2",
    "limit=2",
    "methods=[ga]",
    "figures_dir=",
    "judge.model=rule",
]


def demo(out, url: str, *extra) -> int:
    return main(["demo", "--out", str(out), "--judge", "openai", "--judge-base-url", url, *SMALL, *extra])


def summary(out) -> dict:
    return json.loads((out / "demo_summary.json").read_text())


@pytest.mark.slow
def test_case1_demo_reruns_failed_stages_and_never_reports_settings_it_did_not_run(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)  # the judgment cache lives under ./.cache
    out = tmp_path / "demo"
    with JudgeServer() as server:
        down = server.base_url
    # The judge server is down: every judgment fails, so diagnose (and the demo) fail ...
    assert demo(out, down) == 1
    assert "unjudged" in capfd.readouterr().err
    assert not json.loads((out / "stages" / "diagnose-ga.json").read_text())["done"]  # ... and it is not done
    with JudgeServer() as server:  # ... so once a server answers, the re-run judges
        assert demo(out, server.base_url) == 0
        assert server.requests > 0
        first = summary(out)
        assert {"world", "original", "bins", "unlearn-ga"} <= set(first["skipped_stages"])
        assert "diagnose-ga" not in first["skipped_stages"]
        capfd.readouterr()
        # Other settings: refused in one line, before any work, and nothing claims them.
        assert demo(out, server.base_url, "steps=3", "lr=0.5") == 1
        err = capfd.readouterr().err
        assert "--force" in err and "unlearn-ga" in err and "steps" in err
        assert summary(out) == first
        # --force recomputes what the change touches, and only that.
        assert demo(out, server.base_url, "steps=3", "lr=0.5", "--force") == 0
        forced = summary(out)
        assert forced["config"]["steps"] == 3 and forced["config"]["lr"] == 0.5
        assert {"world", "original", "bins"} <= set(forced["skipped_stages"])
        assert "unlearn-ga" not in forced["skipped_stages"] and "diagnose-ga" not in forced["skipped_stages"]
    logged = [json.loads(line) for line in (out / "methods" / "ga" / "loss_log.jsonl").read_text().splitlines()]
    assert max(row["step"] for row in logged) == 3
