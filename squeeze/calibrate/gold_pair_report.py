"""What the gold-pair calibration (squeeze/calibrate/gold_pair.py) writes: OUT/calibration.json,
OUT/calibration.md, OUT/generations.jsonl (every labelled answer; cut ones unjudged) and
OUT/figures/calibration.png (each scale's two classes and its tuned threshold).
Every file is written atomically (squeeze.core.rundir).
"""

from __future__ import annotations

from pathlib import Path

from squeeze.calibrate.report import _f, save_figure, write_report
from squeeze.core.intervals import Rate

SOURCE_LABELS = {
    "knows": "the knowing model's answers",
    "paraphrased": "the records' paraphrased answers",
    "never_learned": "the never-learned model's answers",
    "perturbed": "the records' perturbed answers",
}


def judged_shares(rows, judgments, s_min: float, sources) -> dict:
    """Per source, the share of its judged answers at or above s_min, with its Wilson interval:
    for the never-learned model and the perturbed answers, the false-similar rates of item 2."""
    out = {}
    for source in sources:
        flags = [
            j.similarity >= s_min if j.similarity is not None else None
            for r, j in zip(rows, judgments, strict=True)
            if r["model"] == source
        ]
        out[source] = Rate.count(flags).to_dict()
    return out


def oracle_check(rows, judgments, records, s_min: float, sources) -> dict | None:
    """Where the forget records carry facts (a squeeze world's file), the oracle the gold pair
    stands in for (`contains_fact`): per source, the share of whole answers that state the fact
    (how far "who answered" is from what was said), and the primary judge's Similarity AUROC
    and balanced accuracy at the tuned s_min against it. None for a file without facts (TOFU,
    MUSE): nothing to check against. `rows` are the judged rows, `judgments` theirs."""
    from squeeze.calibrate.calibration import auroc, balanced_accuracy
    from squeeze.world.build import contains_fact

    facts = {r.id: r.fact for r in records if r.fact is not None}
    if not facts:
        return None
    states = [contains_fact(r["generation"], facts[r["item_id"]]) if r["item_id"] in facts else None for r in rows]
    out = {
        "states_fact": {
            source: Rate.count(f for r, f in zip(rows, states, strict=True) if r["model"] == source).to_dict()
            for source in sources
        }
    }
    kept = [
        (f, j.similarity) for f, j in zip(states, judgments, strict=True) if f is not None and j.similarity is not None
    ]
    y, s = [f for f, _ in kept], [v for _, v in kept]
    out["n"] = len(kept)
    out["similarity_auroc"] = auroc(y, s) if kept else None
    out["balanced_accuracy_at_s_min"] = balanced_accuracy(y, s, s_min) if kept else None
    return out


def write_gold_report(out: Path, report: dict, rows: list[dict], drops: dict) -> None:
    write_report(out, report, rows, drops, render=render_gold_markdown, plot=plot_gold_pair)


