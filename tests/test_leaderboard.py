"""`squeeze leaderboard` from real diagnose outputs (a collapsed GA run folder and a spurious
checkpoint diagnosed by flags): one row per run, CSV/Markdown/HTML parse, the PNG exists,
and the disagreement marker appears exactly where the rule says."""

from __future__ import annotations

import csv
import io
import json
import shutil
from html.parser import HTMLParser

import pytest

from squeeze.cli.main import main
from squeeze.leaderboard.table import MARKER, DisagreementRule, build_rows, flagged, locate


class _Table(HTMLParser):
    """Rows of cell texts and the <script>/<link>/<img> sources of an HTML page."""

    def __init__(self):
        super().__init__()
        self.rows, self.external, self.scripts, self._cell = [], [], 0, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "script":
            self.scripts += 1
        if attrs.get("src") or (tag == "link" and attrs.get("href")):
            self.external.append(attrs.get("src") or attrs.get("href"))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _leaderboard(*args) -> int:
    return main(["leaderboard", *map(str, args)])


@pytest.fixture(scope="module")
def runs(diagnose_setup, diagnosed_runs):
    """The run folder (with diagnose/) and the bare checkpoint's diagnose folder."""
    return [diagnose_setup["run"], diagnosed_runs["spurious"]]


def test_one_row_per_run_and_every_file_parses(runs, tmp_path, capsys):
    assert _leaderboard(*runs, "--out", tmp_path) == 0
    capsys.readouterr()
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.html", "leaderboard.png"):
        assert (tmp_path / name).is_file()
    assert (tmp_path / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = list(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 2
    assert rows[0]["run"] == "ga: run"  # a run folder is labelled by its config's method
    assert rows[1]["run"] == "bare-diagnose"
    for row, diag in zip(rows, (locate(runs[0])[0], locate(runs[1])[0]), strict=False):
        report = json.loads((diag / "report.json").read_text(encoding="utf-8"))
        metrics = json.loads((diag / "metrics.json").read_text(encoding="utf-8"))
        rates = [float(row[k]) for k in ("spurious", "forgotten", "collapsed", "retained")]
        assert sum(rates) == pytest.approx(1.0)
        assert float(row["spurious"]) == pytest.approx(report["verdicts"]["rates"]["spurious"])
        assert float(row["forget_prob"]) == pytest.approx(metrics["forget_prob"])
        assert float(row["similarity"]) == pytest.approx(report["judge_scores"]["similarity_mean"])
        assert row["squeeze_from"] == "diagnose" and row["escape_gap"] != ""
        assert row["flag"] == "false"  # default thresholds: neither run is a conventional success judged spurious
    assert rows[0]["model_utility"] != "" and rows[1]["model_utility"] == ""  # only the world run has a retain set

    md = (tmp_path / "leaderboard.md").read_text(encoding="utf-8").splitlines()
    table = [line for line in md if line.startswith("|")]
    assert len(table) == 2 + 2  # header, separator, one line per run
    assert all(line.count("|") == table[0].count("|") for line in table)
    assert "forget ROUGE-L" in table[0] and "mean Similarity" in table[0]

    page = _Table()
    page.feed((tmp_path / "leaderboard.html").read_text(encoding="utf-8"))
    assert len(page.rows) == 1 + 2 and page.external == [] and page.scripts == 1
    assert page.rows[0][0] == "run" and {"spurious", "forget Prob", "squeeze peak"} <= set(page.rows[0])
    assert MARKER not in "".join(c for row in page.rows[1:] for c in row)


def test_the_disagreement_marker_on_a_constructed_case(runs, tmp_path, capsys):
    # The spurious checkpoint's forget Prob and ROUGE-L are moderate; thresholds that call them a
    # conventional success make it the textbook disagreement: "forgotten" by ROUGE, spurious by the judge.
    spurious_dir = locate(runs[1])[0]
    rates = json.loads((spurious_dir / "report.json").read_text(encoding="utf-8"))["verdicts"]["rates"]
    metrics = json.loads((spurious_dir / "metrics.json").read_text(encoding="utf-8"))
    assert rates["spurious"] > 0.3
    prob_max, rouge_max = metrics["forget_prob"] + 0.01, metrics["forget_rouge"] + 0.01
    assert (
        _leaderboard(*runs, "--out", tmp_path, "--prob-max", prob_max, "--rouge-max", rouge_max, "--spurious-min", 0.3)
        == 0
    )
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text(encoding="utf-8"))))
    # The GA run also passes the conventional test, but its answers collapsed instead: no marker.
    assert [r["flag"] for r in rows] == ["false", "true"]
    md = (tmp_path / "leaderboard.md").read_text(encoding="utf-8")
    marked = [line for line in md.splitlines() if line.startswith(f"| {MARKER} |")]
    assert len(marked) == 1 and "bare-diagnose" in marked[0]
    assert f"{MARKER} = the conventional metrics call the forgetting a success" in md and MARKER in printed
    page = _Table()
    html_text = (tmp_path / "leaderboard.html").read_text(encoding="utf-8")
    page.feed(html_text)
    flagged_rows = [row for row in page.rows[1:] if row[-1] == MARKER]
    assert len(flagged_rows) == 1 and flagged_rows[0][0] == "bare-diagnose"
    assert "<tr class=flag>" in html_text and "conventional metrics call the forgetting a success" in html_text


