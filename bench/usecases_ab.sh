#!/bin/sh
# Before/after of the catalog searches, alternated round by round on one kept database (bench/usecases_bench.py
# --reuse): each round runs the searches with the code of BEFORE, then with the code of AFTER, appending their
# timings to $OUT/before.jsonl and $OUT/after.jsonl; the load average is printed before each run, and the table of
# the pooled samples at the end. Both trees run this tree's bench script (BENCH_ROOT), so only the code searched
# differs.
#
#   sh bench/usecases_ab.sh ROUNDS RUNS OUT BEFORE_TREE AFTER_TREE
#   e.g. sh bench/usecases_ab.sh 3 50 /tmp/21/ab /tmp/21/before /work/main
#
# DATABASE_URL and REDIS_URL default to engineer 21's kept bench database and Redis db. A change of schema (an
# index) needs a database per side: BEFORE_DATABASE_URL / AFTER_DATABASE_URL, when set, override DATABASE_URL for
# that side (e.g. a copy made with `createdb -T` before migrating the other).
set -eu
ROUNDS=$1 RUNS=$2 OUT=$3 BEFORE=$4 AFTER=$5
BENCH=$(cd "$(dirname "$0")" && pwd)/usecases_bench.py
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ucf_21_bench}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/6}"
mkdir -p "$OUT" && rm -f "$OUT/before.jsonl" "$OUT/after.jsonl"
cp "$BENCH" "$OUT/usecases_bench.py"
round=1
while [ "$round" -le "$ROUNDS" ]; do
    for side in before after; do
        if [ "$side" = before ]; then
            tree=$BEFORE db=${BEFORE_DATABASE_URL:-$DATABASE_URL}
        else
            tree=$AFTER db=${AFTER_DATABASE_URL:-$DATABASE_URL}
        fi
        echo "round $round $side ($tree, ${db##*/}): $(uptime)"
        (cd "$tree" && BENCH_ROOT="$tree" DATABASE_URL="$db" .venv/bin/python "$OUT/usecases_bench.py" --reuse --searches-only \
            --runs "$RUNS" --samples "$OUT/$side.jsonl" > "$OUT/$side-$round.txt")
    done
    round=$((round + 1))
done
echo "end: $(uptime)"
"$AFTER/.venv/bin/python" "$OUT/usecases_bench.py" --summarise "$OUT/before.jsonl" "$OUT/after.jsonl"
