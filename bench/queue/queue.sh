#!/usr/bin/env bash
# QUEUE throughput: NEXO against redis-server with its append-only file, side
# by side in one run, under the same fsync policy.
#
# For each policy in FSYNCS, starts nexo with --fsync POLICY and redis-server
# with --appendonly yes --appendfsync POLICY, then runs ROUNDS rounds, each
# alternating the two servers:
#   (a) push: redis-benchmark, CLIENTS clients, QPUSH against LPUSH of a
#       DATA_SIZE-byte payload, at each pipeline depth of PIPELINES;
#   (b) jobs: bench/queue/jobsbench, one producer pipelining pushes while
#       WORKERS workers each take and complete one job at a time, JOBS jobs:
#       QPUSH, QPOP … BLOCK, QACK against the reliable-queue pattern
#       LPUSH, BLMOVE to a processing list, LREM; once per mode of SETTLES:
#       "apart", a worker completes a job in a round trip of its own, and
#       "next", it sends the completion with its next take, as NEXO's SDK
#       worker does (test jobs-<WORKERS>w-next).
# Prints per policy and test the median rate of each server and their
# ratio, then the median and the worst ratio across all rows, then the
# median CPU per operation of each server's process (from /proc, so on
# Linux) and of the benchmark client: redis-benchmark, the same program for
# both servers, or jobsbench. On a machine the clients share with the
# servers, the CPU says which side a rate's time went to.
#
# Environment (defaults in brackets):
#   ROUNDS [3]                 rounds; use 5 when a decision hangs on less than 20%
#   FSYNCS ["always everysec"] fsync policies
#   REQUESTS [100000]          pushes per redis-benchmark run (-n)
#   CLIENTS [50]               redis-benchmark connections (-c)
#   PIPELINES ["1 16"]         redis-benchmark pipeline depths (-P)
#   DATA_SIZE [100]            payload bytes
#   JOBS [50000]               jobs per jobsbench run
#   WORKERS [8]                jobsbench workers
#   SETTLES ["apart next"]     jobsbench -settle modes
#   NEXO_THREADS               passed to nexo as --threads when set
#   RUN_TIMEOUT [600]          seconds one run may take
# Results are also written to bench/results/queue-<time>.csv.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

readonly ROUNDS="${ROUNDS:-3}"
readonly FSYNCS="${FSYNCS:-always everysec}"
readonly REQUESTS="${REQUESTS:-100000}"
readonly CLIENTS="${CLIENTS:-50}"
readonly PIPELINES="${PIPELINES:-1 16}"
readonly DATA_SIZE="${DATA_SIZE:-100}"
readonly JOBS="${JOBS:-50000}"
readonly WORKERS="${WORKERS:-8}"
readonly SETTLES="${SETTLES:-apart next}"
readonly RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
readonly THREADS="${NEXO_THREADS:-}"
readonly RESULTS_DIR="$BENCH_ROOT/bench/results"
# The queue (NEXO) or list (Redis) redis-benchmark pushes to.
readonly PUSH_KEY=bench:push

