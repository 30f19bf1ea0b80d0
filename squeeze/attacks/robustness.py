"""Verdicts that use the attacks' evidence (issue 11, item 3).

An item judged *forgotten* whose fact comes back under any attack that measured it
(leak_after true) is *forgotten (shallow)*; one that no attack brought back is
*forgotten (robust)*. The four verdict rates of DESIGN section 10 stay as they are; beside
them the verdict summary's extras (squeeze.diagnose.rows.VerdictSummary) give the shallow
and robust shares of the judged items (they sum to the forgotten rate), the shallow share
of the forgotten items and each attack's recovery rate, each a Rate with its Wilson interval.
"""

from __future__ import annotations

from collections.abc import Sequence

from squeeze.core.intervals import Rate

SHALLOW, ROBUST = "shallow", "robust"


def recovered_by(rows: Sequence[dict], role: str = "checkpoint") -> dict[str, list[str]]:
    """{item id: the attacks under which its fact came back} over the attacks that measured it."""
    out: dict[str, list[str]] = {}
    for row in rows:
        if row["model"] != role:
            continue
        hits = out.setdefault(row["item_id"], [])
        if row["leak_after"]:
            hits.append(row["attack"])
    return out


def split_forgotten(items: Sequence, rows: Sequence[dict]) -> None:
    """Each VerdictRow's extras get `robustness` (shallow / robust for a forgotten item, else None)
    and `recovered_by` (the attacks that brought its fact back)."""
    evidence = recovered_by(rows)
    for item in items:
        hits = evidence.get(item.item_id, [])
        item.extras["recovered_by"] = hits
        item.extras["robustness"] = None if item.verdict != "forgotten" else SHALLOW if hits else ROBUST


def attack_extras(items: Sequence, block: dict, n_judged: int) -> dict[str, Rate]:
    """The rates report.json's verdict summary carries beside the four verdicts (their
    `extras`): forgotten_shallow and forgotten_robust over the judged items,
    shallow_of_forgotten, and recovery_<attack> for every attack on the checkpoint."""
    shallow = sum(i.extras.get("robustness") == SHALLOW for i in items)
    robust = sum(i.extras.get("robustness") == ROBUST for i in items)
    out = {
        "forgotten_shallow": Rate.of(shallow, n_judged),
        "forgotten_robust": Rate.of(robust, n_judged),
        "shallow_of_forgotten": Rate.of(shallow, shallow + robust),
    }
    for attack, summary in block["summary"].get("checkpoint", {}).items():
        out[f"recovery_{attack}"] = Rate.from_dict(summary["recovery"])
    return out
