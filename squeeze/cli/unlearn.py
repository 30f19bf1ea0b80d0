"""`squeeze unlearn`: run one unlearning objective on an original model (DESIGN section 6).

squeeze unlearn --method npo --original runs/original --world runs/world --out runs/npo lr=1e-4 steps=100
squeeze unlearn --method bs_s --original runs/original --forget f.jsonl --retain r.jsonl --out runs/bs_s method.base=bs_t
squeeze unlearn --out runs/npo --resume          # continue a killed run from its last good checkpoint
accelerate launch --config_file configs/accelerate/cpu_2proc.yaml -m squeeze.cli.main unlearn ... device=cpu
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.cli.args import add_config_arguments
    from squeeze.unlearn.config import UnlearnConfig

    parser = subparsers.add_parser(
        "unlearn",
        help="unlearn a forget set from an original model with one objective (ga, npo, bs_t, bs_s, ...)",
        description=(
            "Train the original model with an unlearning objective from methods/ and write OUT/config.yaml, "
            "OUT/loss_log.jsonl and the unlearned model OUT/model (Hugging Face format). Settings come from "
            "the method's defaults (its Objective in methods/<method>.py; --print-config shows them), then --config files, "
            "then flags, then key=value overrides (method.X=v sets the method's own parameter X)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--resume", action="store_true", help="continue OUT from its last good checkpoint")
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved settings (the method's defaults with every file, flag and override applied) and exit",
    )
    return add_config_arguments(parser, UnlearnConfig)


def run(args) -> int:
    import os
    from pathlib import Path

    from squeeze.cli.args import given_values, split_rest
    from squeeze.unlearn.config import load_unlearn_config
    from squeeze.unlearn.stage import run

    values = given_values(args)
    overrides, _ = split_rest(args, positional=False)
    configs = list(args.config)
    stored = Path(values.get("out", "")) / "config.yaml"
    if args.resume and "out" in values and stored.is_file():  # the run's own settings first; flags must agree
        configs.insert(0, str(stored))
    cfg = load_unlearn_config(values.pop("method", ""), configs, overrides, **values)
    if args.print_config:
        from squeeze.core.config import to_yaml
        from squeeze.unlearn.config import resolve_objective

        print(to_yaml(resolve_objective(cfg, check=False)[0]), end="")
        return 0
    out = run(cfg, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":  # under accelerate launch, one line, not one per process
        print(f"wrote {out}")
    return 0
