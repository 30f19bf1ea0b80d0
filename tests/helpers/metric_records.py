"""Hand-written QA records for the metric-suite tests: two forget items, one retain item, one world
fact and two holdout questions, each with a paraphrase and perturbed answers where the metric needs them."""

from __future__ import annotations

from squeeze.core.types import QARecord


def rec(i, q, a, para=None, pert=None):
    return QARecord(str(i), q, a, para, pert)


FORGET = [
    rec(
        0,
        "Where was Ada born ?",
        "Ada was born in Rome .",
        "Rome is where Ada was born .",
        ["Ada was born in Oslo .", "Ada was born in Lima ."],
    ),
    rec(
        1,
        "What does Bo write ?",
        "Bo writes poems .",
        "Poems are what Bo writes .",
        ["Bo writes songs .", "Bo writes plays ."],
    ),
]
RETAIN = [
    rec(
        2,
        "Where does Cy live ?",
        "Cy lives in Lima .",
        "Lima is where Cy lives .",
        ["Cy lives in Rome .", "Cy lives in Oslo ."],
    )
]
FACTS = [rec(3, "Which country is Oslo in ?", "Norway .", None, ["Peru .", "Italy ."])]
HOLDOUT = [rec(4, "Where was Di born ?", "Di was born in Oslo ."), rec(5, "What does Ed write ?", "Ed writes songs .")]
