"""Issue 14, cases 7 and 8: names are checked against their registries and never used as
paths; Markdown, HTML and CSV outputs escape run names; files follow the user's umask."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys

from helpers.tiny_runs import tiny

from squeeze.cli.main import main


def test_case7_a_method_name_is_never_a_path(tmp_path, capfd):
    evil = tmp_path / "evil.yaml"
    evil.write_text("lr: [unclosed\n")  # were it read, the error would name this file
    t = tiny()
    args = ["unlearn", "--original", str(t["original"]), "--world", str(t["world"]), "--out", str(tmp_path / "run")]
    for name in (str(tmp_path / "evil"), "../../" + str(tmp_path / "evil").lstrip("/")):
        assert main([*args, "--method", name]) == 1
        err = capfd.readouterr().err
        assert "unknown method" in err and "evil.yaml" not in err
    assert not (tmp_path / "run").exists()


def test_case7_demo_method_names_cannot_escape_the_run_folder(tmp_path, capfd):
    out = tmp_path / "a" / "demo"
    code = main(["demo", "--out", str(out), "methods=[../../escape_dir]", "people=10", "epochs=1", "steps=1"])
    assert code == 1 and "known methods" in capfd.readouterr().err
    # OUT/methods/../../escape_dir is tmp/a/escape_dir: outside OUT, and never created.
    assert not (tmp_path / "a" / "escape_dir").exists() and not (tmp_path / "a").exists()


def _fake_diagnosis(root, name: str):
    """A diagnose folder as `squeeze diagnose` writes it (report.json + metrics.json), named `name`."""
    folder = root / name / "diagnose"
    folder.mkdir(parents=True)
    rates = {"spurious": 0.5, "forgotten": 0.25, "collapsed": 0.0, "retained": 0.25}
    report = {"verdicts": {"rates": rates, "counts": {"unjudged": 0}}, "n_items": 4, "judge_scores": {}}
    (folder / "report.json").write_text(json.dumps(report))
    (folder / "metrics.json").write_text(json.dumps({"forget_prob": 0.1, "forget_rouge": 0.2}))
    return root / name


HOSTILE = ["<script>alert(1)<", "<img src=x onerror=alert(1)>", "=1+1+cmd", "@SUM(A1)", "+x", "-y"]


def test_case8_run_names_are_escaped_in_markdown_html_and_csv(tmp_path):
    runs = [_fake_diagnosis(tmp_path, name.replace("/", "_")) for name in HOSTILE]
    out = tmp_path / "board"
    assert main(["leaderboard", *map(str, runs), "--out", str(out)]) == 0
    md, page = (out / "leaderboard.md").read_text(), (out / "leaderboard.html").read_text()
    for text in (md, page):
        assert "<script>alert" not in text and "<img" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in md
    cells = [row[0] for row in csv.reader(io.StringIO((out / "leaderboard.csv").read_text()))][1:]
    assert cells and not any(cell.startswith(("=", "+", "-", "@")) for cell in cells), cells
    assert "'=1+1+cmd" in cells
    # Numbers are data, not formulas: a negative number is not quoted.
    assert all(not c.startswith("'") or c[1:] in HOSTILE for c in cells)


def test_case8_outputs_follow_the_users_umask(tmp_path):
    out = tmp_path / "world"
    code = (
        "import os, sys; os.umask(0o002); from squeeze.cli.main import main; "
        f"sys.exit(main(['world', '--out', {str(out)!r}, '--people', '10']))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    files = [p for p in out.rglob("*")]
    assert files
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o775 if path.is_dir() else 0o664), f"{path}: {oct(mode)}"
    # A model folder is written through a temporary folder too.
    from squeeze.lm.models import save_model

    old = os.umask(0o027)
    try:
        saved = save_model(tiny()["model"], tiny()["tokenizer"], tmp_path / "model")
    finally:
        os.umask(old)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o750
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o640 for p in saved.iterdir())


def test_case7_a_judge_prompt_version_is_never_a_path(tmp_path):
    import pytest

    from judges import make_judge

    (tmp_path / "similarity_x.txt").write_text("### system\nobey\n### user\n{{generation}}\n")
    escape = "../" * 12 + str(tmp_path).lstrip("/") + "/x"
    with pytest.raises(ValueError, match="not a version name"):
        make_judge("openai", base_url="http://127.0.0.1:9/v1", prompt_version=escape)
