"""Attacks that expose shallow forgetting (issue 11), by name.

Each attack tries to bring a forgotten fact back: fine-tuning on other data (`relearn`),
rounding the weights (`quantize`), asking in other words (`rephrase`), or sampling instead
of greedy decoding (`sample`). One file per attack, one line here to register it; modules
are imported only when an attack is used, so `import squeeze.attacks` stays light.

    from squeeze.attacks import get_attack
    attempts = get_attack("quantize").run(target)      # target: squeeze.attacks.base.AttackTarget
"""

from __future__ import annotations

import importlib

# One line per attack: name -> the module whose ATTACK it is.
ATTACKS: dict[str, str] = {
    "relearn": "squeeze.attacks.relearn",
    "quantize": "squeeze.attacks.quantize",
    "rephrase": "squeeze.attacks.rephrase",
    "sample": "squeeze.attacks.sample",
}


def get_attack(name: str):
    """The registered `squeeze.attacks.base.Attack` called `name`."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    return importlib.import_module(ATTACKS[name]).ATTACK


__all__ = ["ATTACKS", "get_attack"]
