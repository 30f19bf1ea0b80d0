"""`squeeze validate`: do the verdicts mean what they say? Gold models whose truth is known,
each diagnosed with the default judge and thresholds (issue 10 item 1)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
From one world, build models whose true state is known by construction: retain (never saw
the forget people: forgotten), original (learned everything: retained), paraphrase_only
(trained like the original without each forget item's target template, siblings kept:
spurious) and noised (the original with weight noise: collapsed). Diagnose each against the
original with the default judge and thresholds, and write OUT/validation.json and
OUT/validation.md: the confusion matrix with counts and Wilson 95% intervals, and the
targets of issue 10 met or missed.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.cli.args import add_config_arguments
    from squeeze.validate.config import ValidateConfig

    parser = subparsers.add_parser(
        "validate",
        help="diagnose gold models (retain, original, paraphrase_only, noised) and report the confusion matrix",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, ValidateConfig)


def run(args) -> int:
    import json

    from squeeze.cli.args import config_from_args
    from squeeze.validate.config import ValidateConfig
    from squeeze.validate.run import validate

    out = validate(config_from_args(ValidateConfig, args))
    validation = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    for name, entry in validation["gold"].items():
        shares = ", ".join(f"{k} {v:.0%}" for k, v in entry["rates"].items() if v)
        print(f"{name} (truth {entry['truth']}, n={entry['n']}): {shares}")
    print(f"all targets met: {'yes' if validation['all_targets_met'] else 'no'}; wrote {out}/validation.md")
    return 0
