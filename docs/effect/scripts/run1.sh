#!/bin/bash
# usage: run1.sh METHOD OUTDIR extra key=value...
set -e
m=$1; d=$2; shift 2
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
rm -rf $d; mkdir -p $d
cp /tmp/effect/bins/bins.jsonl /tmp/effect/bins/bins_meta.json $d/
s=$(date +%s.%N)
cd /work/main && .venv/bin/squeeze unlearn --method $m --original /tmp/orig_e30 --world /tmp/w1 --out $d device=cpu "$@" > $d.log 2>&1
e=$(date +%s.%N)
echo "$m $d wall $(echo "$e - $s" | bc)" | tee -a /tmp/effect/walltimes.txt
