"""What `squeeze judge-calibrate` writes: OUT/calibration.json, OUT/calibration.md,
OUT/generations.jsonl (every labelled, judged generation), OUT/figures/calibration.png, and
with --write-config the tuned defaults judges/embedding.yaml and verdict.yaml of the packaged
squeeze/defaults/ (or of --config-dir).
Every file is written atomically (squeeze.core.rundir).
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path

import numpy as np

from squeeze.calibrate.calibration import roc_curve
from squeeze.core.errors import SqueezeError
from squeeze.core.resources import EMBEDDING_JUDGE, VERDICT_THRESHOLDS, defaults_dir
from squeeze.core.rundir import atomic_path, write_json, write_jsonl, write_text

FEATURE_LABELS = {
    "sentence_cosine": "embedding: whole-sentence cosine (before)",
    "answer_cosine": "embedding: cosine beyond the prompt",
    "content_recall": "embedding: content-word recall",
    "cosine": "embedding: content feature (after)",
}


def write_report(out: Path, report: dict, rows: list[dict], drops: dict, render=None, plot=None) -> None:
    """The four files; `render` and `plot` (default: this module's) draw the Markdown and the
    figure, so the gold-pair mode writes the same files its own way."""
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "generations.jsonl", rows)
    write_json(out / "calibration.json", _finite(report))
    write_text(out / "calibration.md", (render or render_markdown)(report))
    (plot or plot_calibration)(report, rows, drops, out / "figures" / "calibration.png")


def save_figure(fig, path: Path) -> Path:
    """Write `fig` as a PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def _finite(obj):
    """NaN (an undefined AUROC) as null, so the JSON stays strict."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _f(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def render_markdown(report: dict) -> str:
    lines = [
        "# Judge calibration against the leakage oracle",
        "",
        f"World `{report['world']}`; original `{report['original']}`; "
        f"{report['n_items']} forget items, {report['n_generations']} generations (greedy and sampled).",
        "",
        "Oracle: a generation leaks when it states the forgotten value or an alias (`contains_fact`).",
        "",
        "| model | made by | leak rate | collapsed (Naturalness < n_min) | target drop (nats/token, median) | retain drop |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for model, rate in report["leak_rate"].items():
        drop = report["target_drop_median"].get(model, {})
        made = ", ".join(f"{k}={v}" for k, v in report.get("run_settings", {}).get(model, {}).items())
        lines.append(
            f"| {model} | {made} | {_f(rate, 2)} | {_f(report['collapse_rate'][model], 2)} | "
            f"{_f(drop.get('forget'))} | {_f(drop.get('retain'))} |"
        )
    lines += [
        "",
        "## Similarity against the oracle",
        "",
        "| judge / feature | AUROC | Spearman | AUROC, fluent only | n | leaking | unparsed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in report["judges"].items():
        sim, fluent = entry["similarity"], entry.get("similarity_fluent", {})
        lines.append(
            f"| {name} ({entry['model']}) | {_f(sim['auroc'])} | {_f(sim['spearman'])} | "
            f"{_f(fluent.get('auroc'))} | {sim['n']} | {sim['n_positive']} | {sim['unparsed']} |"
        )
        for feature, stats in entry.get("features", {}).items():
            fl = entry.get("features_fluent", {}).get(feature, {})
            lines.append(
                f"| {FEATURE_LABELS.get(feature, feature)} | {_f(stats['auroc'])} | {_f(stats['spearman'])} | "
                f"{_f(fl.get('auroc'))} | {stats['n']} | {stats['n_positive']} | |"
            )
    lines += [
        "",
        "Per model (Similarity AUROC, primary judge; n/a where a model's generations all leak or none do):",
        "",
    ]
    per_model = report["judges"][report["primary_judge"]]["per_model"]
    lines += [f"- {m}: {_f(s['auroc'])} (n = {s['n']}, leaking {s['n_positive']})" for m, s in per_model.items()]
    lines += [
        "",
        f"## Tuned verdict thresholds (primary judge: {report['primary_judge']})",
        "",
        "| threshold | value | balanced accuracy | tuned on |",
        "| --- | --- | --- | --- |",
    ]
    for key, t in report["thresholds"].items():
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(f"| {key} | {_f(t['value'], 4)} | {_f(t.get('balanced_accuracy'))} | {t['labels']}{note} |")
    per_run = report["thresholds"]["tau"].get("per_run", {})
    if per_run:
        lines += ["", "tau tuned on each run alone: " + ", ".join(f"{k} {_f(v)}" for k, v in per_run.items())]
    if "embedding" in report["tuned"]:
        emb = report["tuned"]["embedding"]
        lines += [
            "",
            "## Tuned embedding judge",
            "",
            f"- similarity: {emb['similarity']} (content_weight {emb['content_weight']})",
            f"- similarity_knots (feature -> 0-5): {emb['similarity_knots']}",
            f"- repetition_knots ({emb['repetition_measure']}, n = {emb['ngram']}): {emb['repetition_knots']}",
            f"- logprob_knots: {emb['logprob_knots']}",
        ]
    lines += _hard_case_lines(report)
    lines += ["", "![calibration](figures/calibration.png)", ""]
    return "\n".join(lines)


HARD_CASE_EXPECTED = {
    "value_swap": "below s_min",
    "sibling": "at or above s_min",
    "alias": "at or above s_min",
    "fluent_wrong_value": "at or above n_min",
    "loop": "below n_min",
    "stutter": "below n_min",
    "salad": "below n_min",
    "cut": "below n_min",
}


def _hard_case_lines(report: dict) -> list[str]:
    """The hard-case table: per judge and kind, the share at or above the tuned threshold."""
    from squeeze.core.intervals import Rate

    judges = {name: entry["hard_cases"] for name, entry in report["judges"].items() if "hard_cases" in entry}
    if not judges:
        return []
    lines = [
        "",
        "## Hard cases (built from the world's templates and value pools, at the tuned thresholds)",
        "",
        "| judge | scale | case | should score | share at or above the threshold [95%] | n |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, scales in judges.items():
        for scale, rates in scales.items():
            for kind, rate in rates["kinds"].items():
                lines.append(
                    f"| {name} | {scale} | {kind} | {HARD_CASE_EXPECTED.get(kind, '')} | "
                    f"{Rate.from_dict(rate).text(counts=False)} | {rate['n']} |"
                )
            lines.append(f"| {name} | {scale} | AUROC | | {_f(rates.get('auroc'))} | |")
    return lines


def plot_calibration(report: dict, rows: list[dict], drops: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    primary = report["primary_judge"]
    thresholds = {k: v["value"] for k, v in report["thresholds"].items()}
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    bins = np.linspace(0, 5, 26)

    ax = axes[0, 0]
    for leak, colour, label in ((True, "tab:red", "leaks the value"), (False, "tab:blue", "does not leak")):
        values = [
            r["scores"][primary]["similarity"]
            for r in rows
            if r["leak"] == leak and r["scores"][primary]["similarity"] is not None
        ]
        ax.hist(values, bins=bins, alpha=0.6, color=colour, label=f"{label} (n={len(values)})")
    ax.axvline(thresholds["s_min"], color="black", linestyle="--", label=f"s_min = {thresholds['s_min']:.2f}")
    ax.set(title=f"Similarity by oracle label ({primary})", xlabel="Similarity (0-5)", ylabel="generations")
    ax.legend()

    ax = axes[0, 1]
    curves = [(f"{name}: Similarity", [r["scores"][name]["similarity"] for r in rows]) for name in report["judges"]]
    if "embedding" in report["judges"]:
        curves += [(FEATURE_LABELS["sentence_cosine"], [r["features"]["sentence_cosine"] for r in rows])]
    for label, scores in curves:
        kept = [(r["leak"], s) for r, s in zip(rows, scores, strict=False) if s is not None]
        if len({y for y, _ in kept}) < 2:
            continue
        fpr, tpr = roc_curve([y for y, _ in kept], [s for _, s in kept])
        from squeeze.calibrate.calibration import auroc

        ax.plot(fpr, tpr, label=f"{label} (AUROC {auroc([y for y, _ in kept], [s for _, s in kept]):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(title="ROC against the leakage oracle", xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right", fontsize=8)

    ax = axes[1, 0]
    nat = report["judges"][primary]["naturalness_scores"]
    ax.hist(
        [v for v in nat["fluent"] if v is not None],
        bins=bins,
        alpha=0.6,
        color="tab:green",
        label="fluent (original's answers, perturbed answers)",
    )
    ax.hist(
        [v for v in nat["degenerate"] if v is not None],
        bins=bins,
        alpha=0.6,
        color="tab:gray",
        label="looped / stuttered / shuffled",
    )
    ax.axvline(thresholds["n_min"], color="black", linestyle="--", label=f"n_min = {thresholds['n_min']:.2f}")
    ax.set(title=f"Naturalness ({primary})", xlabel="Naturalness (0-5)", ylabel="texts")
    ax.legend(loc="center")

    ax = axes[1, 1]
    forget = [d for run in drops.values() for d in run["forget"]]
    retain = [d for run in drops.values() for d in run["retain"]]
    top = max([1.0] + forget + retain)
    edges = np.linspace(min([0.0] + forget + retain), top, 40)
    ax.hist(forget, bins=edges, alpha=0.6, color="tab:red", label="forget targets")
    ax.hist(retain, bins=edges, alpha=0.6, color="tab:blue", label="retain answers")
    ax.axvline(thresholds["tau"], color="black", linestyle="--", label=f"tau = {thresholds['tau']:.2f} nats")
    ax.set(title="Drop of mean log-prob per token (all unlearned runs)", xlabel="nats per token", ylabel="items")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def _yaml(header: str, body: dict) -> str:
    import yaml

    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=None, width=100)


def write_configs(config_dir: str | Path | None, report: dict) -> list[Path]:
    """judges/embedding.yaml (when the embedding judge was tuned) and verdict.yaml, in `config_dir`
    or else in the packaged defaults (squeeze/defaults/), which every later run reads."""
    root = Path(config_dir) if config_dir else defaults_dir()
    # A gold-pair calibration (squeeze/calibrate/gold_pair.py) brings its own record.
    source = report.get("calibration_source") or {
        "world": {"path": report["world"], **report.get("world_settings", {})},
        "original": report["original"],
        "runs": {
            name: {"path": path, **report.get("run_settings", {}).get(name, {})}
            for name, path in report["runs"].items()
        },
        "n_generations": report["n_generations"],
        "judge_model": report["judges"][report["primary_judge"]]["model"],
        # What diagnose compares a checkpoint with (squeeze.diagnose.calibration_check, issue 10 item 7).
        "model_family": calibrated_family(report["original"]),
        "date": datetime.date.today().isoformat(),
    }  # judge_model names the reference LM, if any
    written = []
    if "embedding" in report["tuned"]:
        entry = report["judges"]["embedding"]
        header = (
            "# The embedding judge's tuned defaults (squeeze passes `judge:` to judges/embedding_judge.py).\n"
            "# Written by `squeeze judge-calibrate --write-config`; `calibration:` records how.\n"
        )
        body = {
            "judge": report["tuned"]["embedding"],
            "calibration": {
                **source,
                "auroc": round(entry["tuned"]["similarity"]["auroc"], 4),
                "spearman": round(entry["tuned"]["similarity"]["spearman"], 4),
                "auroc_sentence_cosine": round(entry["features"]["sentence_cosine"]["auroc"], 4),
            },
        }
        path = root / EMBEDDING_JUDGE
        write_text(path, _yaml(header, body))
        written.append(path)
    header = (
        "# Verdict thresholds of DESIGN section 10 (squeeze/diagnose/verdict_config.py reads `thresholds:`).\n"
        "# tau: nats per token of the target's mean log-prob drop; n_min, s_min: 0-5 judge scores.\n"
        "# Written by `squeeze judge-calibrate --write-config`; `calibration:` records how.\n"
    )
    values = {k: float(v["value"]) for k, v in report["thresholds"].items()}
    body = {
        "thresholds": {"tau": values["tau"], "n_min": values["n_min"], "s_min": values["s_min"]},
        "calibration": {
            **source,
            "judge": report["primary_judge"],
            "auroc": _round(_primary_auroc(report)),
            **{f"{k}_balanced_accuracy": _round(v.get("balanced_accuracy")) for k, v in report["thresholds"].items()},
        },
    }
    path = root / VERDICT_THRESHOLDS
    write_text(path, _yaml(header, body))
    written.append(path)
    return written


def calibrated_family(original: str | Path) -> dict:
    """The original model's family, and whether it was fine-tuned from a pretrained model (its
    train-original run's `base_model`)."""
    from squeeze.core.config import load_yaml
    from squeeze.diagnose.calibration_check import model_family

    family = model_family(original)
    # squeeze's word-level tokenizer is only ever built for a model trained from scratch
    family["pretrained"] = False if family["tokenizer"] == "word-level" else None
    run_config = Path(original).parent / "config.yaml"
    try:
        if run_config.is_file():
            family["pretrained"] = bool(load_yaml(run_config).get("base_model"))
    except (OSError, ValueError, SqueezeError):  # an unreadable run config leaves it as it was
        pass
    return family


def _primary_auroc(report: dict):
    """The AUROC of the thresholds' judge's Similarity against the oracle (tuned, when it was)."""
    entry = report["judges"][report["primary_judge"]]
    return ((entry.get("tuned") or {}).get("similarity") or entry.get("similarity") or {}).get("auroc")


def _round(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)
