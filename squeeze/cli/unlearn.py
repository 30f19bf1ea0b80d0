"""`squeeze unlearn`: run one unlearning objective on an original model (DESIGN section 6).

squeeze unlearn --method npo --original runs/original --world runs/world --out runs/npo lr=1e-4 steps=100
squeeze unlearn --method bs_s --original runs/original --forget f.jsonl --retain r.jsonl --out runs/bs_s method.base=bs_t
squeeze unlearn --out runs/npo --resume          # continue a killed run from its last good checkpoint
accelerate launch --config_file configs/accelerate/cpu_2proc.yaml -m squeeze.cli.main unlearn ... device=cpu
"""

from __future__ import annotations

import argparse

from squeeze.core.config import describe


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.unlearn.config import UnlearnConfig

    parser = subparsers.add_parser(
        "unlearn",
        help="unlearn a forget set from an original model with one objective (ga, npo, bs_t, bs_s, ...)",
        description=(
            "Train the original model with an unlearning objective from methods/ and write OUT/config.yaml, "
            "OUT/loss_log.jsonl and the unlearned model OUT/model (Hugging Face format). Settings come from "
            "configs/methods/<method>.yaml, then --config files, then key=value overrides "
            "(method.X=v sets the method's own parameter X)."
        ),
        epilog="settings (key=value):\n" + describe(UnlearnConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--method", help="objective: ga, graddiff, npo, simnpo, wga, rmu, bs_t, bs_s")
    parser.add_argument("--original", help="original model folder, or a train-original run folder")
    parser.add_argument("--world", help="world directory (uses its forget and retain splits)")
    parser.add_argument("--forget", help="forget set file (instead of --world)")
    parser.add_argument("--retain", help="retain set file (instead of --world)")
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--config", action="append", default=[], help="YAML file(s) of settings")
    parser.add_argument("--resume", action="store_true", help="continue OUT from its last good checkpoint")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="setting overrides, e.g. lr=1e-4 method.beta=0.2"
    )
    return parser


def run(args) -> int:
    import os
    from pathlib import Path

    from squeeze.track.tracker import tracker_for_config
    from squeeze.unlearn.config import load_unlearn_config
    from squeeze.unlearn.trainer import run_unlearning

    configs = list(args.config)
    stored = Path(args.out) / "config.yaml"
    if args.resume and stored.is_file():  # the run's own settings first; flags must agree with them
        configs.insert(0, str(stored))
    flags = {k: getattr(args, k) for k in ("original", "world", "forget", "retain")}
    cfg = load_unlearn_config(args.method or "", configs, args.overrides, out=args.out, **flags)
    # The tracker is on when the run folder holds bins.jsonl (`squeeze bins --out RUN`).
    tracker = tracker_for_config(cfg)
    out = run_unlearning(cfg, hooks=[tracker] if tracker else [], resume=args.resume)
    if os.environ.get("RANK", "0") == "0":  # under accelerate launch, one line, not one per process
        print(f"wrote {out}")
    return 0