def plot_gold_pair(report: dict, rows: list[dict], drops: dict, path: Path) -> Path:
    """Three panels: Similarity per source, Naturalness fluent vs broken, the targets' drop
    on forget vs retain items; each with its tuned threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    primary = report["primary_judge"]
    t = {k: v["value"] for k, v in report["thresholds"].items()}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    bins = np.linspace(0, 5, 26)
    colours = {"knows": "tab:red", "paraphrased": "tab:orange", "never_learned": "tab:blue", "perturbed": "tab:cyan"}
    ax = axes[0]
    for source, colour in colours.items():
        values = [
            r["scores"][primary]["similarity"]
            for r in rows
            if r["model"] == source and r.get("scores") and r["scores"][primary]["similarity"] is not None
        ]
        if values:
            ax.hist(values, bins=bins, alpha=0.5, color=colour, label=f"{SOURCE_LABELS[source]} (n={len(values)})")
    ax.axvline(t["s_min"], color="black", linestyle="--", label=f"s_min = {t['s_min']:.2f}")
    ax.set(title=f"Similarity by source ({primary})", xlabel="Similarity (0-5)", ylabel="answers")
    ax.legend(fontsize=7)
    ax = axes[1]
    nat = report["judges"][primary]["naturalness_scores"]
    for key, colour, label in (("fluent", "tab:green", "fluent"), ("degenerate", "tab:gray", "broken copies")):
        ax.hist([v for v in nat[key] if v is not None], bins=bins, alpha=0.6, color=colour, label=label)
    ax.axvline(t["n_min"], color="black", linestyle="--", label=f"n_min = {t['n_min']:.2f}")
    ax.set(title="Naturalness (LM: the never-learned model)", xlabel="Naturalness (0-5)", ylabel="texts")
    ax.legend(fontsize=7)
    ax = axes[2]
    values = drops["forget"] + drops["retain"]
    edges = np.linspace(min([0.0] + values), max([1.0] + values), 30)
    ax.hist(drops["forget"], bins=edges, alpha=0.6, color="tab:red", label="forget targets")
    if drops["retain"]:
        ax.hist(drops["retain"], bins=edges, alpha=0.6, color="tab:blue", label="retain targets")
    ax.axvline(t["tau"], color="black", linestyle="--", label=f"tau = {t['tau']:.2f} nats")
    ax.set(title="Drop of mean log-prob per token (knows - never)", xlabel="nats per token", ylabel="items")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def _share(entry: dict) -> str:
    return Rate.from_dict(entry).text() if entry.get("n") else "n/a"


def render_gold_markdown(report: dict) -> str:
    labels = report["labels"]
    forget, retain = report["forget"], report["retain"]
    lines = [
        "# Judge calibration on a gold pair of models",
        "",
        f"Knows the forget set: `{report['knows']}`; never learned it: `{report['never_learned']}`.",
        f"Forget set `{forget['path']}` ({forget['n_items']} items, sha256 {forget['sha256']}); "
        + (f"retain set `{retain['path']}` ({retain['n_items']} items)." if retain else "no retain set."),
        "",
        "Labels by who answered (no oracle): positives are the knowing model's answers and the paraphrased "
        "answers, negatives the never-learned model's answers and the perturbed answers.",
        "",
        "| source | label | whole answers | cut at max_new_tokens (left out) | judged similar (>= s_min) "
        "| states the fact (oracle, where the file has facts) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    similarity = labels["similarity"]
    for kind in ("positive", "negative"):
        for source, n in similarity[kind].items():
            cut = similarity["truncated_left_out"].get(source, 0)
            lines.append(
                f"| {SOURCE_LABELS.get(source, source)} | {kind} | {n} | {cut} | "
                f"{_share(report['judged_similar'].get(source, {}))} | "
                f"{_share(((report.get('oracle_check') or {}).get('states_fact') or {}).get(source, {}))} |"
            )
    oracle = report.get("oracle_check")
    if oracle:
        lines += [
            "",
            f"Against the oracle (the file's facts, {oracle['n']} answers): Similarity AUROC "
            f"{_f(oracle['similarity_auroc'])}, balanced accuracy at the tuned s_min "
            f"{_f(oracle['balanced_accuracy_at_s_min'])}.",
        ]
    lines += [
        "",
        f"Naturalness: {labels['naturalness']['fluent']} fluent texts, {labels['naturalness']['broken']} broken "
        f"copies. tau: {labels['tau']['forget']} forget and {labels['tau']['retain']} retain targets.",
        "",
        f"## Thresholds (primary judge: {report['primary_judge']})",
        "",
        "| threshold | value | balanced accuracy | AUROC | tuned on |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, t in report["thresholds"].items():
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(
            f"| {key} | {_f(t['value'], 4)} | {_f(t.get('balanced_accuracy'))} | {_f(t.get('auroc'))} | "
            f"{t['labels']}{note} |"
        )
    lines += [
        "",
        "## Judges",
        "",
        "| judge | Similarity AUROC | Naturalness AUROC | naturalness LM |",
        "| --- | --- | --- | --- |",
    ]
    for name, entry in report["judges"].items():
        sim = entry.get("tuned", entry)["similarity"]
        lines.append(
            f"| {name} ({entry['model']}) | {_f(sim['auroc'])} | {_f(entry['naturalness']['auroc'])} | "
            f"{entry.get('naturalness_lm') or 'n/a'} |"
        )
    per_source = report["judges"][report["primary_judge"]]["per_model"]
    lines += ["", "Per source (n, positives):", ""]
    lines += [f"- {SOURCE_LABELS.get(m, m)}: n = {s['n']}, positive {s['n_positive']}" for m, s in per_source.items()]
    if "embedding" in report["tuned"]:
        emb = report["tuned"]["embedding"]
        lines += [
            "",
            "## Tuned embedding judge",
            "",
            f"- similarity_knots (feature -> 0-5): {emb['similarity_knots']}",
            f"- logprob_knots: {emb['logprob_knots']}",
        ]
    lines.append("")
    return "\n".join(lines)
