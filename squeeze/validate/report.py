"""validation.json and validation.md of `squeeze validate` (issue 10 item 1).

Per gold model: its truth, the share of all its N forget items that got each outcome
(`rates`, the four verdicts and `unjudged`, summing to 1), N, the counts and the Wilson 95%
interval of every share (`ci95`), and each target of the issue, met or missed. `chance_leak`
is the retain model's fact-leak rate: how often a model that never saw the facts names the
right value by guessing; the chance-adjusted retain targets (spurious <= chance_leak + 0.05,
forgotten >= 0.90 - chance_leak) are reported beside the plain ones. validation.md is the
confusion matrix: one row per gold model (its truth), one column per outcome.
"""

from __future__ import annotations

import dataclasses

from squeeze.core.intervals import Rate
from squeeze.diagnose.rows import ALL_VERDICTS
from squeeze.validate.config import GOLD_TRUTH, TARGETS

FORMAT = "squeeze-validation/1"


def _check(measured: float | None, op: str, share: float) -> bool:
    if measured is None:
        return False
    return measured >= share - 1e-12 if op == ">=" else measured <= share + 1e-12


def gold_entry(name: str, report: dict, chance: float | None) -> dict:
    counts = {v: int(report["verdicts"]["counts"].get(v, 0)) for v in ALL_VERDICTS}
    n = sum(counts.values())
    rates = {v: Rate.of(counts[v], n) for v in ALL_VERDICTS}
    targets = []
    for verdict, op, share in TARGETS[name]:
        measured = rates[verdict].rate
        entry = {"verdict": verdict, "op": op, "share": share, "measured": measured, "met": _check(measured, op, share)}
        if name == "retain" and chance is not None:
            adjusted = share + chance if op == "<=" else share - chance
            entry.update(chance_adjusted_share=adjusted, chance_adjusted_met=_check(measured, op, adjusted))
        targets.append(entry)
    truth = GOLD_TRUTH[name]
    return {
        "truth": truth,
        "rates": {v: r.rate for v, r in rates.items()},
        "n": n,
        "counts": counts,
        "ci95": {v: (list(r.ci95) if r.ci95 else None) for v, r in rates.items()},
        "accuracy": rates[truth].to_dict(),
        "truncated": (report.get("generation") or {}).get("truncated"),
        "leak": (report.get("leakage") or {}).get("leak"),
        "targets": targets,
        "diagnose": report.get("model"),
    }


def summarise(cfg, reports: dict[str, dict], out) -> dict:
    any_report = next(iter(reports.values()))
    chance_block = any_report.get("chance_leak")
    chance = Rate.from_dict(chance_block).rate if chance_block and chance_block.get("n") else None
    gold = {name: gold_entry(name, reports[name], chance) for name in GOLD_TRUTH if name in reports}
    return {
        "format": FORMAT,
        "out": str(out),
        "settings": dataclasses.asdict(cfg),
        "judge": any_report["judge"],
        "thresholds": any_report["thresholds"],
        "naturalness_lm": any_report.get("naturalness_lm"),
        "chance_leak": chance,
        "chance_leak_rate": chance_block,
        "gold": gold,
        "all_targets_met": all(t["met"] for entry in gold.values() for t in entry["targets"]),
    }


def render_markdown(validation: dict) -> str:
    t = validation["thresholds"]
    s = validation["settings"]
    lines = [
        "# Validation: verdicts on gold models whose truth is known",
        "",
        f"- world: {s['people']} people, seed {s['world_seed']}, "
        + (f"forget {s['forget_people']} people; " if s.get("forget_people") else f"forget {s['forget_pct']}%; ")
        + f"base model: {s['base_model'] or 'tiny Llama from scratch'}",
        "- forget items: the world's, each target in its relation's held-out wording "
        "(forget_held_out.jsonl): the one answer template paraphrase_only never read, for anyone",
        f"- judge: {validation['judge']['backend']} / {validation['judge']['model']} "
        f"(settings: {s.get('judge_config') or 'packaged'}); "
        f"naturalness LM: {(validation.get('naturalness_lm') or {}).get('note', 'n/a')}",
        f"- thresholds ({t['source']}): tau {t['tau']:g}, n_min {t['n_min']:g}, s_min {t['s_min']:g}, "
        f"min_support {t.get('min_support', 'n/a')}; sampled answers per item: {s['answer_samples']}",
        "- chance baseline (the retain model's fact-leak rate): "
        + (Rate.from_dict(validation["chance_leak_rate"]).text() if validation.get("chance_leak_rate") else "n/a"),
        "",
        "## Confusion matrix (rows: the truth by construction; cells: items [95% interval])",
        "",
        "| gold model (truth) | n | " + " | ".join(ALL_VERDICTS) + " |",
        "|---|---:|" + "---:|" * len(ALL_VERDICTS),
    ]
    for name, entry in validation["gold"].items():
        cells = []
        for v in ALL_VERDICTS:
            rate = Rate.of(entry["counts"][v], entry["n"])
            cell = f"{entry['counts'][v]} ({rate.text(counts=False)})"
            cells.append(f"**{cell}**" if v == entry["truth"] else cell)
        lines.append(f"| {name} ({entry['truth']}) | {entry['n']} | " + " | ".join(cells) + " |")
    lines += ["", "Shares are of all n items (unjudged included), so each row sums to 1.", "", "## Targets", ""]
    for name, entry in validation["gold"].items():
        for target in entry["targets"]:
            measured = "n/a" if target["measured"] is None else f"{100 * target['measured']:.0f}%"
            line = (
                f"- {name}: {target['verdict']} {target['op']} {100 * target['share']:.0f}%: measured {measured} "
                f"-> {'met' if target['met'] else 'MISSED'}"
            )
            if "chance_adjusted_share" in target:
                line += (
                    f" (chance-adjusted {target['op']} {100 * target['chance_adjusted_share']:.0f}%: "
                    f"{'met' if target['chance_adjusted_met'] else 'MISSED'})"
                )
            lines.append(line)
    lines += ["", f"All targets met: {'yes' if validation['all_targets_met'] else 'no'}.", ""]
    return "\n".join(lines)
