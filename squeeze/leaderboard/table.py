"""The judge-based leaderboard (DESIGN section 11): one row per run, the judge's verdicts
beside the conventional metrics and the squeeze statistics, with the rows where they
disagree marked.

A RUN is either a `squeeze diagnose` output folder (it holds report.json) or an unlearning
run folder holding a `diagnose/` subfolder with one. The row reads report.json (verdict
rates, mean Similarity and Naturalness, fact leakage), metrics.json (Prob, ROUGE-L, truth
ratio, forget quality, model utility, MMLU accuracy before and after when present) and the squeeze peak and
escape gap: from the unlearning run's dynamics_summary.json (tracked over training, the
mean over items) when the run has one, else from the diagnose report (reference ->
checkpoint). A diagnose folder named `diagnose` whose parent holds config.yaml counts as
that parent run's (its label and dynamics).

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
from dataclasses import dataclass
from pathlib import Path

from squeeze.core.errors import DataError

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


# (key, header, kind): kind "rate" prints as a percentage, "num" with 3 digits, "text" as is.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run", "run", "text"),
    ("spurious", "spurious", "rate"),
    ("forgotten", "forgotten", "rate"),
    ("collapsed", "collapsed", "rate"),
    ("retained", "retained", "rate"),
    ("unjudged", "unjudged", "num"),
    ("similarity", "mean Similarity", "num"),
    ("naturalness", "mean Naturalness", "num"),
    ("leak_rate", "fact leak", "rate"),
    ("forget_prob", "forget Prob", "num"),
    ("forget_rouge", "forget ROUGE-L", "num"),
    ("forget_truth_ratio", "forget truth ratio", "num"),
    ("forget_quality", "forget quality", "num"),
    ("model_utility", "model utility", "num"),
    ("mmlu_accuracy_reference", "MMLU before", "num"),
    ("mmlu_accuracy", "MMLU after", "num"),
    ("squeeze_peak", "squeeze peak", "num"),
    ("escape_gap", "escape gap", "num"),
    ("squeeze_from", "squeeze from", "text"),
    ("flag", "flag", "text"),
)


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


def read_row(path: str | os.PathLike) -> dict:
    """One leaderboard row (no flag yet) from a RUN argument."""
    diag, run = locate(path)
    report = _read(diag / "report.json")
    metrics = _read(diag / "metrics.json") if (diag / "metrics.json").is_file() else report.get("metrics", {})
    try:
        verdicts, scores = report["verdicts"], report.get("judge_scores", {})
        row = {
            "run": _label(diag, run),
            "path": str(path),
            **{k: verdicts["rates"][k] for k in ("spurious", "forgotten", "collapsed", "retained")},
            "unjudged": verdicts["counts"].get("unjudged", 0),
            "similarity": scores.get("similarity_mean"),
            "naturalness": scores.get("naturalness_mean"),
            "leak_rate": (report.get("leakage") or {}).get("leak_rate"),
            "n_items": report.get("n_items"),
        }
    except (KeyError, TypeError) as exc:
        raise DataError(f"{diag / 'report.json'}: not a diagnose report (missing {exc})") from None
    for key in (
        "forget_prob",
        "forget_rouge",
        "forget_truth_ratio",
        "forget_quality",
        "model_utility",
        "mmlu_accuracy_reference",
        "mmlu_accuracy",
    ):
        value = metrics.get(key)
        row[key] = float(value) if isinstance(value, (int, float)) else None
    dynamics = run / "dynamics_summary.json" if run is not None else None
    if dynamics is not None and dynamics.is_file():
        mean = _read(dynamics).get("mean", {})
        row.update(squeeze_peak=mean.get("squeeze_peak"), escape_gap=mean.get("escape_gap"), squeeze_from="training")
    else:
        mean = report.get("squeeze", {}).get("mean", {})
        row.update(squeeze_peak=mean.get("squeeze_peak"), escape_gap=mean.get("escape_gap"), squeeze_from="diagnose")
    return row


def flagged(row: dict, rule: DisagreementRule) -> bool:
    """Conventional success (every present of Prob, ROUGE below its maximum; at least one present)
    and judged spurious (spurious rate above the minimum)."""
    conventional = [(row.get("forget_prob"), rule.prob_max), (row.get("forget_rouge"), rule.rouge_max)]
    present = [(v, cap) for v, cap in conventional if v is not None]
    success = bool(present) and all(v < cap for v, cap in present)
    return success and row.get("spurious") is not None and row["spurious"] > rule.spurious_min


def build_rows(paths: Sequence[str | os.PathLike], rule: DisagreementRule) -> list[dict]:
    if not paths:
        raise DataError("no runs given")
    rows, seen = [], {}
    for path in paths:
        row = read_row(path)
        seen[row["run"]] = seen.get(row["run"], 0) + 1
        if seen[row["run"]] > 1:  # two runs with one name stay apart
            row["run"] = f"{row['run']} ({seen[row['run']]})"
        row["flag"] = flagged(row, rule)
        rows.append(row)
    return rows


# ---- rendering -----------------------------------------------------------------------------------


def _cell(value, kind: str) -> str:
    if kind == "text":
        return "" if value is None else str(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if kind == "rate":
        return f"{100 * value:.0f}%"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _shown(rows: list[dict]) -> list[tuple[str, str, str]]:
    """The columns at least one row has a value for (run and flag always)."""
    return [c for c in COLUMNS if c[0] in ("run", "flag") or any(r.get(c[0]) is not None for r in rows)]


def to_markdown(rows: list[dict], rule: DisagreementRule) -> str:
    cols = [c for c in _shown(rows) if c[0] != "flag"]

    def esc(s):
        return s.replace("|", "\\|")

    lines = [
        "| | " + " | ".join(h for _, h, _ in cols) + " |",
        "|---|" + "|".join("---" if k == "text" else "---:" for _, _, k in cols) + "|",
    ]
    for r in rows:
        lines.append(
            f"| {MARKER if r['flag'] else ''} | "
            + " | ".join(esc(_cell(r.get(key), kind)) for key, _, kind in cols)
            + " |"
        )
    return (
        "\n".join(lines)
        + "\n\n"
        + f"{MARKER} = {rule.describe()}. Rates are shares of judged forget items; squeeze statistics in nats (mean over items).\n"
    )


def to_csv(rows: list[dict]) -> str:
    keys = [k for k, _, _ in COLUMNS] + ["n_items", "path"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(keys)
    for r in rows:
        writer.writerow(
            ["" if r.get(k) is None else str(r[k]).lower() if isinstance(r[k], bool) else r[k] for k in keys]
        )
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
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table.board { border-collapse: collapse; font-size: 14px; }
table.board th, table.board td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
table.board th { background: #f0f0f0; cursor: pointer; user-select: none; }
table.board th[data-dir=asc]::after { content: " \\25B2"; } table.board th[data-dir=desc]::after { content: " \\25BC"; }
table.board td.text { text-align: left; } tr.flag { background: #ffe9e6; } .marker { color: #c0392b; font-weight: bold; }
"""


