#!/usr/bin/env bash
# nexo against redis-server, side by side in one run, with redis-benchmark.
#
# Builds bin/nexo, starts nexo and a redis-server without persistence on free
# loopback ports, then runs redis-benchmark on each server in turn (nexo,
# redis, nexo, redis, ...) for ROUNDS rounds, unpipelined and pipelined.
# Prints per test and pipeline depth the median req/s of each server and
# their ratio, then the median and the worst ratio across all rows.
#
# Environment (defaults in brackets):
#   ROUNDS [3]            rounds; use 5 when a decision hangs on less than 20%
#   REQUESTS [100000]     requests per test per run (-n)
#   CLIENTS [50]          parallel connections (-c)
#   DATA_SIZE [100]       value size in bytes (-d)
#   KEYSPACE [100000]     random key space (-r)
#   TESTS [set,get,incr,hset,mset]
#   PIPELINES ["1 16"]    pipeline depths (-P)
#   NEXO_THREADS          passed to nexo as --threads when set
#   RUN_TIMEOUT [300]     seconds one redis-benchmark run may take
# Results are also written to bench/results/redis-benchmark-<time>.csv.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly ROUNDS="${ROUNDS:-3}"
readonly REQUESTS="${REQUESTS:-100000}"
readonly CLIENTS="${CLIENTS:-50}"
readonly DATA_SIZE="${DATA_SIZE:-100}"
readonly KEYSPACE="${KEYSPACE:-100000}"
readonly TESTS="${TESTS:-set,get,incr,hset,mset}"
readonly PIPELINES="${PIPELINES:-1 16}"
readonly RUN_TIMEOUT="${RUN_TIMEOUT:-300}"
readonly THREADS="${NEXO_THREADS:-}"
readonly RESULTS_DIR="$BENCH_ROOT/bench/results"

for value in "$ROUNDS" "$REQUESTS" "$CLIENTS" "$DATA_SIZE" "$KEYSPACE" "$RUN_TIMEOUT" $PIPELINES; do
  [[ $value =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$value'"
done

require_tools redis-server redis-cli redis-benchmark timeout
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_tmp
build_nexo
nexo_args=()
if [[ -n $THREADS ]]; then nexo_args+=(--threads "$THREADS"); fi
start_nexo "${nexo_args[@]}"
start_redis

mkdir -p "$RESULTS_DIR"
results="$RESULTS_DIR/redis-benchmark-$(date +%Y%m%d-%H%M%S).csv"
echo 'round,server,pipeline,test,rps' >"$results"

# run_one SERVER PORT ROUND PIPELINE: one redis-benchmark run, appended to the results.
run_one() {
  local server=$1 port=$2 round=$3 pipeline=$4 out
  out="$BENCH_TMP/run.csv"
  if ! run_child timeout "$RUN_TIMEOUT" redis-benchmark -h "$BENCH_HOST" -p "$port" -t "$TESTS" \
    -d "$DATA_SIZE" -c "$CLIENTS" -n "$REQUESTS" -r "$KEYSPACE" -P "$pipeline" --csv \
    >"$out" 2>"$BENCH_TMP/run.err"; then
    cat "$BENCH_TMP/run.err" >&2
    die "redis-benchmark against $server failed (round $round, -P $pipeline)"
  fi
  # "SET","89285.71",...  and  "MSET (10 keys)","42016.80",...
  awk -F'","' -v r="$round" -v s="$server" -v p="$pipeline" '
    NR > 1 { t = $1; sub(/^"/, "", t); sub(/ .*/, "", t); printf "%s,%s,%s,%s,%s\n", r, s, p, t, $2 }
  ' "$out" >>"$results"
}

note "$ROUNDS rounds of -t $TESTS -n $REQUESTS -c $CLIENTS -d $DATA_SIZE -r $KEYSPACE -P {${PIPELINES// /,}}${THREADS:+, nexo --threads $THREADS}"
for ((round = 1; round <= ROUNDS; round++)); do
  for pipeline in $PIPELINES; do
    note "round $round/$ROUNDS, -P $pipeline: nexo"
    run_one nexo "$NEXO_PORT" "$round" "$pipeline"
    note "round $round/$ROUNDS, -P $pipeline: redis"
    run_one redis "$REDIS_PORT" "$round" "$pipeline"
  done
done

# Medians per test, pipeline and server, then the ratio nexo / redis.
print_row() {
  printf '%-8s %8s %14.0f %14.0f %7s\n' "$2" "$1" "$3" "$4" "$5"
  ROW_LABEL="$2 P$1"
}
printf '\n%-8s %8s %14s %14s %7s\n' test pipeline 'nexo req/s' 'redis req/s' ratio
ratio_table "$results" 2 5 3 4
printf 'medians of %s rounds; ratio = nexo / redis req/s; raw runs: %s\n' "$ROUNDS" "${results#"$BENCH_ROOT"/}"
