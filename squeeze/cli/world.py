"""`squeeze world`: write the fictitious world of DESIGN section 3.

squeeze world --out runs/world
squeeze world --out runs/world-small --people 20 --seed 3 --forget-pct 5
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Generate the fictitious world: fictitious people with known facts (birthplace, birth year,
father's occupation, genre, award, debut book, university, instrument, pet, hobby), each
asked and answered in several templates, plus general world facts.

Writes to DIR: forget.jsonl, retain.jsonl, holdout.jsonl, world_facts.jsonl (one QA record
a line: question, answer, paraphrased_answer, perturbed_answer, fact) and manifest.json
(seed, counts, relations, templates, sha256 of each file). The same arguments always give
byte-identical files.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "world",
        help="generate the fictitious world (forget/retain/holdout/world_facts splits)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write the world into")
    parser.add_argument(
        "--people",
        type=int,
        default=100,
        metavar="N",
        help="people the models train on (forget + retain); about 10%% more are made as holdout (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: %(default)s)")
    parser.add_argument(
        "--forget-pct",
        type=int,
        default=10,
        choices=(1, 5, 10),
        metavar="{1,5,10}",
        help="percent of the trained people in the forget split, at least one person (default: %(default)s)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from squeeze.world.build import generate_world

    world = generate_world(n_people=args.people, seed=args.seed, forget_pct=args.forget_pct)
    out = world.write(args.out)
    counts = ", ".join(f"{name} {len(records)}" for name, records in world.splits.items())
    people = ", ".join(f"{name} {n}" for name, n in world.people.items())
    print(f"wrote world to {out}: records: {counts}; people: {people}")
    return 0