def to_html(rows: list[dict], rule: DisagreementRule) -> str:
    cols = _shown(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in cols)
    body = []
    for r in rows:
        cells = []
        for key, _, kind in cols:
            if key == "flag":
                cells.append(f'<td class="text marker">{MARKER if r["flag"] else ""}</td>')
            elif kind == "text":
                cells.append(f'<td class="text">{html.escape(_cell(r.get(key), kind))}</td>')
            else:
                value = r.get(key)
                raw = "" if value is None else repr(float(value))
                cells.append(f'<td data-v="{raw}">{html.escape(_cell(value, kind))}</td>')
        body.append(f"<tr{' class=flag' if r['flag'] else ''}>" + "".join(cells) + "</tr>")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>squeeze leaderboard</title>'
        f"<style>{_CSS}</style></head><body>\n<h1>squeeze leaderboard</h1>\n"
        "<p>Judge verdicts (shares of judged forget items) beside conventional metrics and squeeze statistics. "
        "Click a column to sort.</p>\n"
        f'<table class="board"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>\n"
        f'<p><span class="marker">{MARKER}</span> = {html.escape(rule.describe())}.</p>\n'
        f"<script>{_SORT_JS}</script>\n</body></html>\n"
    )


def default_out(paths: Sequence[str | os.PathLike]) -> Path:
    """The folder the runs share (their common parent)."""
    roots = [(locate(p)[1] or locate(p)[0]).resolve() for p in paths]
    return Path(os.path.commonpath([r.parent for r in roots]))


def write_leaderboard(
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    rule: DisagreementRule = DisagreementRule(),
) -> tuple[list[dict], dict[str, Path]]:
    """Rows and the files written: leaderboard.md, .csv, .html and .png in `out`."""
    from squeeze.core.rundir import write_text
    from squeeze.diagnose.plots import plot_leaderboard

    rows = build_rows(paths, rule)
    out = Path(out) if out else default_out(paths)
    files = {
        "md": write_text(out / "leaderboard.md", to_markdown(rows, rule)),
        "csv": write_text(out / "leaderboard.csv", to_csv(rows)),
        "html": write_text(out / "leaderboard.html", to_html(rows, rule)),
        "png": plot_leaderboard(rows, out / "leaderboard.png"),
    }
    return rows, files
