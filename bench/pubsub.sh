#!/usr/bin/env bash
# nexo's pub/sub against redis-server, side by side in one run.
#
# Builds bin/nexo and the benchmark client (bench/pubsub), starts nexo and a
# redis-server without persistence on free loopback ports, then runs each
# test on each server in turn (nexo, redis, nexo, redis, ...) for ROUNDS
# rounds. A test measures messages delivered per second, summed over the
# subscribers:
#   fanout1, fanout10, fanout100  1 publisher -> 1, 10, 100 subscribers
#   fanin100                      100 publishers (one topic each) -> 1 subscriber
# Each subscriber holds one wildcard subscription that matches every topic:
# NEXO's own verbs on nexo (PPUB, PSUB bench/+), Redis's on redis (PUBLISH,
# PSUBSCRIBE bench/*). Prints per test the median deliveries/s of each server
# and their ratio, then the median and the worst ratio.
#
# Environment (defaults in brackets):
#   ROUNDS [3]        rounds; use 5 when a decision hangs on less than 20%
#   DURATION [3s]     how long the publishers publish in one run
#   PAYLOAD [64]      payload size in bytes
#   PIPELINE [64]     messages a publisher sends per write
#   TESTS ["fanout1 fanout10 fanout100 fanin100"]
#   NEXO_THREADS      passed to nexo as --threads when set
#   RUN_TIMEOUT [120] seconds one run may take
# Results are also written to bench/results/pubsub-<time>.csv.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly ROUNDS="${ROUNDS:-3}"
readonly DURATION="${DURATION:-3s}"
readonly PAYLOAD="${PAYLOAD:-64}"
readonly PIPELINE="${PIPELINE:-64}"
readonly TESTS="${TESTS:-fanout1 fanout10 fanout100 fanin100}"
readonly RUN_TIMEOUT="${RUN_TIMEOUT:-120}"
readonly THREADS="${NEXO_THREADS:-}"

require_positive "$ROUNDS" "$PAYLOAD" "$PIPELINE" "$RUN_TIMEOUT"

require_tools redis-server redis-cli go timeout
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_tmp
build_nexo
client="$(build_client bench/pubsub)"
start_servers "$THREADS"
results="$(results_file pubsub 'round,server,test,deliveries_per_sec')"

# shape TEST: the client's -publishers and -subscribers for a test.
shape() {
  case $1 in
    fanout1) echo "-publishers 1 -subscribers 1" ;;
    fanout10) echo "-publishers 1 -subscribers 10" ;;
    fanout100) echo "-publishers 1 -subscribers 100" ;;
    fanin100) echo "-publishers 100 -subscribers 1" ;;
    *) die "unknown test '$1'" ;;
  esac
}

# run_one SERVER ROUND TEST: one run of the client, appended to the results.
run_one() {
  local server=$1 round=$2 test=$3
  local -a args
  read -r -a args <<<"$(shape "$test")"
  case $server in
    nexo) args+=(-addr "$BENCH_HOST:$NEXO_PORT" -pub PPUB -sub PSUB -pattern 'bench/+') ;;
    redis) args+=(-addr "$BENCH_HOST:$REDIS_PORT" -pub PUBLISH -sub PSUBSCRIBE -pattern 'bench/*') ;;
  esac
  args+=(-duration "$DURATION" -payload "$PAYLOAD" -pipeline "$PIPELINE")
  record_run "$results" "$server" "$round" "$test" "$client" "${args[@]}"
}

note "$ROUNDS rounds of $TESTS, $DURATION each, ${PAYLOAD}-byte payloads, pipeline $PIPELINE${THREADS:+, nexo --threads $THREADS}"
alternate "$ROUNDS" "$TESTS"

# Medians per test and server, then the ratio nexo / redis.
test_ratio_table "$results" msg/s
printf 'medians of %s rounds; deliveries per second summed over subscribers; raw runs: %s\n' "$ROUNDS" "${results#"$BENCH_ROOT"/}"
