"""`squeeze plot --format/--dpi/--share-y` (issue 15, item 7): figures people would publish, in
png, pdf or svg, methods under their display names, optionally one y axis for every panel."""

from __future__ import annotations

import struct

import pytest
from helpers.trainer_runs import config, make_inputs

from squeeze.bins.binner import BinnerSettings, build_bins
from squeeze.cli.main import main
from squeeze.core.data import load_qa
from squeeze.core.rundir import write_jsonl
from squeeze.lm.models import load_model, load_tokenizer
from squeeze.track import plots
from squeeze.unlearn import stage

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tracked_runs(tmp_path_factory):
    """Two tracked runs of the same tiny model, GA (lr 1e-2) and GradDiff (lr 1e-3), named by method."""
    root = tmp_path_factory.mktemp("plots")
    inputs = make_inputs(root / "in")
    original = root / "in" / "original" / "original"
    model, tok = load_model(original).eval(), load_tokenizer(original)
    bins = build_bins(
        model, tok, load_qa(inputs["forget"]), BinnerSettings(n_candidates=4, max_new_tokens=8), progress=False
    )
    runs = []
    for method, lr in (("ga", "lr=1e-2"), ("graddiff", "lr=1e-3")):
        run = root / method
        write_jsonl(run / "bins.jsonl", [b.to_dict() for b in bins])
        stage.run(config(inputs, run, method, "steps=4", "track_every=2", lr))
        runs.append(run)
    return runs


def _png_width(path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


def test_formats_dpi_and_display_names(tracked_runs, tmp_path, capsys):
    out = tmp_path / "svg"
    assert main(["plot", *map(str, tracked_runs), "--out", str(out), "--format", "svg"]) == 0
    svg = (out / "dynamics.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and ">GA<" in svg and ">GradDiff<" in svg  # display names, kept as text
    assert ">graddiff<" not in svg
    assert main(["plot", str(tracked_runs[0]), "--out", str(tmp_path / "pdf"), "--format", "pdf"]) == 0
    assert (tmp_path / "pdf" / "dynamics.pdf").read_bytes()[:5] == b"%PDF-"
    widths = []
    for dpi in (50, 150):
        assert main(["plot", str(tracked_runs[0]), "--out", str(tmp_path / f"d{dpi}"), "--dpi", str(dpi)]) == 0
        widths.append(_png_width(tmp_path / f"d{dpi}" / "dynamics.png"))
    assert widths[1] == pytest.approx(3 * widths[0], rel=0.05)
    capsys.readouterr()
    assert main(["plot", str(tracked_runs[0]), "--format", "gif"]) == 1
    assert "--format must be one of ['png', 'pdf', 'svg']" in capsys.readouterr().err


def test_share_y_gives_every_panel_one_range(tracked_runs, tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, dpi=120: figures.append(fig) or path)
    runs = [(name, plots.load_run(run)[0]) for name, run in zip(("GA", "GradDiff"), tracked_runs, strict=True)]
    plots.plot_dynamics(runs, tmp_path / "own.png")
    plots.plot_dynamics(runs, tmp_path / "shared.png", share_y=True)
    own, shared = ([ax.get_ylim() for ax in fig.axes[:2]] for fig in figures)
    assert own[0] != pytest.approx(own[1])  # GA at lr 1e-2 moves far more than GradDiff at 1e-3
    assert shared[0] == pytest.approx(shared[1])
    assert shared[0][0] <= min(own[0][0], own[1][0]) and shared[0][1] >= max(own[0][1], own[1][1])
