"""The wheel ships the package's defaults (issue 12, item 4).

The wheel is built from a copy of the sources, installed non-editable into a folder, and run
from a folder outside the checkout: that squeeze must read the same verdict thresholds,
embedding-judge mapping, method defaults and aggregate definitions as the checkout, and a
real `squeeze diagnose` run by it must use the checkout's thresholds and write aggregates.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import REPO
from helpers.diagnose_runs import N_TRAINED

# What each stage reads when the user names no file, as one JSON object.
PROBE = """
import json, sys
import squeeze
from methods import OBJECTIVES
from squeeze.diagnose.judging import load_embedding_settings
from squeeze.diagnose.verdict_config import load_verdict_thresholds
from squeeze.metrics.aggregate import load_aggregate_definitions
from squeeze.unlearn.config import load_unlearn_config, resolve_objective

thresholds = load_verdict_thresholds()
methods = {}
for name in OBJECTIVES:
    cfg, _ = resolve_objective(load_unlearn_config(name, original="o", world="w", out="x"))
    methods[name] = {"gamma": cfg.gamma, "alpha": cfg.alpha, "retain_loss": cfg.retain_loss, "params": cfg.params}
print(json.dumps({
    "squeeze_file": squeeze.__file__,
    "thresholds_file": thresholds.source,
    "defaults": {
        "thresholds": [thresholds.tau, thresholds.n_min, thresholds.s_min],
        "embedding_judge": load_embedding_settings(),
        "aggregates": load_aggregate_definitions(),
        "methods": methods,
    },
}))
"""


def _env(pythonpath: Path | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def _run(args: list[str], cwd: Path, pythonpath: Path | None = None, timeout: int = 900) -> str:
    done = subprocess.run(args, cwd=cwd, env=_env(pythonpath), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def probe(cwd: Path, pythonpath: Path | None = None) -> dict:
    return json.loads(_run([sys.executable, "-c", PROBE], cwd, pythonpath).splitlines()[-1])


def build_wheel(out: Path) -> Path:
    """A wheel built from a copy of the package sources (the checkout gets no build/ folder)."""
    source = out / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for package in ("squeeze", "methods", "judges"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    # With setuptools at hand, build offline in this environment; else pip fetches the backend.
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(out), str(source)], out)
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root)
    packaged = {
        f"squeeze/{p.relative_to(REPO / 'squeeze').as_posix()}" for p in (REPO / "squeeze/defaults").rglob("*.yaml")
    }
    assert len(packaged) >= 3 and packaged <= set(zipfile.ZipFile(wheel).namelist())
    target = root / "site"
    _run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        root,
    )
    return target


@pytest.mark.slow
def test_the_installed_wheel_reads_the_checkouts_defaults(installed, tmp_path):
    checkout = probe(REPO)
    ours = probe(tmp_path, pythonpath=installed)  # a folder outside the checkout
    assert Path(ours["squeeze_file"]).is_relative_to(installed)
    assert Path(ours["thresholds_file"]).is_relative_to(installed)
    assert Path(checkout["squeeze_file"]).is_relative_to(REPO)
    assert ours["defaults"] == checkout["defaults"]
    # Calibrated values, not the built-in fall-backs the issue found an installed squeeze using.
    assert checkout["defaults"]["thresholds"] != [0.5, 2.0, 3.0]
    assert checkout["defaults"]["embedding_judge"]["logprob_knots"] != [[-9.0, 0.0], [-3.0, 1.0]]


@pytest.mark.slow
def test_diagnose_run_by_the_installed_wheel_uses_the_packaged_thresholds(installed, diagnose_setup, tmp_path):
    s = diagnose_setup
    out = tmp_path / "diagnose"
    args = ["--model", s["run"] / "model", "--reference", s["original"], "--world", s["world"], "--out", out]
    args += ["--no-cache", "--limit", str(N_TRAINED), "--candidates", "4", "--max-new-tokens", "12", "--quiet"]
    _run([sys.executable, "-m", "squeeze.cli.main", "diagnose", *map(str, args)], tmp_path, pythonpath=installed)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    checkout = probe(REPO)["defaults"]
    assert [report["thresholds"][k] for k in ("tau", "n_min", "s_min")] == checkout["thresholds"]
    assert Path(report["thresholds"]["source"]).is_relative_to(installed)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["aggregates"]) == set(checkout["aggregates"])