def test_flag_rule_by_hand_and_run_folders_without_diagnose(tmp_path):
    rule = DisagreementRule(prob_max=0.2, rouge_max=0.4, spurious_min=0.3)
    assert flagged({"forget_prob": 0.1, "forget_rouge": 0.2, "spurious": 0.5}, rule)
    assert not flagged({"forget_prob": 0.1, "forget_rouge": 0.5, "spurious": 0.5}, rule)  # ROUGE still high
    assert not flagged({"forget_prob": 0.1, "forget_rouge": 0.2, "spurious": 0.3}, rule)  # not above the minimum
    assert flagged({"forget_prob": 0.1, "forget_rouge": None, "spurious": 0.9}, rule)  # missing ROUGE not required
    assert not flagged({"forget_prob": None, "forget_rouge": None, "spurious": 0.9}, rule)  # nothing conventional
    from squeeze.core.errors import DataError

    (tmp_path / "empty-run").mkdir()
    with pytest.raises(DataError, match="run `squeeze diagnose` on it first"):
        build_rows([tmp_path / "empty-run"], rule)
    with pytest.raises(DataError, match="no such run folder"):
        build_rows([tmp_path / "missing"], rule)


def test_training_dynamics_take_precedence(runs, tmp_path):
    """A run folder tracked during training reports its own squeeze statistics."""
    run = tmp_path / "npo"
    shutil.copytree(runs[0], run)
    (run / "dynamics_summary.json").write_text(
        json.dumps({"mean": {"squeeze_peak": 1.25, "escape_gap": 7.5}}), encoding="utf-8"
    )
    (row,) = build_rows([run], DisagreementRule())
    assert (row["squeeze_peak"], row["escape_gap"], row["squeeze_from"]) == (1.25, 7.5, "training")


def test_mmlu_before_and_after_columns(runs, tmp_path, capsys):
    diag = tmp_path / "with-mmlu"
    shutil.copytree(locate(runs[1])[0], diag)
    metrics = json.loads((diag / "metrics.json").read_text(encoding="utf-8"))
    metrics.update(mmlu_accuracy_reference=0.31, mmlu_accuracy=0.26, mmlu_questions=100)
    (diag / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    assert _leaderboard(runs[1], diag, "--out", tmp_path / "board") == 0
    capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "board" / "leaderboard.csv").read_text(encoding="utf-8"))))
    assert [(r["mmlu_accuracy_reference"], r["mmlu_accuracy"]) for r in rows] == [("", ""), ("0.31", "0.26")]
    header = [
        line
        for line in (tmp_path / "board" / "leaderboard.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("|")
    ][0]
    assert header.index("MMLU before") < header.index("MMLU after")


def test_rates_carry_intervals_n_and_ties(runs, tmp_path, capsys):
    from squeeze.core.intervals import wilson

    assert _leaderboard(*runs, "--out", tmp_path) == 0
    capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text(encoding="utf-8"))))
    for row, diag in zip(rows, (locate(runs[0])[0], locate(runs[1])[0]), strict=False):
        v = json.loads((diag / "report.json").read_text(encoding="utf-8"))["verdicts"]
        assert int(row["n"]) == v["n_judged"] == 4
        k = v["counts"]["spurious"]
        assert (float(row["spurious_ci_low"]), float(row["spurious_ci_high"])) == pytest.approx(wilson(k, 4))
    # Four items each: the two runs' spurious intervals overlap unless one is 0/4 and the other 4/4.
    spurious = [round(float(r["spurious"]) * 4) for r in rows]
    tied = not ({spurious[0], spurious[1]} == {0, 4})
    assert (rows[0]["tied"] == rows[1]["run"]) == tied
    md = (tmp_path / "leaderboard.md").read_text(encoding="utf-8")
    assert "Wilson 95% intervals" in md and "not resolvable" in md and "%]" in md
    html_text = (tmp_path / "leaderboard.html").read_text(encoding="utf-8")
    assert "not resolvable" in html_text and "%]" in html_text


def test_ties_by_hand():
    from squeeze.core.intervals import Rate
    from squeeze.diagnose.rows import VerdictSummary
    from squeeze.leaderboard.table import BoardRow, mark_ties

    def row(name, spurious, n):
        return BoardRow(name, name, VerdictSummary.of(["spurious"] * spurious + ["forgotten"] * (n - spurious)))

    a, b, c = row("a", 2, 50), row("b", 5, 50), row("c", 45, 50)
    mark_ties([a, b, c])
    assert a.tied_with == ["b"] and b.tied_with == ["a"] and c.tied_with == []
    assert isinstance(a.get("spurious"), Rate) and a.get("n") == 50
