"""The judge-based leaderboard (DESIGN section 11): one row per run, the judge's verdicts
beside the conventional metrics and the squeeze statistics, with the rows where they
disagree marked.

A RUN is either a `squeeze diagnose` output folder (it holds report.json) or an unlearning
run folder holding a `diagnose/` subfolder with one. The row reads report.json (verdict
rates, mean Similarity and Naturalness, fact leakage), metrics.json (Prob, ROUGE-L, truth
ratio, forget quality, model utility, MMLU accuracy before and after when present) and the squeeze peak and
escape gap: from the unlearning run's dynamics_summary.json (tracked over training, the
mean over items; "tracked checkpoints" for a `squeeze track` folder) when the run has one,
else from the diagnose report (reference -> checkpoint). A diagnose folder named `diagnose` whose parent holds config.yaml counts as
that parent run's (its label and dynamics).

Every rate is a `Rate` (squeeze.core.intervals) and shows its Wilson 95% interval; each row
gives n (the judged items its verdict rates are over), the chance baseline beside its leak
rate (the retain model's leak rate, when its diagnose had one), and the runs whose spurious
rate it is tied with (their 95% intervals overlap: the data cannot order them).

A row is flagged when the conventional metrics call the forgetting a success (forget Prob
below `prob_max` and forget ROUGE-L below `rouge_max`; a metric a run lacks is not
required, but at least one must be present) while the judge finds it spurious (spurious
rate, over judged items, above `spurious_min`).

    squeeze leaderboard runs/demo/ga runs/demo/npo runs/demo/bs_s --out runs/demo
"""

from __future__ import annotations

import csv
import html
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from methods import display_name
from squeeze.attacks import ATTACKS
from squeeze.core.errors import ConfigError, DataError
from squeeze.core.intervals import Rate
from squeeze.core.provenance import ROW_FIELDS, row_fields
from squeeze.diagnose.rows import MIN_RESOLVABLE_ITEMS, VerdictSummary

MARKER = "\u26a0"  # the flag in Markdown and HTML; the PNG uses "*" (not every font has the sign)


@dataclass(frozen=True)
class DisagreementRule:
    prob_max: float = 0.2  # forget Prob below this: conventionally forgotten
    rouge_max: float = 0.4  # forget ROUGE-L recall below this: conventionally forgotten
    spurious_min: float = 0.3  # spurious rate above this: the judge says spurious

    def describe(self) -> str:
        return (
            f"the conventional metrics call the forgetting a success (forget Prob < {self.prob_max:g} and "
            f"forget ROUGE-L < {self.rouge_max:g}) but the judge finds it spurious (spurious rate > {self.spurious_min:.0%} "
            "of judged items)"
        )


# (key, header, kind): kind "rate" prints as a percentage with its 95% interval, "num" with 3
# digits, "text" as is. A stage that adds a column puts its value in BoardRow.extras[key].
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run", "run", "text"),
    ("n", "n", "num"),
    ("spurious", "spurious", "rate"),
    ("forgotten", "forgotten", "rate"),
    ("collapsed", "collapsed", "rate"),
    ("retained", "retained", "rate"),
    ("unjudged", "unjudged", "num"),
    ("similarity", "mean Similarity", "num"),
    ("naturalness", "mean Naturalness", "num"),
    ("leak_rate", "fact leak", "rate"),
    ("chance_leak", "chance leak (retain model)", "rate"),
    ("forget_prob", "forget Prob", "num"),
    ("forget_rouge", "forget ROUGE-L", "num"),
    ("forget_truth_ratio", "forget truth ratio", "num"),
    ("forget_quality", "forget quality", "num"),
    ("model_utility", "model utility", "num"),
    ("mmlu_accuracy_reference", "MMLU before", "num"),
    ("mmlu_accuracy", "MMLU after", "num"),
    ("squeeze_peak", "squeeze peak", "num"),
    ("escape_gap", "escape gap", "num"),
    # issue 11: forgotten items no attack brought back (share of judged items), and each attack's recovery rate
    ("forgotten_robust", "forgotten (robust)", "rate"),
    *((f"recovery_{name}", f"{name} recovery", "rate") for name in ATTACKS),
    ("squeeze_from", "squeeze from", "text"),
    ("tied", "spurious tied with", "text"),
    ("flag", "flag", "text"),
)
RATE_KEYS = ("spurious", "forgotten", "collapsed", "retained")
# Which way is better for an unlearned model, shown as an arrow in the HTML header. Columns
# without a clear direction (mean Naturalness, truth ratio, squeeze statistics) get none.
BETTER: dict[str, str] = {
    "spurious": "lower",
    "forgotten": "higher",
    "collapsed": "lower",
    "retained": "lower",
    "unjudged": "lower",
    "similarity": "lower",
    "leak_rate": "lower",
    "forget_prob": "lower",
    "forget_rouge": "lower",
    "forget_quality": "higher",
    "model_utility": "higher",
    "mmlu_accuracy": "higher",
    "forgotten_robust": "higher",
    **{f"recovery_{name}": "lower" for name in ATTACKS},
}
# Shown in the HTML only, after n: which model and which data each row is about.
HTML_EXTRA_COLUMNS = (("model", "model", "text"), ("dataset", "dataset", "text"))
METRIC_KEYS = (
    "forget_prob",
    "forget_rouge",
    "forget_truth_ratio",
    "forget_quality",
    "model_utility",
    "mmlu_accuracy_reference",
    "mmlu_accuracy",
)


