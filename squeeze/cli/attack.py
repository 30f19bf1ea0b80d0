"""`squeeze attack`: relearning, quantization, unseen phrasings and sampling against a checkpoint (issue 11).

    squeeze attack --model runs/demo/methods/npo --reference runs/demo/original --world runs/demo/world \\
        --retain-model runs/demo/original/retain --attacks relearn,quantize,rephrase,sample --out runs/npo-attack
    squeeze attack --model ckpt/ --reference orig/ --forget forget.jsonl --retain retain.jsonl relearn_steps=50

Every flag is a field of squeeze.diagnose.attack_config.AttackConfig (`--relearn-steps 50` or
`relearn_steps=50`, the judge as in diagnose: `--judge BACKEND`, `--judge-<option>`);
`--config FILE` reads YAML first.
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Try to bring the forget set back from a checkpoint: `relearn` fine-tunes an in-memory copy
for a few steps on one half of the forget set (or on retain data) and asks the other half;
`quantize` rounds the weights to 8 and 4 bits; `rephrase` asks in question templates the
unlearning never used and after unrelated facts (few-shot); `sample` draws k answers at
temperature 1 (leak@k). A fact counts as back when the world's oracle finds the value in
the answer (or, without facts, when the judge's Similarity reaches s_min). Writes
OUT/attacks.jsonl (per model, attack and item: before, attempts, judge scores),
attacks.json and attacks.md (recovery rates with 95% Wilson intervals, beside the retain
model's when --retain-model is given). The checkpoint's files are never changed.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.cli.args import add_config_arguments
    from squeeze.diagnose.attack_config import AttackConfig

    parser = subparsers.add_parser(
        "attack",
        help="relearn, quantize, rephrase and sample attacks: do forgotten facts come back?",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, AttackConfig, constants={"--no-cache": ("judge.cache", "", "cache nothing")})


def config_from_args(args):
    from squeeze.cli.args import config_from_args as from_args
    from squeeze.cli.args import require
    from squeeze.diagnose.attack_config import AttackConfig

    cfg = from_args(AttackConfig, args)
    require(cfg, "model")
    return cfg


def run(args) -> int:
    from squeeze.core.rundir import read_json
    from squeeze.diagnose.attack_stage import run as run_attacks

    out = run_attacks(config_from_args(args))
    summary = read_json(out / "attacks.json")["summary"]
    for attack, s in summary.get("checkpoint", {}).items():
        rec = s["recovery"]
        base = summary.get("retain_model", {}).get(attack, {}).get("recovery")
        line = f"{attack}: recovery {rec['k']}/{rec['n']}" + (
            f" ({rec['rate']:.0%})" if rec["rate"] is not None else ""
        )
        if base and base["rate"] is not None:
            line += f"; retain model {base['k']}/{base['n']} ({base['rate']:.0%})"
        print(line)
    return 0