for value in "$ROUNDS" "$REQUESTS" "$CLIENTS" "$DATA_SIZE" "$JOBS" "$WORKERS" "$RUN_TIMEOUT" $PIPELINES; do
  [[ $value =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$value'"
done
for policy in $FSYNCS; do
  [[ $policy =~ ^(always|everysec|no)$ ]] || die "unknown fsync policy '$policy'"
done
for settle in $SETTLES; do
  [[ $settle =~ ^(apart|next)$ ]] || die "unknown settle mode '$settle'"
done

require_tools redis-server redis-cli redis-benchmark timeout go
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_tmp
build_nexo
jobsbench="$BENCH_TMP/jobsbench"
note "building $jobsbench"
(cd "$BENCH_ROOT" && go build -o "$jobsbench" ./bench/queue/jobsbench)

mkdir -p "$RESULTS_DIR"
results="$RESULTS_DIR/queue-$(date +%Y%m%d-%H%M%S).csv"
echo 'round,fsync,server,test,rate,server_cpu_us,client_cpu_us' >"$results"
payload="$(head -c "$DATA_SIZE" /dev/zero | tr '\0' x)"

# push_run SERVER PORT PID ROUND POLICY PIPELINE: one redis-benchmark run.
push_run() {
  local server=$1 port=$2 pid=$3 round=$4 policy=$5 pipeline=$6 cmd=QPUSH out rate server0 client0 cpu
  if [[ $server == redis ]]; then cmd=LPUSH; fi
  out="$BENCH_TMP/run.csv"
  server0="$(cpu_ticks "$pid")"
  client0="$(children_cpu_ticks)"
  if ! run_child timeout "$RUN_TIMEOUT" redis-benchmark -h "$BENCH_HOST" -p "$port" -c "$CLIENTS" -n "$REQUESTS" \
    -P "$pipeline" --csv "$cmd" "$PUSH_KEY" "$payload" >"$out" 2>"$BENCH_TMP/run.err"; then
    cat "$BENCH_TMP/run.err" >&2
    die "redis-benchmark against $server failed (round $round, fsync $policy, -P $pipeline)"
  fi
  cpu="$(us_per_op $(($(cpu_ticks "$pid") - server0)) "$REQUESTS"),$(us_per_op $(($(children_cpu_ticks) - client0)) "$REQUESTS")"
  rate="$(awk -F'","' 'NR > 1 { print $2 }' "$out")"
  echo "$round,$policy,$server,push-P$pipeline,$rate,$cpu" >>"$results"
}

# jobs_run SERVER PORT PID ROUND POLICY SETTLE: one jobsbench run.
jobs_run() {
  local server=$1 port=$2 pid=$3 round=$4 policy=$5 settle=$6 out rate cpu test="jobs-${WORKERS}w"
  if [[ $settle == next ]]; then test+=-next; fi
  if ! out="$(run_child timeout "$RUN_TIMEOUT" "$jobsbench" -mode "$server" -addr "$BENCH_HOST:$port" \
    -jobs "$JOBS" -workers "$WORKERS" -size "$DATA_SIZE" -settle "$settle" -server-pid "$pid" 2>"$BENCH_TMP/run.err")"; then
    cat "$BENCH_TMP/run.err" >&2
    die "jobsbench -settle $settle against $server failed (round $round, fsync $policy)"
  fi
  # "nexo 50000 jobs in 1.234 s: 40519 jobs/s"
  # "cpu per job: server 31.20 µs, client 41.50 µs"
  rate="$(awk 'NR == 1 { print $(NF - 1) }' <<<"$out")"
  cpu="$(awk 'NR == 2 { print $5 "," $8 }' <<<"$out")"
  echo "$round,$policy,$server,$test,$rate,$cpu" >>"$results"
}

nexo_args=()
if [[ -n $THREADS ]]; then nexo_args+=(--threads "$THREADS"); fi
note "$ROUNDS rounds per fsync policy ($FSYNCS): redis-benchmark -c $CLIENTS -n $REQUESTS -P {${PIPELINES// /,}}, jobsbench $JOBS jobs $WORKERS workers (settle: $SETTLES), $DATA_SIZE-byte payloads"
for policy in $FSYNCS; do
  start_nexo --fsync "$policy" "${nexo_args[@]}"
  start_redis --appendonly yes --appendfsync "$policy"
  for ((round = 1; round <= ROUNDS; round++)); do
    for pipeline in $PIPELINES; do
      note "fsync $policy, round $round/$ROUNDS, push -P $pipeline: nexo, redis"
      push_run nexo "$NEXO_PORT" "$NEXO_PID" "$round" "$policy" "$pipeline"
      push_run redis "$REDIS_PORT" "$REDIS_PID" "$round" "$policy" "$pipeline"
    done
    for settle in $SETTLES; do
      note "fsync $policy, round $round/$ROUNDS, jobs (settle $settle): nexo, redis"
      jobs_run nexo "$NEXO_PORT" "$NEXO_PID" "$round" "$policy" "$settle"
      jobs_run redis "$REDIS_PORT" "$REDIS_PID" "$round" "$policy" "$settle"
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
  printf '%-9s %-13s %14.0f %14.0f %7s\n' "$1" "$2" "$3" "$4" "$5"
  ROW_LABEL="$1 $2"
}
printf '\n%-9s %-13s %14s %14s %7s\n' fsync test 'nexo per s' 'redis per s' ratio
ratio_table "$results" 3 5 2 4
cpu_table "$results" 6 'CPU µs per push or job of the server process' 13
cpu_table "$results" 7 'CPU µs per push or job of the client (redis-benchmark, bench/queue/jobsbench)' 13
printf 'medians of %s rounds; push = QPUSH / LPUSH per s, jobs = completed jobs per s (-next: completion sent with the next take); raw runs: %s\n' \
  "$ROUNDS" "${results#"$BENCH_ROOT"/}"
