"""The leaderboard people publish (issue 15, item 7): display names that link to each run's
report, n / model / dataset columns, arrows saying which way is better, a page that fits 1280
px in a real headless Chromium, and the figure in png, pdf or svg at a chosen dpi."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from squeeze.cli.main import main
from squeeze.leaderboard.table import display_name, locate

CHROMIUM = next(
    (shutil.which(b) for b in ("chromium-headless-shell", "chromium", "google-chrome") if shutil.which(b)), None
)


class _Page(HTMLParser):
    """Header cells (text, data-better), and per body row the cells' texts and links."""

    def __init__(self):
        super().__init__()
        self.headers, self.rows, self._cell, self._links = [], [], None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell, self._better = "", attrs.get("data-better")
        elif tag == "a" and self._cell is not None:
            self._links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            if tag == "th":
                self.headers.append((self._cell.strip(), self._better))
            else:
                self.rows[-1].append((self._cell.strip(), list(self._links)))
            self._cell, self._links = None, []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


@pytest.fixture(scope="module")
def runs(diagnose_setup, diagnosed_runs):
    return [diagnose_setup["run"], diagnosed_runs["spurious"]]


def test_display_names():
    assert display_name("bs_t") == "BS-T" and display_name("graddiff") == "GradDiff"
    assert display_name("npo: long-run") == "NPO: long-run" and display_name("my-run") == "my-run"


def test_html_links_reports_and_has_model_dataset_and_direction(runs, tmp_path, capsys):
    out = tmp_path / "board"
    assert main(["leaderboard", *map(str, runs), "--out", str(out)]) == 0
    capsys.readouterr()
    page = _Page()
    page.feed((out / "leaderboard.html").read_text(encoding="utf-8"))
    names = [h for h, _ in page.headers]
    assert names[:4] == ["run", "n", "model", "dataset"]
    better = dict(page.headers)
    assert (better["spurious"], better["forgotten"], better["forget Prob"], better["model utility"]) == (
        "lower",
        "higher",
        "lower",
        "higher",
    )
    assert better["squeeze peak"] is None  # no direction claimed where there is none
    body = [row for row in page.rows if row]
    assert [row[0][0] for row in body] == ["GA: run", "bare-diagnose"]  # the run folder's method, displayed
    for row, run in zip(body, runs, strict=False):
        (link,) = row[0][1]
        assert (out / link).resolve() == (locate(run)[0] / "report.md").resolve()  # relative, and it exists
        report = json.loads((locate(run)[0] / "report.json").read_text())
        assert row[2][0] == "/".join(Path(report["model"]).parts[-2:])
        assert row[3][0] == Path(report["world"] or report["forget"]).name
        assert int(row[1][0]) == report["verdicts"]["n_judged"]


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_figure_formats_and_dpi(runs, tmp_path, capsys):
    for fmt in ("svg", "pdf"):
        assert main(["leaderboard", *map(str, runs), "--out", str(tmp_path / fmt), "--format", fmt]) == 0
    svg = (tmp_path / "svg" / "leaderboard.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and not (tmp_path / "svg" / "leaderboard.png").exists()
    assert (tmp_path / "pdf" / "leaderboard.pdf").read_bytes()[:5] == b"%PDF-"
    for dpi in (60, 180):
        assert main(["leaderboard", *map(str, runs), "--out", str(tmp_path / f"d{dpi}"), "--dpi", str(dpi)]) == 0
    low, high = _png_size(tmp_path / "d60" / "leaderboard.png"), _png_size(tmp_path / "d180" / "leaderboard.png")
    assert high[0] == pytest.approx(3 * low[0], rel=0.05) and high[1] == pytest.approx(3 * low[1], rel=0.05)
    capsys.readouterr()
    assert main(["leaderboard", *map(str, runs), "--out", str(tmp_path / "bad"), "--format", "gif"]) == 1
    assert "figure format must be one of ['png', 'pdf', 'svg']" in capsys.readouterr().err


MEASURE = """<script>
window.addEventListener('load', function () {
  var box = document.querySelector('div.scroll'), table = document.querySelector('table.board');
  var heads = Array.from(table.querySelectorAll('th')).map(function (th) { return th.getBoundingClientRect(); });
  document.title = JSON.stringify({
    page: document.documentElement.scrollWidth, viewport: window.innerWidth,
    box_right: box.getBoundingClientRect().right, box_scroll: box.scrollWidth,
    table: table.getBoundingClientRect().width, columns: heads.length,
    last_column_end: heads[heads.length - 1].right - box.getBoundingClientRect().left,
  });
});
</script>"""


def _measure(page: Path, shot: Path) -> dict:
    # The measuring script goes into a copy: the page itself must not need it.
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"]
    dom = subprocess.run([*common, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    subprocess.run([*common, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    title = dom.stdout.split("<title>", 1)[1].split("</title>", 1)[0]
    return json.loads(title.replace("&quot;", '"'))


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed (make test installs none; CI may)")
def test_the_page_fits_1280_px_in_chromium(runs, tmp_path, capsys):
    # Six runs with long names: wider than 1280 px if the table were laid out on one line.
    spurious = locate(runs[1])[0]
    many = list(runs)
    for i in range(4):
        copy = tmp_path / f"npo-lr1e-5-steps100-retain-kl-seed{i}-diagnose"
        shutil.copytree(spurious, copy)
        many.append(copy)
    out = tmp_path / "board"
    assert main(["leaderboard", *map(str, many), "--out", str(out)]) == 0
    capsys.readouterr()
    m = _measure(out / "leaderboard.html", tmp_path / "shot.png")
    assert m["viewport"] == 1280
    assert m["page"] <= 1280, m  # the page never scrolls sideways
    assert m["box_right"] <= 1280, m  # the table's box is inside the viewport
    # Every column is laid out inside the box's scroll area: none is clipped away.
    assert m["columns"] >= 15 and m["last_column_end"] <= m["box_scroll"] + 1, m
    assert _png_size(tmp_path / "shot.png")[0] == 1280
