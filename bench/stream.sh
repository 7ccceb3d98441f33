#!/usr/bin/env bash
# STREAM throughput: NEXO against redis-server's streams with its
# append-only file, side by side in one run, under the same fsync policy.
#
# For each policy in FSYNCS, starts nexo with --fsync POLICY and redis-server
# with --appendonly yes --appendfsync POLICY, then runs ROUNDS rounds, each
# alternating the two servers (bench/stream is the client):
#   (a) append: CONNS connections each pipelining PIPELINE appends of one
#       SIZE-byte message, APPEND_MESSAGES in all: XAPPEND against XADD;
#   (b) replay (under GROUP_FSYNC only): REPLAY_MESSAGES messages loaded into
#       a one-partition stream, then read from the start COUNT at a time:
#       XFETCH … FROM offset against XRANGE from after the last id; in MB/s;
#   (c) fanout (under GROUP_FSYNC only): FANOUT_MESSAGES messages loaded into
#       a one-partition stream, then READERS connections read it at once,
#       each its own share from its own place, 100 per call; in MB/s;
#   (d) group (under GROUP_FSYNC only): one producer pipelining appends while
#       CONSUMERS members of one group read and commit each batch,
#       GROUP_MESSAGES in all: XCONSUME + XCOMMIT (CONSUMERS partitions)
#       against XREADGROUP + XACK.
# Prints per policy and test the median rate of each server and their ratio,
# then the median and the worst ratio across all rows; then the same for the
# CPU per message of each server's process and of the benchmark client, over
# the timed phase of each run (from /proc, so on Linux).
#
# Environment (defaults in brackets):
#   ROUNDS [3]                 rounds; use 5 when a decision hangs on less than 20%
#   FSYNCS ["always everysec"] fsync policies
#   GROUP_FSYNC [everysec]     the policy the replay, fanout and group tests run under
#   APPEND_MESSAGES [100000]   messages per append run
#   REPLAY_MESSAGES [1000000]  messages per replay run
#   FANOUT_MESSAGES [200000]   messages per fanout run
#   GROUP_MESSAGES [200000]    messages per group run
#   SIZE [1024]                payload bytes
#   CONNS [4]                  append connections
#   PIPELINE [64]              appends pipelined per write
#   COUNT [1000]               messages per replay read
#   READERS [2]                fanout readers
#   CONSUMERS [4]              group members (and NEXO partitions)
#   NEXO_THREADS               passed to nexo as --threads when set
#   RUN_TIMEOUT [600]          seconds one run may take
# Results are also written to bench/results/stream-<time>.csv.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly ROUNDS="${ROUNDS:-3}"
readonly FSYNCS="${FSYNCS:-always everysec}"
readonly GROUP_FSYNC="${GROUP_FSYNC:-everysec}"
readonly APPEND_MESSAGES="${APPEND_MESSAGES:-100000}"
readonly REPLAY_MESSAGES="${REPLAY_MESSAGES:-1000000}"
readonly FANOUT_MESSAGES="${FANOUT_MESSAGES:-200000}"
readonly GROUP_MESSAGES="${GROUP_MESSAGES:-200000}"
readonly SIZE="${SIZE:-1024}"
readonly CONNS="${CONNS:-4}"
readonly PIPELINE="${PIPELINE:-64}"
readonly COUNT="${COUNT:-1000}"
readonly READERS="${READERS:-2}"
readonly CONSUMERS="${CONSUMERS:-4}"
readonly RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
readonly THREADS="${NEXO_THREADS:-}"
readonly RESULTS_DIR="$BENCH_ROOT/bench/results"

