"""`squeeze bins`: the original model's candidate answers for each forget item, binned by
likelihood (DESIGN section 7), written to RUN/bins.jsonl for the tracker.

    squeeze bins --model runs/original --forget runs/world --out runs/ga
    squeeze bins --model runs/original/original --forget forget.jsonl --out runs/npo --candidates 20 --samples 10
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
For each forget item, generate candidate answers from the original model by beam search
(all beams returned; optionally plus samples), drop the target and duplicates (ignoring case
and whitespace), score each by its sequence log-prob under the original model (or the mean
per token with --score mean), rank, and cut into high (top 20%), mid (20-60%) and low
(60-100%). Writes RUN/bins.jsonl and RUN/bins_meta.json (settings and fingerprints of the
model and data); a later call with the same model, data and settings reuses the file.
When the forget items carry facts (the fictitious world), prints how often each bin holds
an answer that still states the fact (the escape routes).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.bins.stage import BinsConfig
    from squeeze.cli.args import add_config_arguments

    parser = subparsers.add_parser(
        "bins",
        help="bin the original model's candidate answers to each forget question by likelihood",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, BinsConfig)


def run(args) -> int:
    from squeeze.bins.stage import BinsConfig, run
    from squeeze.cli.args import config_from_args

    run(config_from_args(BinsConfig, args))
    return 0
