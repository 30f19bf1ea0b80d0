"""The world stage (`squeeze world`): write the fictitious world of DESIGN section 3.

run(WorldConfig(out="runs/world", people=20, seed=3, forget_pct=5))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from squeeze.core.config import option


@dataclass
class WorldConfig:
    out: str = option("", "directory to write the world into", metavar="DIR")
    people: int = option(
        100, "people the models train on (forget + retain); about 10% more are made as holdout", metavar="N"
    )
    seed: int = option(0, "random seed", metavar="S")
    forget_pct: Literal[1, 5, 10] = option(10, "percent of the trained people in the forget split, at least one person")
    forget_people: int = option(0, "forget exactly this many people instead (0: forget_pct)", metavar="N")


def run(cfg: WorldConfig) -> Path:
    """Generate and write the world; returns its directory. Prints the split sizes."""
    from squeeze.core.errors import ConfigError
    from squeeze.world.build import generate_world

    if not cfg.out:
        raise ConfigError("--out is required (the directory to write the world into)")
    world = generate_world(
        n_people=cfg.people, seed=cfg.seed, forget_pct=cfg.forget_pct, forget_people=cfg.forget_people
    )
    out = world.write(cfg.out)
    counts = ", ".join(f"{name} {len(records)}" for name, records in world.splits.items())
    people = ", ".join(f"{name} {n}" for name, n in world.people.items())
    print(f"wrote world to {out}: records: {counts}; people: {people}")
    return Path(out)
