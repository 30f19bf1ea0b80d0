#!/bin/bash
# The attacks experiment (issue 11, item 5): the default demo (seed 0, all eight methods, the
# four attacks in every diagnose), then unlearning seeds 1 and 2 for GA, NPO, BS-T and BS-S
# from the same world, original/retain models and bins (copied, so those stages are skipped).
# Everything niced; the retain model's baseline is computed once and read from .cache/attacks.
set -euo pipefail
ROOT=${ROOT:-runs/attacks}
SQ=${SQ:-.venv/bin/squeeze}
nice -n 10 $SQ demo --out $ROOT/seed0 figures_dir= 2>&1 | tail -3
SEEDS=${SEEDS:-1 2} ROOT=$ROOT SQ=$SQ bash "$(dirname "$0")/run_seeds.sh"
nice -n 10 .venv/bin/python docs/attacks/scripts/summarise.py $ROOT --out docs/attacks