for value in "$ROUNDS" "$APPEND_MESSAGES" "$REPLAY_MESSAGES" "$FANOUT_MESSAGES" "$GROUP_MESSAGES" "$SIZE" "$CONNS" \
  "$PIPELINE" "$COUNT" "$READERS" "$CONSUMERS" "$RUN_TIMEOUT"; do
  [[ $value =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$value'"
done
for policy in $FSYNCS $GROUP_FSYNC; do
  [[ $policy =~ ^(always|everysec|no)$ ]] || die "unknown fsync policy '$policy'"
done

require_tools redis-server redis-cli timeout go
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_tmp
build_nexo
streambench="$BENCH_TMP/streambench"
note "building $streambench"
(cd "$BENCH_ROOT" && go build -o "$streambench" ./bench/stream)

mkdir -p "$RESULTS_DIR"
results="$RESULTS_DIR/stream-$(date +%Y%m%d-%H%M%S).csv"
echo 'round,fsync,server,test,rate,server_cpu_us,client_cpu_us' >"$results"

# stream_run SERVER PORT PID ROUND POLICY TEST MESSAGES: one streambench run.
stream_run() {
  local server=$1 port=$2 pid=$3 round=$4 policy=$5 test=$6 messages=$7 out rate cpu
  if ! out="$(run_child timeout "$RUN_TIMEOUT" "$streambench" -mode "$server" -addr "$BENCH_HOST:$port" \
    -test "$test" -messages "$messages" -size "$SIZE" -conns "$CONNS" -pipeline "$PIPELINE" \
    -count "$COUNT" -readers "$READERS" -consumers "$CONSUMERS" -server-pid "$pid" 2>"$BENCH_TMP/run.err")"; then
    cat "$BENCH_TMP/run.err" >&2
    die "streambench $test against $server failed (round $round, fsync $policy)"
  fi
  # "nexo append 100000 messages in 1.234 s: 81037.3 msg/s"
  # "cpu per message: server 5.81 µs, client 3.20 µs"
  rate="$(awk 'NR == 1 { print $(NF - 1) }' <<<"$out")"
  cpu="$(awk 'NR == 2 { print $5 "," $8 }' <<<"$out")"
  echo "$round,$policy,$server,$test,$rate,$cpu" >>"$results"
}

nexo_args=()
if [[ -n $THREADS ]]; then nexo_args+=(--threads "$THREADS"); fi
policies="$FSYNCS"
if [[ " $FSYNCS " != *" $GROUP_FSYNC "* ]]; then policies="$FSYNCS $GROUP_FSYNC"; fi
note "$ROUNDS rounds per fsync policy ($policies), $SIZE-byte messages: append $APPEND_MESSAGES ($CONNS conns × pipeline $PIPELINE), replay $REPLAY_MESSAGES (COUNT $COUNT), fanout $FANOUT_MESSAGES ($READERS readers) and group $GROUP_MESSAGES ($CONSUMERS consumers) under $GROUP_FSYNC"
for policy in $policies; do
  start_nexo --fsync "$policy" "${nexo_args[@]}"
  start_redis --appendonly yes --appendfsync "$policy"
  tests=()
  if [[ " $FSYNCS " == *" $policy "* ]]; then tests+=("append $APPEND_MESSAGES"); fi
  if [[ $policy == "$GROUP_FSYNC" ]]; then tests+=("replay $REPLAY_MESSAGES" "fanout $FANOUT_MESSAGES" "group $GROUP_MESSAGES"); fi
  for ((round = 1; round <= ROUNDS; round++)); do
    for spec in "${tests[@]}"; do
      note "fsync $policy, round $round/$ROUNDS, ${spec%% *}: nexo, redis"
      # shellcheck disable=SC2086 # spec is "TEST MESSAGES"
      stream_run nexo "$NEXO_PORT" "$NEXO_PID" "$round" "$policy" $spec
      # shellcheck disable=SC2086
      stream_run redis "$REDIS_PORT" "$REDIS_PID" "$round" "$policy" $spec
    done
  done
  stop_pid "$NEXO_PID" nexo
  stop_pid "$REDIS_PID" redis-server
  NEXO_PID=
  REDIS_PID=
  rm -rf "$BENCH_TMP/nexo-data" "$BENCH_TMP/redis-data"
done

# Medians per policy, test and server, then the ratio nexo / redis.
print_row() {
  printf '%-9s %-8s %14.1f %14.1f %7s\n' "$1" "$2" "$3" "$4" "$5"
  ROW_LABEL="$1 $2"
}
printf '\n%-9s %-8s %14s %14s %7s\n' fsync test 'nexo' 'redis' ratio
ratio_table "$results" 3 5 2 4

cpu_table "$results" 6 'CPU µs per message of the server process' 8
cpu_table "$results" 7 'CPU µs per message of the client (bench/stream)' 8
printf 'medians of %s rounds; append and group in messages/s, replay and fanout in MB/s of payload; raw runs: %s\n' \
  "$ROUNDS" "${results#"$BENCH_ROOT"/}"
