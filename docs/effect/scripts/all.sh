#!/bin/bash
# the experiment: 4 methods x seeds, same lr/steps, tracker on, run sequentially
LR=${LR:-1e-4}; STEPS=${STEPS:-110}; TE=${TE:-5}; FB=${FB:-8}
for s in ${SEEDS:-0 1 2}; do
  for m in ${METHODS:-ga npo bs_t bs_s}; do
    /tmp/effect/scripts/run1.sh $m /tmp/effect/${m}_seed$s lr=$LR steps=$STEPS seed=$s track_every=$TE forget_batch_size=$FB || echo "FAILED $m $s" | tee -a /tmp/effect/walltimes.txt
  done
done
