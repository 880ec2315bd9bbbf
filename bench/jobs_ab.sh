#!/bin/bash
# Alternate job-submission benches of several trees in one run (each on its own kept database, --reuse):
#   bench/jobs_ab.sh JOBS WITH_PASS ROUNDS TREE...     e.g. bench/jobs_ab.sh 1000 50 2 /tmp/b21/old /work/main
# SUBMITTERS=K (default 4) sets how many processes submit one by one at once.
# A tree is a checkout (git archive <commit> | tar -x -C DIR); this script's bench/jobs_bench.py is used for all,
# so every tree is measured the same way (BENCH_TREE puts the tree first on the import path). Prints the SUMMARY lines with the load average before each run.
set -u
JOBS=$1; WP=$2; ROUNDS=$3; shift 3
BENCH=$(cd "$(dirname "$0")" && pwd)/jobs_bench.py
PY=${PYTHON:-/work/venv/bin/python}
for r in $(seq 1 "$ROUNDS"); do
  for tree in "$@"; do
    name=$(echo "$tree" | sed 's|^/||; s|[^a-zA-Z0-9]|_|g')  # the whole path: two trees never share a database
    echo "== $tree round $r $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd /tmp && BENCH_TREE="$tree" "$PY" "$BENCH" --submissions-only --jobs "$JOBS" --with-pass "$WP" --reuse \
      --submitters "${SUBMITTERS:-4}" \
      --database-url "postgres://postgres@127.0.0.1:5432/ucf_21_bench_$name" 2>&1 | grep -E "SUMMARY|load average|Error")
  done
done
