"""The attacks' report (issue 11, item 2): attacks.json and the Markdown section that
`squeeze attack` writes as attacks.md and `squeeze diagnose --attacks` puts in report.md.

Per attack: the items it measured, the leak rate before (greedy, own question) and after
(any attempt), and the recovery rate (items not leaking before and leaking after, over the
items not leaking before) with its Wilson 95% interval, beside the same for the retain
model (the baseline: a model that never knew the facts). Per variant, the share of its
attempts that leak.
"""

from __future__ import annotations

import math

FORMAT = "squeeze-attacks/1"


def _pct(share: dict | None) -> str:
    if not share or share.get("rate") is None:
        return "n/a"
    low, high = share["ci95"]
    return f"{100 * share['rate']:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


def _count(share: dict | None) -> str:
    return "n/a" if not share or share.get("rate") is None else f"{share['k']}/{share['n']}"


def summary_block(summary: dict, settings: dict, timings: dict) -> dict:
    """What report.json / attacks.json hold about the attacks."""
    return {"format": FORMAT, "settings": settings, "summary": summary, "timings": timings}


def render_section(block: dict, heading: str = "##") -> list[str]:
    """Markdown lines: one table over attacks, one over variants."""
    summary = block["summary"]
    mine, base = summary.get("checkpoint", {}), summary.get("retain_model", {})
    lines = [
        f"{heading} Attacks: does the fact come back?",
        "",
        "Recovery = items whose greedy answer did not convey the fact and that leak under the attack, over the "
        "items that did not leak before (95% Wilson interval). The retain model never saw the forget set: its "
        "recovery is the baseline of chance guesses.",
        "",
        "| attack | items | leak before | leak after | recovered | recovery | retain model: recovery |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for attack, s in mine.items():
        b = base.get(attack)
        lines.append(
            f"| {attack} | {s['n_items']} | {_pct(s['leak_before'])} | {_pct(s['leak_after'])} | "
            f"{_count(s['recovery'])} | {_pct(s['recovery'])} | {_pct(b['recovery']) if b else 'not run'} |"
        )
    lines += ["", "| attack | variant | attempts | leaking | retain model: leaking |", "|---|---|---:|---:|---:|"]
    for attack, s in mine.items():
        for variant, share in s["variants"].items():
            b = (base.get(attack) or {}).get("variants", {}).get(variant)
            lines.append(f"| {attack} | {variant} | {share['n']} | {_pct(share)} | {_pct(b) if b else 'n/a'} |")
    lines.append("")
    return lines


def render_markdown(block: dict, meta: dict) -> str:
    lines = [f"# Attacks on {meta.get('model', '')}", ""]
    for key in ("reference_model", "retain_model", "forget", "judge"):
        if meta.get(key):
            lines.append(f"- {key.replace('_', ' ')}: {meta[key]}")
    lines.append("")
    lines += render_section(block)
    seconds = {k: v.get("attack_seconds") for k, v in block["timings"].get("checkpoint", {}).items()}
    if seconds:
        shown = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items() if v is not None and not math.isnan(v))
        lines += [f"Time per attack on the checkpoint (generation and fine-tuning, without judging): {shown}.", ""]
    return "\n".join(lines)
