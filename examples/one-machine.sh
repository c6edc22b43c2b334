#!/bin/sh
# Shards of one manifest side by side on one machine, sharing one output folder: each
# shard is its own process, with its own state file and lock in the folder.
#
#   examples/one-machine.sh MANIFEST [SHARDS] [RPM] [run options...]
#
# RPM is the provider's limit per minute; each shard gets RPM/SHARDS, since --rpm and
# --concurrency apply per process. At the end, status reads every shard's state together
# and exits 0 only when every job is done. Run it again to finish what is left: each
# shard resumes where it stopped. Tested by tests/examples/test_machines.py.
set -eu
manifest=$1
shards=${2:-4}
rpm=${3:-600}
shift $(($# < 3 ? $# : 3))
python=${PYTHON:-python}
per_shard=$((rpm / shards))

failed=0
seq 1 "$shards" | xargs -P "$shards" -I{} \
    "$python" -m batch_gen run "$manifest" --shard "{}/$shards" --rpm "$per_shard" \
    --no-progress --quiet "$@" || failed=$?
"$python" -m batch_gen status "$manifest"
exit "$failed"
