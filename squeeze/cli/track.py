"""`squeeze track`: dynamics (target and bin log-probs, squeeze peak, escape gap, figures) from
any trainer's saved checkpoints (squeeze.diagnose.checkpoint_series).

    squeeze track --checkpoints ckpts/ --reference orig/ --forget forget.jsonl --out runs/tracked
    squeeze track --checkpoints ckpts/checkpoint-50 ckpts/checkpoint-100 --reference orig --forget world/ --out t batch_size=auto
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Score the target and the bin candidates of each forget item at every saved checkpoint of an
unlearning run made by any trainer (folders named checkpoint-N, step_N, ...; a folder that
holds them stands for all), with the reference model as step 0. Writes what a run of
`squeeze unlearn` writes: OUT/bins.jsonl, dynamics.parquet, probes.parquet,
dynamics_summary.json (squeeze peak, escape gap, matched forgetting) and figures/, plus
track.json. Every flag can also be given as key=value.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.cli.args import add_config_arguments
    from squeeze.diagnose.checkpoint_series import TrackConfig

    parser = subparsers.add_parser(
        "track",
        help="dynamics and squeeze statistics from any trainer's checkpoints",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, TrackConfig, constants={"--quiet": ("progress", False, "no progress bars")})


def run(args) -> int:
    from squeeze.cli.args import config_from_args, require
    from squeeze.diagnose.checkpoint_series import TrackConfig
    from squeeze.diagnose.checkpoint_series import run as track

    cfg = config_from_args(TrackConfig, args)
    require(cfg, "checkpoints", "reference", "forget", "out")
    track(cfg)
    return 0
