#!/usr/bin/env bash
# nexo's transactions and scripts against redis-server, side by side in one run.
#
# Builds bin/nexo and the benchmark client (bench/tx), starts nexo and a
# redis-server without persistence on free loopback ports, then runs each
# test on each server in turn (nexo, redis, nexo, redis, ...) for ROUNDS
# rounds. Every connection repeats the same two writes (SET, then INCR) as:
#   plain   a pipeline of the two commands (the reference: no atomicity)
#   multi   MULTI, SET, INCR, EXEC, pipelined
#   eval    one EVAL of a script that runs both
# Prints per test the median transactions/s of each server and their ratio,
# then the median and the worst ratio.
#
# Environment (defaults in brackets):
#   ROUNDS [3]        rounds; use 5 when a decision hangs on less than 20%
#   DURATION [3s]     how long one run lasts
#   CONNS [50]        concurrent connections
#   TESTS ["plain multi eval"]
#   NEXO_THREADS      passed to nexo as --threads when set
#   RUN_TIMEOUT [120] seconds one run may take
# Results are also written to bench/results/tx-<time>.csv.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly ROUNDS="${ROUNDS:-3}"
readonly DURATION="${DURATION:-3s}"
readonly CONNS="${CONNS:-50}"
readonly TESTS="${TESTS:-plain multi eval}"
readonly RUN_TIMEOUT="${RUN_TIMEOUT:-120}"
readonly THREADS="${NEXO_THREADS:-}"
readonly RESULTS_DIR="$BENCH_ROOT/bench/results"

for value in "$ROUNDS" "$CONNS" "$RUN_TIMEOUT"; do
  [[ $value =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$value'"
done

require_tools redis-server redis-cli go timeout
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_tmp
build_nexo
client="$(build_client bench/tx)"
nexo_args=()
if [[ -n $THREADS ]]; then nexo_args+=(--threads "$THREADS"); fi
start_nexo "${nexo_args[@]}"
start_redis

mkdir -p "$RESULTS_DIR"
results="$RESULTS_DIR/tx-$(date +%Y%m%d-%H%M%S).csv"
echo 'round,server,test,tx_per_sec' >"$results"

# run_one SERVER ROUND TEST: one run of the client, appended to the results.
run_one() {
  local server=$1 round=$2 test=$3 port rate
  case $server in
    nexo) port=$NEXO_PORT ;;
    redis) port=$REDIS_PORT ;;
  esac
  if ! run_child timeout "$RUN_TIMEOUT" "$client" -addr "$BENCH_HOST:$port" -mode "$test" -conns "$CONNS" \
    -duration "$DURATION" >"$BENCH_TMP/run.out" 2>"$BENCH_TMP/run.err"; then
    cat "$BENCH_TMP/run.err" >&2
    die "$test against $server failed (round $round)"
  fi
  rate="$(cat "$BENCH_TMP/run.out")"
  printf '%s,%s,%s,%s\n' "$round" "$server" "$test" "$rate" >>"$results"
}

note "$ROUNDS rounds of $TESTS, $DURATION each, $CONNS connections${THREADS:+, nexo --threads $THREADS}"
for ((round = 1; round <= ROUNDS; round++)); do
  for test in $TESTS; do
    note "round $round/$ROUNDS, $test: nexo"
    run_one nexo "$round" "$test"
    note "round $round/$ROUNDS, $test: redis"
    run_one redis "$round" "$test"
  done
done

# Medians per test and server, then the ratio nexo / redis.
test_ratio_table "$results" tx/s
printf 'medians of %s rounds; raw runs: %s\n' "$ROUNDS" "${results#"$BENCH_ROOT"/}"
