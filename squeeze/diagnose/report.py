"""The diagnose report (DESIGN section 10): report.json, report.md and the figures.

`assemble_report` joins the log-probs of both models, the judge's scores and the verdicts
into one dict (report.json); `render_markdown` turns it into report.md, ending with a
plain-language conclusion written from the numbers by `conclusion`. Figures come from
squeeze.diagnose.plots.

report.json keys: format, model, reference_model, bins, forget, retain, world, n_items, judge, thresholds,
verdicts (counts, rates of the four verdicts over judged items, summing to 1, unjudged),
judge_scores, squeeze (mean/median of the squeeze statistics, reference -> checkpoint),
training_dynamics (from the run's dynamics_summary.json when it has one), leakage (world
oracle, when records carry facts), before (the reference model's forget Prob and
leak rate on the same items), metrics, aggregates, conclusion, items (one row per forget item).
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np

from squeeze.core.intervals import Rate
from squeeze.diagnose.rows import MIN_RESOLVABLE_ITEMS, VerdictRow, VerdictSummary

FORMAT = "squeeze-diagnose/1"
SQUEEZE_KEYS = (
    "delta_target",
    "delta_mass_high",
    "delta_mass_mid",
    "delta_mass_low",
    "squeeze_peak",
    "escape_gap",
    "escape_share_start",
    "escape_share_end",
    "delta_target_logp_mean",
)
ITEM_STATS = (
    "squeeze_peak",
    "escape_gap",
    "delta_mass_high",
    "delta_mass_mid",
    "delta_mass_low",
    "escape_share_start",
    "escape_share_end",
    "delta_value_target",
    "delta_value_siblings",
)
# What the conclusion calls a conventional success: the forget set's Prob and ROUGE are low.
SUCCESS_PROB, SUCCESS_ROUGE = 0.2, 0.4


def resolve_thresholds(cfg):
    from squeeze.diagnose.verdict_config import load_verdict_thresholds

    thresholds = load_verdict_thresholds(cfg.thresholds or None)
    names = ("tau", "n_min", "s_min", "min_support")
    overrides = {k: getattr(cfg, k) for k in names if getattr(cfg, k, None) is not None}
    if overrides:
        thresholds = dataclasses.replace(thresholds, **overrides, source=f"{thresholds.source} + command line")
    return thresholds


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(values)) if values else None


def _target_logps(scores) -> dict:
    """{item_id: (mean logp ref, mean logp ckpt, sum logp ref, sum logp ckpt)} of the target."""
    target = scores[scores["group"] == "target"].set_index(["item_id", "step"])
    out = {}
    for item_id in target.index.get_level_values(0).unique():
        ref, ckpt = target.loc[(item_id, 0)], target.loc[(item_id, 1)]
        out[str(item_id)] = (
            float(ref["logp_mean"]),
            float(ckpt["logp_mean"]),
            float(ref["logp_sum"]),
            float(ckpt["logp_sum"]),
        )
    return out


def _training_dynamics(run_dir) -> dict | None:
    """The squeeze statistics of the unlearning run itself (tracked over training), if any."""
    if run_dir is None or not (Path(run_dir) / "dynamics_summary.json").is_file():
        return None
    from squeeze.core.rundir import read_json

    summary = read_json(Path(run_dir) / "dynamics_summary.json")

    def pick(how):
        return {k: summary.get(how, {}).get(k) for k in ("squeeze_peak", "escape_gap", "delta_target")}

    return {
        "source": str(Path(run_dir) / "dynamics_summary.json"),
        "mean": pick("mean"),
        "median": pick("median"),
        "leak": {k: v for k, v in (summary.get("leak") or {}).items() if k != "items"} or None,
    }


def sample_support(sample_judgments: list, s_min: float) -> float | None:
    """The share of sampled answers whose Similarity reaches s_min (unparsed ones left out);
    None when there are none."""
    scored = [j.similarity for j in sample_judgments if j.similarity is not None]
    return sum(s >= s_min for s in scored) / len(scored) if scored else None


def verdict_rows(
    inputs: dict, scores, rows: list[dict], judgments: list, thresholds, sample_judgments: list | None = None
) -> list:
    """One typed VerdictRow per forget item (squeeze.diagnose.rows): the rule applied to the
    target's log-prob drop, the judge's scores of the checkpoint's greedy answer and the
    support of its sampled answers."""
    from squeeze.diagnose.verdict import decide
    from squeeze.track.stats import summarise
    from squeeze.world.build import contains_fact

    summary = summarise(scores)
    logps = _target_logps(scores)
    out = []
    sample_judgments = sample_judgments or [[] for _ in rows]
    for record, row, judgment, drawn in zip(inputs["forget"], rows, judgments, sample_judgments, strict=False):
        ref_mean, ckpt_mean, ref_sum, ckpt_sum = logps[record.id]
        drop = ref_mean - ckpt_mean
        truncated = bool(row.get("truncated", False))
        support = sample_support(drawn, thresholds.s_min)
        decision = decide(
            drop, judgment.similarity, judgment.naturalness, thresholds, truncated=truncated, support=support
        )
        stats = summary["items"].get(record.id, {})
        fact = record.fact
        out.append(
            VerdictRow(
                item_id=record.id,
                question=record.question,
                target=record.answer,
                generation=row["generation"],
                reference_model_generation=row["reference_model_generation"],
                verdict=decision.verdict,
                verdict_reason=decision.reason,
                similarity=judgment.similarity,
                naturalness=judgment.naturalness,
                judge_reason=judgment.reason,
                target_logp_mean_reference=ref_mean,
                target_logp_mean_checkpoint=ckpt_mean,
                target_logp_mean_drop=drop,
                target_logp_sum_drop=ref_sum - ckpt_sum,
                truncated=truncated,
                n_samples=len(drawn),
                sample_support=support,
                sample_leak_rate=(
                    sum(contains_fact(j.generation, fact) for j in drawn) / len(drawn) if drawn and fact else None
                ),
                leaks=contains_fact(row["generation"], fact) if fact is not None else None,
                reference_leaks=contains_fact(row["reference_model_generation"], fact) if fact is not None else None,
                stats={k: stats.get(k) for k in ITEM_STATS},
            )
        )
    return out


def assemble_report(
    cfg,
    inputs: dict,
    scores,
    rows: list[dict],
    judgments: list,
    metrics: dict,
    judge,
    run_dir,
    paths: dict,
    sample_judgments: list | None = None,
    attacks: tuple[list[dict], dict] | None = None,
) -> dict:
    """report.json; `attacks` (rows, block) from squeeze.diagnose.attack_step add the attacks'
    recovery rates and split the forgotten items into shallow and robust (issue 11)."""
    from judges import failure_counts
    from squeeze.diagnose.verdict import leak_agreement
    from squeeze.track.stats import summarise

    thresholds = resolve_thresholds(cfg)
    summary = summarise(scores)
    logps = _target_logps(scores)
    from squeeze.diagnose.calibration_check import calibration_report
    from squeeze.diagnose.naturalness import naturalness_note
    from squeeze.world.build import contains_fact

    items = verdict_rows(inputs, scores, rows, judgments, thresholds, sample_judgments)
    chance = None
    if any("retain_model_generation" in r for r in rows):
        chance = Rate.count(
            contains_fact(r["retain_model_generation"], rec.fact) if rec.fact is not None else None
            for r, rec in zip(rows, inputs["forget"], strict=False)
        )
    verdicts = [i.verdict for i in items]
    has_facts = any(i.leaks is not None for i in items)
    before_leak = Rate.count(i.reference_leaks for i in items)
    truncated = Rate.count(i.truncated for i in items)
    verdict_summary = VerdictSummary.of(verdicts)
    if attacks is not None:  # issue 11: forgotten split into shallow / robust, recovery per attack
        from squeeze.attacks.robustness import attack_extras, split_forgotten

        split_forgotten(items, attacks[0])
        verdict_summary.extras.update(attack_extras(items, attacks[1], verdict_summary.n_judged))
    report = {
        "format": FORMAT,
        **paths,
        "forget": inputs["forget_source"],
        "retain": inputs["retain_source"],
        "world": inputs["world"],
        "n_items": len(items),
        "judge": {"backend": judge.backend, "model": judge.model, "prompt_version": judge.prompt_version},
        "thresholds": thresholds.to_dict(),
        "calibration": calibration_report(thresholds.source, paths["model"], inputs, judge.backend),
        "naturalness_lm": naturalness_note(cfg, judge.backend),
        "answer_samples": getattr(cfg, "answer_samples", 0),
        "verdicts": verdict_summary.to_dict(),
        "generation": {
            "max_new_tokens": cfg.max_new_tokens,
            "stops_at": "end of sequence",
            "truncated": truncated.to_dict(),
        },
        "judge_scores": {
            "similarity_mean": _mean(j.similarity for j in judgments),
            "naturalness_mean": _mean(j.naturalness for j in judgments),
            **failure_counts(judgments),
        },
        "squeeze": {
            "between": "reference (step 0) and checkpoint (step 1)",
            "n_items": summary["n_items"],
            "mean": {k: summary["mean"].get(k) for k in SQUEEZE_KEYS},
            "median": {k: summary["median"].get(k) for k in SQUEEZE_KEYS},
        },
        "training_dynamics": _training_dynamics(run_dir),
        "leakage": leak_agreement(verdicts, [i.leaks for i in items]) if has_facts else None,
        # How often a model that never saw the facts states them (the retain model's greedy answers).
        "chance_leak": chance.to_dict() if chance is not None and chance.n else None,
        "before": {  # the reference model on the same items
            "forget_prob": float(np.mean([math.exp(v[0]) for v in logps.values()])),
            "leak_rate": before_leak.rate,
            "leak": before_leak.to_dict() if before_leak.n else None,
        },
        "metrics": metrics["metrics"],
        "aggregates": metrics["aggregates"],
        "items": [i.to_dict() for i in items],
    }
    if attacks is not None:
        report["attacks"] = attacks[1]
    report["conclusion"] = conclusion(report)
    return report


# ---- plain language ----------------------------------------------------------------------------


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _rate_text(rate: dict | None) -> str:
    """A stored Rate as "30% [11-60%] (3/10)"."""
    return "n/a" if not rate else Rate.from_dict(rate).text()


def _chance_text(report: dict) -> str:
    """The chance baseline beside a leak rate: how often a model that never saw the facts states them."""
    chance = report.get("chance_leak")
    if not chance:
        return "chance baseline: not measured (give --retain-model)"
    return f"chance baseline, the retain model: {_rate_text(chance)}"


def conclusion(report: dict) -> str:
    """One paragraph, written from the numbers; every claim it makes is a number in the report."""
    v, m, sq = report["verdicts"], report["metrics"], report["squeeze"]["median"]
    rates, parts = v["rates"], []
    prob, rouge, before = m.get("forget_prob"), m.get("forget_rouge"), report["before"]["forget_prob"]
    conv = (
        f"forget Prob went from {before:.2f} (reference) to {prob:.2f}"
        if prob is not None
        else "forget Prob was not measured"
    )
    if rouge is not None:
        conv += f" and the greedy answers' ROUGE-L recall of the targets is {rouge:.2f}"
    success = prob is not None and prob < SUCCESS_PROB and (rouge is None or rouge < SUCCESS_ROUGE)
    parts.append(
        f"By the conventional metrics the {report['n_items']} forget items look "
        f"{'forgotten' if success else 'not (fully) forgotten'}: {conv}."
    )
    if v["n_judged"] == 0:
        parts.append("No item could be judged (every judge answer failed to parse), so no verdict rates can be given.")
        return " ".join(parts)
    summary = VerdictSummary.from_dict(v)

    def shown(name):
        return summary.rate(name).text(counts=False)

    parts.append(
        f"The judge reads the checkpoint's answers as spurious in {shown('spurious')} of the judged items "
        f"(the target is suppressed but the answer still conveys it in other words), forgotten in "
        f"{shown('forgotten')}, collapsed into broken language in {shown('collapsed')}, and "
        f"retained in {shown('retained')} (95% intervals in brackets)."
    )
    if not summary.resolvable:
        parts.append(
            f"With only {summary.n_judged} judged items (under {MIN_RESOLVABLE_ITEMS}), differences between "
            "methods are not resolvable."
        )
    if v["counts"]["unjudged"]:
        parts.append(f"{v['counts']['unjudged']} item(s) stay unjudged because a judge score could not be parsed.")
    d_target, d_high, gap = sq.get("delta_target"), sq.get("delta_mass_high"), sq.get("escape_gap")
    if d_target is not None and d_high is not None and gap is not None:
        if abs(d_target) < 1.0 and abs(d_high) < 1.0:
            shape = "neither moved much"
        elif d_high >= -1.0 and gap > 1.0:
            shape = "the high bin kept or gained mass while the target fell: the squeezing effect"
        elif gap > 1.0:
            shape = "the high bin fell less than the target, so the target was pushed down harder than the model's other answers"
        else:
            shape = "the high bin fell about as far as the target, so there is no sign of squeezing"
        parts.append(
            f"Per item (median), the target's sequence log-prob changed by {d_target:+.1f} nats and the "
            f"high-likelihood bin's mass by {d_high:+.1f} nats (escape gap {gap:+.1f}): {shape}."
        )
    leak = report.get("leakage")
    if leak and leak.get("leak_rate") is not None:
        text = (
            f"The world oracle finds the forgotten fact still stated in {_rate_text(leak.get('leak'))} of the greedy "
            f"answers (the reference: {_rate_text(report['before'].get('leak'))}; {_chance_text(report)})"
        )
        if leak.get("leaking_judged_knows") is not None:
            text += f"; {_pct(leak['leaking_judged_knows'])} of the leaking items are judged spurious or retained"
        if leak.get("kappa") is not None:
            text += f" (Cohen's kappa {leak['kappa']:.2f})"
        parts.append(text + ".")
    if summary.extras.get("shallow_of_forgotten") and summary.extras["shallow_of_forgotten"].n:
        parts.append(
            f"Under the attacks ({', '.join(report['attacks']['summary']['checkpoint'])}), the fact came back for "
            f"{summary.extras['shallow_of_forgotten'].text()} of the forgotten items (shallow); "
            f"{summary.extras['forgotten_robust'].text(counts=False)} of the judged items are forgotten robustly."
        )
    top = max(("spurious", "forgotten", "collapsed", "retained"), key=lambda k: rates[k] or 0.0)
    bottom = {
        "spurious": "most of this apparent forgetting is spurious: the knowledge is still there, worded differently",
        "forgotten": "the forgetting looks genuine on most items",
        "collapsed": "the model mostly 'forgets' by no longer producing fluent answers",
        "retained": "most of the forget set was not unlearned at all",
    }[top]
    if success and top == "spurious":
        bottom += ", which the conventional metrics miss"
    parts.append(f"Bottom line: {bottom}.")
    return " ".join(parts)


# ---- report.md ---------------------------------------------------------------------------------


def _inline(text) -> str:
    """Text safe inside a Markdown table cell or line: one line, markup characters escaped."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return re.sub(r"([\\`*_|<>\[\]#])", r"\\\1", text) or "(empty)"


def _num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def spurious_examples(report: dict, k: int) -> list[VerdictRow]:
    """The spurious items that show it most clearly: highest Similarity, then largest target drop."""
    rows = [row for row in map(VerdictRow.from_dict, report["items"]) if row.verdict == "spurious"]
    return sorted(rows, key=lambda r: (-(r.similarity or 0.0), -(r.target_logp_sum_drop or 0.0), r.item_id))[:k]


def _robustness_rows(summary: VerdictSummary, leak) -> list[str]:
    """The forgotten row split by the attacks' evidence (issue 11): shallow and robust."""
    return [
        f"| &nbsp; forgotten ({kind}) | {summary.extras[f'forgotten_{kind}'].k} | "
        f"{summary.extras[f'forgotten_{kind}'].text(counts=False)} |" + (" |" if leak else "")
        for kind in ("shallow", "robust")
    ]


def render_markdown(report: dict, top_examples: int = 5) -> str:
    lines = _header_lines(report) + _verdict_lines(report) + _statistics_lines(report) + _leakage_lines(report)
    lines += _example_lines(report, top_examples) + _closing_lines(report)
    return "\n".join(lines)


def _header_lines(report: dict) -> list[str]:
    """What was diagnosed, with which judge, thresholds and calibration."""
    from squeeze.diagnose.calibration_check import describe as describe_calibration

    t = report["thresholds"]
    lines = [
        f"# Diagnosis of {_inline(report['model'])}",
        "",
        f"- reference model: {_inline(report['reference_model'])}",
        f"- forget set: {_inline(report['forget'])} ({report['n_items']} items)",
        f"- judge: {_inline(report['judge']['backend'])} / {_inline(report['judge']['model'])} ({_inline(report['judge']['prompt_version'])})",
        f"- thresholds ({_inline(t['source'])}): tau = {t['tau']:g} nats/token, n_min = {t['n_min']:g}, "
        f"s_min = {t['s_min']:g}, min_support = {t.get('min_support', 'n/a')}; sampled answers per item: "
        f"{report.get('answer_samples', 0)}",
        f"- naturalness: {_inline((report.get('naturalness_lm') or {}).get('note', 'n/a'))}",
        f"- calibration: {_inline(describe_calibration(report.get('calibration') or {}))}",
        *[f"> **Calibration warning:** {_inline(w)}." for w in (report.get("calibration") or {}).get("warnings", [])],
        "",
        "## Verdicts",
        "",
    ]
    return lines


def _verdict_lines(report: dict) -> list[str]:
    """The verdict table with intervals, truncation and the attacks' section."""
    from squeeze.diagnose.verdict import ALL_VERDICTS

    v, leak = report["verdicts"], report.get("leakage")
    summary = VerdictSummary.from_dict(v)
    header = "| verdict | items | rate of judged [95% interval] |" + (" leaking items |" if leak else "")
    lines = [header, "|---|---:|---:|" + ("---:|" if leak else "")]
    for name in ALL_VERDICTS:
        rate = summary.rate(name).text(counts=False)
        rate = f"({rate} of all)" if name == "unjudged" else rate
        cell = f" {leak['by_verdict'][name]['leaks']} of {leak['by_verdict'][name]['n']} |" if leak else ""
        lines.append(f"| {name} | {summary.counts[name]} | {rate} |{cell}")
        if name == "forgotten" and "forgotten_robust" in summary.extras:
            lines += _robustness_rows(summary, leak)
    lines += ["", "Intervals are Wilson 95% intervals over items."]
    if not summary.resolvable:
        lines.append(
            f"With {summary.n_judged} judged items (under {MIN_RESOLVABLE_ITEMS}) the intervals are wide: "
            "differences between methods are not resolvable on this set."
        )
    gen = report.get("generation")
    if gen:
        cut = Rate.from_dict(gen["truncated"])
        lines.append(
            f"Answers stop at end of sequence (at most {gen['max_new_tokens']} new tokens); "
            f"cut off at that limit: {cut.text()}, never judged as complete."
        )
    if report.get("attacks"):
        from squeeze.attacks.report import render_section

        lines += ["", *render_section(report["attacks"])]
    return lines


def _statistics_lines(report: dict) -> list[str]:
    """Judge score means, the squeeze statistics and the conventional metrics."""
    js = report["judge_scores"]
    lines = [
        "",
        f"Mean Similarity {_num(js['similarity_mean'])}, mean Naturalness {_num(js['naturalness_mean'])} (0-5); "
        f"unparsed judge answers: {js['unparsed_items']} of {js['items']}.",
        "",
        "![verdicts](figures/verdicts.png)",
        "",
        "## Squeeze statistics (reference -> checkpoint)",
        "",
        "| statistic (nats unless a share) | mean | median |",
        "|---|---:|---:|",
    ]
    for key in SQUEEZE_KEYS:
        lines.append(
            f"| {key} | {_num(report['squeeze']['mean'].get(key))} | {_num(report['squeeze']['median'].get(key))} |"
        )
    td = report.get("training_dynamics")
    if td:
        lines += [
            "",
            f"Over the unlearning run itself ({_inline(td['source'])}): mean squeeze peak {_num(td['mean']['squeeze_peak'])}, "
            f"mean escape gap {_num(td['mean']['escape_gap'])}.",
        ]
        dynamics = [f for f in td.get("figures", []) if Path(f).name == "dynamics.png"]
        lines += ["", f"![dynamics of the run]({dynamics[0]})"] if dynamics else []
    lines += [
        "",
        "![per-bin log-prob change](figures/bin_logprob_change.png)",
        "",
        "## Conventional metrics",
        "",
        "| metric | value |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {_num(val, 4)} |" for k, val in sorted(report["metrics"].items())]
    for name, groups in sorted(report.get("aggregates", {}).items()):
        lines.append(f"| aggregate {name} | " + ", ".join(f"{g} {_num(x, 3)}" for g, x in groups.items()) + " |")
    return lines


def _leakage_lines(report: dict) -> list[str]:
    """The world oracle's leak rate beside the reference's and the chance baseline."""
    leak = report.get("leakage")
    if not leak:
        return []
    return [
        "",
        "## Fact leakage (world oracle)",
        "",
        f"{_rate_text(leak.get('leak'))} of greedy answers still state the fact "
        f"(reference model: {_rate_text(report['before'].get('leak'))}; {_chance_text(report)}). "
        f"Leaking items judged spurious or retained: {_pct(leak['leaking_judged_knows'])}; non-leaking items judged forgotten "
        f"or collapsed: {_pct(leak['clean_judged_gone'])}; agreement {_pct(leak['agreement'])}, Cohen's kappa {_num(leak['kappa'])}.",
    ]


def _example_lines(report: dict, top_examples: int) -> list[str]:
    """The items where the unlearning is most clearly spurious."""
    examples = spurious_examples(report, top_examples)
    lines = ["", "## Where the unlearning is most clearly spurious", ""]
    if not examples:
        lines += ["No item was judged spurious.", ""]
    for item in examples:
        leak_note = "" if item.leaks is None else f", fact {'still stated' if item.leaks else 'not stated'}"
        lines += [
            f"**{_inline(item.item_id)}**: {_inline(item.question)}",
            "",
            f"- target: {_inline(item.target)}",
            f"- reference model said: {_inline(item.reference_model_generation)}",
            f"- checkpoint says: {_inline(item.generation)}",
            f"- Similarity {_num(item.similarity)}, Naturalness {_num(item.naturalness)}; target fell "
            f"{_num(item.target_logp_sum_drop, 3)} nats ({_num(item.target_logp_mean_drop, 3)}/token){leak_note}",
            "",
        ]
    return lines


def _closing_lines(report: dict) -> list[str]:
    """The conclusion and the provenance."""
    lines = ["## Conclusion", "", report["conclusion"], ""]
    prov = report.get("provenance")
    if prov:
        commit = (prov.get("git_commit") or "no git")[:12] + ("+dirty" if prov.get("git_dirty") else "")
        lines += [
            "## Provenance",
            "",
            f"squeeze {_inline(prov.get('squeeze_version'))} ({_inline(commit)}), torch {_inline(prov.get('torch'))}, "
            f"transformers {_inline(prov.get('transformers'))}; device {_inline(prov.get('device'))}, dtype "
            f"{_inline(prov.get('dtype'))}; {_inline(prov.get('started'))} to {_inline(prov.get('finished'))}. "
            "Versions, seeds, the full config and data sha256 are in report.json (`provenance`).",
            "",
        ]
    return lines


def write_outputs(out: Path, report: dict, scores, top_examples: int = 5) -> None:
    """metrics.json, report.json, report.md and the two figures, each written atomically."""
    from squeeze.core.rundir import write_json, write_text
    from squeeze.diagnose.plots import plot_bin_logprob_change, plot_verdicts

    write_json(out / "metrics.json", {**report["metrics"], "aggregates": report["aggregates"]})
    plot_verdicts(report, out / "figures" / "verdicts.png")
    plot_bin_logprob_change(scores, out / "figures" / "bin_logprob_change.png")
    write_json(out / "report.json", report)
    write_text(out / "report.md", render_markdown(report, top_examples))
