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
    from squeeze.cli.args import add_config_arguments
    from squeeze.world.stage import WorldConfig

    parser = subparsers.add_parser(
        "world",
        help="generate the fictitious world (forget/retain/holdout/world_facts splits)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, WorldConfig)


def run(args: argparse.Namespace) -> int:
    from squeeze.cli.args import config_from_args
    from squeeze.world.stage import WorldConfig, run

    run(config_from_args(WorldConfig, args))
    return 0
