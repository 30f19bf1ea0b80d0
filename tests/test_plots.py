"""The squeezing-effect figures (DESIGN sections 8 and 11) and `squeeze plot`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from squeeze.cli.main import main
from squeeze.core.rundir import write_parquet, write_text
from squeeze.track.plots import plot_dynamics, plot_matched_forgetting, run_label
from squeeze.track.tracker import DYNAMICS_COLUMNS, PROBE_COLUMNS

STEPS = list(range(0, 61, 10))


def synthetic_run(root, method: str, squeeze: float, seed: int, retain: bool = True):
    """A run folder with a dynamics table in which the target falls and the high bin rises
    by `squeeze` nats, and probes in which the leak falls as the target drops."""
    rng = np.random.default_rng(seed)
    rows, probes = [], []
    for item in range(12):
        base = rng.normal(-2, 0.5)
        for step in STEPS:
            t = step / STEPS[-1]
            target = base - 18 * t + rng.normal(0, 0.3)
            rows.append((step, f"i{item}", "target", -1, target, target / 8, 8, np.nan))
            for j, (group, offset, slope) in enumerate(
                [
                    ("high", -1, squeeze),
                    ("high", -2, squeeze),
                    ("mid", -5, -2),
                    ("mid", -6, -2),
                    ("low", -9, -6),
                    ("low", -10, -6),
                ]
            ):
                value = base + offset + slope * np.sin(np.pi * t) + rng.normal(0, 0.3)
                rows.append((step, f"i{item}", group, j, value, value / 9, 9, np.nan))
            probes.append(
                (step, "forget_greedy_leak", f"i{item}", float(rng.random() < 1 - 0.6 * t * (1 - squeeze / 10)), "x")
            )
            if retain:
                probes.append((step, "retain_greedy_correct", f"r{item}", float(rng.random() < 1 - 0.3 * t), "y"))
    root.mkdir(parents=True)
    write_text(root / "config.yaml", f"method: {method}\n")
    write_parquet(root / "dynamics.parquet", pd.DataFrame(rows, columns=DYNAMICS_COLUMNS))
    write_parquet(root / "probes.parquet", pd.DataFrame(probes, columns=PROBE_COLUMNS))
    return root


def assert_png(path):
    import matplotlib.image as mpimg

    assert path.exists() and path.stat().st_size > 10_000
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_plot_command_writes_each_runs_figures_and_the_comparison(tmp_path, capsys):
    runs = [
        synthetic_run(tmp_path / "runs" / name, method, sq, seed)
        for name, method, sq, seed in [
            ("ga-seed0", "ga", 3.0, 0),
            ("npo-seed0", "npo", 2.0, 1),
            ("bs_t-seed0", "bs_t", 0.5, 2),
        ]
    ]
    out = tmp_path / "compare"
    assert main(["plot", *map(str, runs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("dynamics.png", "matched_forgetting.png", "retain_vs_drop.png"):
        assert_png(out / name)
        for run in runs:
            assert_png(run / "figures" / name)
        assert str(out / name) in printed


def test_plot_one_run_and_default_comparison_folder(tmp_path):
    a = synthetic_run(tmp_path / "runs" / "a", "ga", 3.0, 0, retain=False)
    b = synthetic_run(tmp_path / "runs" / "b", "npo", 1.0, 1, retain=False)
    assert main(["plot", str(a)]) == 0
    assert_png(a / "figures" / "dynamics.png")
    assert not (a / "figures" / "retain_vs_drop.png").exists()  # no retain probe, no retain figure
    assert main(["plot", str(a), str(b)]) == 0
    assert_png(tmp_path / "runs" / "figures" / "matched_forgetting.png")


def test_without_leak_probe_there_is_no_matched_figure(tmp_path):
    assert plot_matched_forgetting([("x", pd.DataFrame({"target_drop_mean": [0.0, 1.0]}))], tmp_path / "m.png") is None
    assert not (tmp_path / "m.png").exists()


def test_labels_name_the_method(tmp_path):
    run = synthetic_run(tmp_path / "seed0", "npo", 1.0, 0)
    assert run_label(run) == "npo: seed0"
    assert run_label(synthetic_run(tmp_path / "npo-1", "npo", 1.0, 0)) == "npo-1"


def test_missing_dynamics_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["plot", str(tmp_path / "empty")]) == 1
    assert "no dynamics.parquet" in capsys.readouterr().err


def test_dynamics_figure_with_an_empty_bin(tmp_path):
    rows = [(s, "i", g, c, -1.0 - s - c, -0.1, 10, np.nan) for s in (0, 5) for g, c in [("target", -1), ("high", 0)]]
    path = plot_dynamics([("only high", pd.DataFrame(rows, columns=DYNAMICS_COLUMNS))], tmp_path / "d.png")
    assert_png(path)