@dataclass
class BoardRow:
    """One run on the leaderboard, as read from its diagnose report (typed, not a dict)."""

    run: str
    path: str
    verdicts: VerdictSummary
    similarity: float | None = None
    naturalness: float | None = None
    leak: Rate | None = None
    chance_leak: Rate | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    squeeze_peak: float | None = None
    escape_gap: float | None = None
    squeeze_from: str = "diagnose"
    flag: bool = False
    tied_with: list[str] = field(default_factory=list)  # runs whose spurious 95% interval overlaps this one's
    extras: dict[str, Any] = field(default_factory=dict)  # columns other stages add (a Rate shows its interval)

    @property
    def n_items(self) -> int:
        return self.verdicts.n_items

    def get(self, key: str, default=None):
        """The value a column shows (a Rate for a rate column)."""
        if key in RATE_KEYS:
            return self.verdicts.rate(key)
        value = {
            "n": self.verdicts.n_judged,
            "n_items": self.verdicts.n_items,
            "unjudged": self.verdicts.counts.get("unjudged", 0),
            "leak_rate": self.leak,
            "chance_leak": self.chance_leak,
            "tied": ", ".join(self.tied_with) or None,
        }.get(key, _MISSING)
        if value is not _MISSING:
            return value
        if key in self.metrics:
            return self.metrics[key]
        if key in self.extras:
            return self.extras[key]
        return getattr(self, key, default)

    def __getitem__(self, key: str):
        return self.get(key)


_MISSING = object()


def _short(path: str | None, parts: int = 2) -> str | None:
    """The last `parts` components of a path (a model folder is often `RUN/model`)."""
    if not path:
        return None
    return "/".join(Path(str(path)).parts[-parts:])


def _rate_value(value) -> float | None:
    return value.rate if isinstance(value, Rate) else value


