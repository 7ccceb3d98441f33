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

require_positive "$ROUNDS" "$CONNS" "$RUN_TIMEOUT"

require_tools redis-server redis-cli go timeout
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_tmp
build_nexo
client="$(build_client bench/tx)"
start_servers "$THREADS"
results="$(results_file tx 'round,server,test,tx_per_sec')"

# run_one SERVER ROUND TEST: one run of the client, appended to the results.
run_one() {
  local server=$1 round=$2 test=$3 port
  case $server in
    nexo) port=$NEXO_PORT ;;
    redis) port=$REDIS_PORT ;;
  esac
  record_run "$results" "$server" "$round" "$test" \
    "$client" -addr "$BENCH_HOST:$port" -mode "$test" -conns "$CONNS" -duration "$DURATION"
}

note "$ROUNDS rounds of $TESTS, $DURATION each, $CONNS connections${THREADS:+, nexo --threads $THREADS}"
alternate "$ROUNDS" "$TESTS"

# Medians per test and server, then the ratio nexo / redis.
test_ratio_table "$results" tx/s
printf 'medians of %s rounds; raw runs: %s\n' "$ROUNDS" "${results#"$BENCH_ROOT"/}"
