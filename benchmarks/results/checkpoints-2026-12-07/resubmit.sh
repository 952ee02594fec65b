#!/bin/bash
# resubmit.sh TIMEOUT JOB...: cancel each job and submit it again from its last checkpoint with
# flink_aligned_checkpoint_timeout_s=TIMEOUT (from its committed offsets if it has none)
T=$1; shift
export PERSONASTREAM_FLINK_ALIGNED_CHECKPOINT_TIMEOUT_S=$T
for j in "$@"; do
  personastream jobs cancel "$j" > /dev/null
  personastream jobs submit "$j" --from-last-checkpoint 2>&1 | tail -1
  personastream jobs list | grep -q "^$j" || personastream jobs submit "$j" 2>&1 | tail -1
done