def locate(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """(diagnose folder, unlearning run folder or None) of one RUN argument."""
    root = Path(path)
    if (root / "report.json").is_file():
        parent = root.parent
        return root, parent if root.name == "diagnose" and (parent / "config.yaml").is_file() else None
    if (root / "diagnose" / "report.json").is_file():
        return root / "diagnose", root
    if not root.exists():
        raise DataError(f"{root}: no such run folder")
    raise DataError(f"{root}: no report.json here or in {root / 'diagnose'} (run `squeeze diagnose` on it first)")


def _read(path: Path) -> dict:
    from squeeze.core.rundir import read_json

    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    return data


def _label(diag: Path, run: Path | None) -> str:
    from squeeze.track.plots import run_label

    return run_label(run if run is not None else diag)


def _stored_rate(block: dict | None) -> Rate | None:
    """A Rate stored by diagnose ({"k", "n", ...}); None when absent or over no items."""
    if not block or not block.get("n"):
        return None
    return Rate.from_dict(block)


def read_row(path: str | os.PathLike) -> BoardRow:
    """One leaderboard row (no flag or ties yet) from a RUN argument."""
    diag, run = locate(path)
    report = _read(diag / "report.json")
    metrics = _read(diag / "metrics.json") if (diag / "metrics.json").is_file() else report.get("metrics", {})
    try:
        verdicts, scores = VerdictSummary.from_dict(report["verdicts"]), report.get("judge_scores", {})
    except (KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{diag / 'report.json'}: not a diagnose report (missing {exc})") from None
    leakage = report.get("leakage") or {}
    leak = _stored_rate(leakage.get("leak"))
    if leak is None and leakage.get("leak_rate") is not None and leakage.get("n_items"):
        # a report written before rates carried their counts
        leak = Rate.of(round(leakage["leak_rate"] * leakage["n_items"]), leakage["n_items"])
    row = BoardRow(
        run=_label(diag, run),
        path=str(path),
        verdicts=verdicts,
        similarity=scores.get("similarity_mean"),
        naturalness=scores.get("naturalness_mean"),
        leak=leak,
        chance_leak=_stored_rate(report.get("chance_leak")),
        metrics={
            key: float(metrics[key]) if isinstance(metrics.get(key), (int, float)) else None for key in METRIC_KEYS
        },
        extras=row_fields(report.get("provenance")),
    )
    # Rates other stages put beside the verdicts (issue 11: forgotten_robust, recovery_<attack>).
    row.extras.update(verdicts.extras)
    # The HTML's model / dataset columns and its link to the run's report (issue 15, item 7).
    row.extras["model"] = _short(report.get("model"))
    row.extras["dataset"] = _short(report.get("world") or report.get("forget"), 1)
    row.extras["report_md"] = str(diag / "report.md")
    dynamics = run / "dynamics_summary.json" if run is not None else None
    if dynamics is not None and dynamics.is_file():
        mean = _read(dynamics).get("mean", {})
        # `squeeze track` writes track.json: its dynamics come from another trainer's checkpoints.
        row.squeeze_from = "tracked checkpoints" if (run / "track.json").is_file() else "training"
    else:
        mean = report.get("squeeze", {}).get("mean", {})
    row.squeeze_peak, row.escape_gap = mean.get("squeeze_peak"), mean.get("escape_gap")
    return row


def flagged(row: dict, rule: DisagreementRule) -> bool:
    """Conventional success (every present of Prob, ROUGE below its maximum; at least one present)
    and judged spurious (spurious rate above the minimum)."""
    conventional = [(row.get("forget_prob"), rule.prob_max), (row.get("forget_rouge"), rule.rouge_max)]
    present = [(v, cap) for v, cap in conventional if v is not None]
    success = bool(present) and all(v < cap for v, cap in present)
    spurious = _rate_value(row.get("spurious"))
    return success and spurious is not None and spurious > rule.spurious_min


def mark_ties(rows: list[BoardRow], key: str = "spurious") -> None:
    """Each row's `tied_with`: the other runs whose 95% interval of `key` overlaps its own."""
    for row in rows:
        mine = row.get(key)
        row.tied_with = [
            other.run
            for other in rows
            if other is not row
            and isinstance(mine, Rate)
            and mine.n
            and other.get(key).n
            and mine.overlaps(other.get(key))
        ]


def build_rows(paths: Sequence[str | os.PathLike], rule: DisagreementRule) -> list[BoardRow]:
    if not paths:
        raise DataError("no runs given")
    rows, seen = [], {}
    for path in paths:
        row = read_row(path)
        seen[row.run] = seen.get(row.run, 0) + 1
        if seen[row.run] > 1:  # two runs with one name stay apart
            row.run = f"{row.run} ({seen[row.run]})"
        row.flag = flagged(row, rule)
        rows.append(row)
    mark_ties(rows)
    return rows


# ---- rendering -----------------------------------------------------------------------------------


def _cell(value, kind: str) -> str:
    if kind == "text":
        return "" if value is None else str(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if kind == "rate":
        if isinstance(value, Rate):
            return value.text(counts=False)
        return f"{100 * value:.0f}%"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _present(value) -> bool:
    return value is not None and not (isinstance(value, Rate) and not value.n)


def _shown(rows: list[BoardRow]) -> list[tuple[str, str, str]]:
    """The columns at least one row has a value for (run and flag always)."""
    return [c for c in COLUMNS if c[0] in ("run", "flag") or any(_present(r.get(c[0])) for r in rows)]


def notes(rows: list[BoardRow]) -> list[str]:
    """What a reader must know to read the rates: intervals, ties, too few items."""
    out = [
        "Rates are shares of judged forget items with Wilson 95% intervals in brackets; n = judged items. "
        "Two runs are tied where their spurious intervals overlap."
    ]
    small = [r.run for r in rows if r.verdicts.n_judged < MIN_RESOLVABLE_ITEMS]
    if small:
        out.append(
            f"Under {MIN_RESOLVABLE_ITEMS} judged items ({', '.join(small)}): differences between methods are not resolvable."
        )
    return out


def to_markdown(rows: list[BoardRow], rule: DisagreementRule) -> str:
    cols = [c for c in _shown(rows) if c[0] != "flag"]

    def esc(s):
        # Run names come from folder names: no raw HTML (Markdown renders it) and no stray pipes.
        return html.escape(s, quote=False).replace("|", "\\|")

    lines = [
        "| | " + " | ".join(h for _, h, _ in cols) + " |",
        "|---|" + "|".join("---" if k == "text" else "---:" for _, _, k in cols) + "|",
    ]
    for r in rows:
        lines.append(
            f"| {MARKER if r.flag else ''} | "
            + " | ".join(esc(_cell(r.get(key), kind)) for key, _, kind in cols)
            + " |"
        )
    return (
        "\n".join(lines)
        + "\n\n"
        + f"{MARKER} = {rule.describe()}. "
        + html.escape(" ".join(notes(rows)), quote=False)
        + " Squeeze statistics in nats (mean over items).\n"
    )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """A text cell a spreadsheet will not run as a formula (a leading quote); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: list[BoardRow]) -> str:
    """One column per value; a rate column is followed by its interval's ends (KEY_ci_low, KEY_ci_high)."""
    keys: list[str] = []
    for key, _, kind in COLUMNS:
        keys += [key, f"{key}_ci_low", f"{key}_ci_high"] if kind == "rate" else [key]
    keys += ["n_items", "path", *ROW_FIELDS]
    rate_keys = {key for key, _, kind in COLUMNS if kind == "rate"}

    def cells(r: BoardRow) -> list:
        out = []
        for key in keys:
            base = key.rsplit("_ci_", 1)[0] if "_ci_" in key and key.rsplit("_ci_", 1)[0] in rate_keys else None
            if base is not None:
                value = r.get(base)
                ci = value.ci95 if isinstance(value, Rate) else None
                out.append("" if ci is None else ci[0] if key.endswith("_low") else ci[1])
                continue
            value = _rate_value(r.get(key))
            out.append("" if value is None else str(value).lower() if isinstance(value, bool) else csv_safe(value))
        return out

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(keys)
    for r in rows:
        writer.writerow(cells(r))
    return buffer.getvalue()


_SORT_JS = """
document.querySelectorAll('table.board th').forEach(function (th, i) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], up = th.dataset.dir !== 'asc';
    th.closest('tr').querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = up ? 'asc' : 'desc';
    var key = function (row) { var c = row.cells[i], v = c.dataset.v;
      return v === undefined ? c.textContent : (v === '' ? NaN : parseFloat(v)); };
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      if (typeof x === 'string') return up ? x.localeCompare(y) : y.localeCompare(x);
      if (isNaN(x)) return 1; if (isNaN(y)) return -1;
      return up ? x - y : y - x;
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 100%; }
div.scroll { overflow-x: auto; max-width: 100%; }
table.board { border-collapse: collapse; font-size: 13px; }
table.board th, table.board td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
table.board th { background: #f0f0f0; cursor: pointer; user-select: none; vertical-align: bottom;
  white-space: normal; min-width: 3.5em; max-width: 7.5em; }
table.board th[data-dir=asc]::after { content: " \\25B2"; } table.board th[data-dir=desc]::after { content: " \\25BC"; }
table.board th[data-better=lower]::before { content: "\\2193 "; color: #2a7; }
table.board th[data-better=higher]::before { content: "\\2191 "; color: #2a7; }
table.board td { white-space: nowrap; } table.board td.list { white-space: normal; min-width: 18em; }
table.board td.text { text-align: left; } tr.flag { background: #ffe9e6; } .marker { color: #c0392b; font-weight: bold; }
"""


def _html_columns(rows: list[BoardRow]) -> list[tuple[str, str, str]]:
    cols = _shown(rows)
    at = next(i for i, c in enumerate(cols) if c[0] == "run") + 1 + any(c[0] == "n" for c in cols)
    extra = [c for c in HTML_EXTRA_COLUMNS if any(r.get(c[0]) for r in rows)]
    return cols[:at] + extra + cols[at:]


def _report_link(r: BoardRow, out: Path | None) -> str | None:
    target = r.get("report_md")
    if not target or not Path(target).is_file():
        return None
    if out is not None:
        try:
            return Path(os.path.relpath(Path(target).resolve(), Path(out).resolve())).as_posix()
        except ValueError:  # another drive (Windows): an absolute link
            pass
    return Path(target).resolve().as_uri()


def to_html(rows: list[BoardRow], rule: DisagreementRule, out: str | os.PathLike | None = None) -> str:
    """The sortable HTML table: display names linking to each run's report.md (relative to
    `out`, where the page is written), model and dataset columns, arrows saying which way is
    better; the table scrolls inside its box rather than widen the page."""
    cols = _html_columns(rows)
    head = ""
    for key, header, _ in cols:
        better = BETTER.get(key)
        hint = f' data-better="{better}" title="{better} is better"' if better else ""
        head += f"<th{hint}>{html.escape(header)}</th>"
    body = []
    for r in rows:
        cells = []
        for key, _, kind in cols:
            if key == "flag":
                cells.append(f'<td class="text marker">{MARKER if r.flag else ""}</td>')
            elif key == "run":
                name, link = html.escape(display_name(r.run)), _report_link(r, Path(out) if out else None)
                text = f'<a href="{html.escape(link, quote=True)}">{name}</a>' if link else name
                cells.append(f'<td class="text" title="{html.escape(r.run, quote=True)}">{text}</td>')
            elif kind == "text":
                wrap = " list" if key == "tied" else ""  # a list of run names wraps; other cells keep one line
                cells.append(f'<td class="text{wrap}">{html.escape(_cell(r.get(key), kind))}</td>')
            else:
                value = r.get(key)
                number = _rate_value(value)
                raw = "" if number is None else repr(float(number))
                cells.append(f'<td data-v="{raw}">{html.escape(_cell(value, kind))}</td>')
        body.append(f"<tr{' class=flag' if r.flag else ''}>" + "".join(cells) + "</tr>")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>squeeze leaderboard</title>'
        f"<style>{_CSS}</style></head><body>\n<h1>squeeze leaderboard</h1>\n"
        "<p>Judge verdicts (shares of judged forget items) beside conventional metrics and squeeze statistics. "
        "Click a column to sort; \u2193 / \u2191: lower / higher is better; a run's name links to its report.</p>\n"
        f'<div class="scroll"><table class="board"><thead><tr>{head}</tr></thead><tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table></div>\n"
        f'<p><span class="marker">{MARKER}</span> = {html.escape(rule.describe())}.</p>\n'
        + "".join(f"<p>{html.escape(note)}</p>\n" for note in notes(rows))
        + f"<script>{_SORT_JS}</script>\n</body></html>\n"
    )


def default_out(paths: Sequence[str | os.PathLike]) -> Path:
    """The folder the runs share (their common parent)."""
    roots = [(locate(p)[1] or locate(p)[0]).resolve() for p in paths]
    return Path(os.path.commonpath([r.parent for r in roots]))


def write_leaderboard(
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    rule: DisagreementRule = DisagreementRule(),
    figure_format: str = "png",
    dpi: int = 120,
) -> tuple[list[BoardRow], dict[str, Path]]:
    """Rows and the files written: leaderboard.md, .csv, .html and the figure (.png, .pdf or .svg) in `out`."""
    from squeeze.core.rundir import write_text
    from squeeze.diagnose.plots import plot_leaderboard
    from squeeze.track.plots import FIGURE_FORMATS

    if figure_format not in FIGURE_FORMATS or dpi < 10:
        raise ConfigError(f"figure format must be one of {list(FIGURE_FORMATS)} and dpi at least 10")
    rows = build_rows(paths, rule)
    out = Path(out) if out else default_out(paths)
    files = {
        "md": write_text(out / "leaderboard.md", to_markdown(rows, rule)),
        "csv": write_text(out / "leaderboard.csv", to_csv(rows)),
        "html": write_text(out / "leaderboard.html", to_html(rows, rule, out)),
        figure_format: plot_leaderboard(rows, out / f"leaderboard.{figure_format}", dpi=dpi, names=display_name),
    }
    return rows, files
