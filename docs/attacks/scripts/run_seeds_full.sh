#!/bin/bash
# The full attack set (two relearn folds, 8 and 4 bits, leak@16: squeeze attack's defaults) on
# the twelve checkpoints of run_seeds.sh (GA, NPO, BS-T, BS-S x seeds 0, 1, 2), by
# `squeeze diagnose --attacks` into $OUT (docs/attacks.md, "Three seeds, full attack set").
# Then: .venv/bin/python docs/attacks/scripts/summarise.py $OUT --out docs/attacks/seeds_full
set -euo pipefail
SRC=${SRC:-runs/attacks}
OUT=${OUT:-runs/attacks_full}
for s in 0 1 2; do
  for m in ga npo bs_t bs_s; do
    src=$SRC/seed$s
    out=$OUT/seed$s/methods/$m/diagnose
    mkdir -p $out
    OMP_NUM_THREADS=2 ${SQ:-.venv/bin/squeeze} diagnose --model $src/methods/$m/model --reference $src/original/original \
      --world $src/world --retain-model $src/original/retain --attacks relearn,quantize,rephrase,sample \
      --out $out --no-progress > $out.log 2>&1 || { echo "FAILED $s $m"; tail -3 $out.log; }
    echo "done $s $m $(date +%T)"
  done
done
