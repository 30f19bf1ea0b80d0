#!/bin/bash
# Seeds 1 and 2 of the attacks experiment at the demo's attack settings (docs/attacks.md,
# "Three seeds"): seed 0 is `make demo`'s run, copied to $ROOT/seed0; seeds 1 and 2 unlearn
# GA, NPO, BS-T and BS-S again from the same world, original/retain models and bins.
# Then: .venv/bin/python docs/attacks/scripts/summarise.py $ROOT --out docs/attacks/seeds
set -euo pipefail
ROOT=${ROOT:-runs/attacks}
SQ=${SQ:-.venv/bin/squeeze}

for s in ${SEEDS:-1 2}; do
  out=$ROOT/seed$s
  mkdir -p $out/stages
  for part in world original bins; do
    [ -e $out/$part ] || cp -r $ROOT/seed0/$part $out/$part
    cp $ROOT/seed0/stages/$part.json $out/stages/$part.json
  done
  nice -n 15 $SQ demo --out $out seed=$s "methods=[ga,npo,bs_t,bs_s]" figures_dir= 2>&1 | tail -3
done
