"""`squeeze validate`: do the verdicts mean what they say? Gold models whose truth is known,
each diagnosed with the default judge and thresholds (issue 10 item 1)."""

from __future__ import annotations

import argparse

from squeeze.core.config import describe


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.validate.config import ValidateConfig

    parser = subparsers.add_parser(
        "validate",
        help="diagnose gold models (retain, original, paraphrase_only, noised) and report the confusion matrix",
        description=(
            "From one world, build models whose true state is known by construction: retain (never saw the "
            "forget people: forgotten), original (learned everything: retained), paraphrase_only (trained like "
            "the original without each forget item's target template, siblings kept: spurious) and noised (the "
            "original with weight noise: collapsed). Diagnose each against the original with the default judge "
            "and thresholds, and write OUT/validation.json and OUT/validation.md (the confusion matrix with "
            "counts and Wilson 95% intervals, and the issue's targets met or missed)."
        ),
        epilog="settings (key=value):\n" + describe(ValidateConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="runs/validate", help="run directory (default: runs/validate)")
    parser.add_argument("--fast", action="store_true", help="the small world (20 people)")
    parser.add_argument("--base-model", default="", metavar="PATH|NAME", help="fine-tune gold models from this model")
    parser.add_argument("--config", action="append", default=[], help="YAML file(s) of settings")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="setting overrides, e.g. people=40")
    return parser


def run(args) -> int:
    import json

    from squeeze.core.config import resolve_config
    from squeeze.validate.config import ValidateConfig
    from squeeze.validate.run import validate

    flags = {"out": args.out}
    if args.fast:
        flags["fast"] = True
    if args.base_model:
        flags["base_model"] = args.base_model
    cfg = resolve_config(ValidateConfig, args.config, args.overrides, **flags)
    out = validate(cfg)
    validation = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    for name, entry in validation["gold"].items():
        shares = ", ".join(f"{k} {v:.0%}" for k, v in entry["rates"].items() if v)
        print(f"{name} (truth {entry['truth']}, n={entry['n']}): {shares}")
    print(f"all targets met: {'yes' if validation['all_targets_met'] else 'no'}; wrote {out}/validation.md")
    return 0
