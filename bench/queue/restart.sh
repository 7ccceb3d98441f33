#!/usr/bin/env bash
# Restart time of the QUEUE broker with JOBS waiting jobs.
#
# Builds bin/nexo, starts it with --fsync FSYNC on a fresh data directory,
# loads JOBS jobs of DATA_SIZE bytes into one queue through redis-cli --pipe,
# then restarts it twice on the same directory: after a clean stop (SIGTERM)
# and after SIGKILL. For each start it reports the time the queue log took to
# load (the "queues loaded" log line) and the time from exec to the ready
# line, the jobs found, and the resident memory once ready.
#
# Environment (defaults in brackets):
#   JOBS [1000000]        waiting jobs
#   DATA_SIZE [100]       payload bytes
#   FSYNC [everysec]      --fsync of the loading server
#   LOAD_TIMEOUT [900]    seconds the load may take
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

readonly JOBS="${JOBS:-1000000}"
readonly DATA_SIZE="${DATA_SIZE:-100}"
readonly FSYNC="${FSYNC:-everysec}"
readonly LOAD_TIMEOUT="${LOAD_TIMEOUT:-900}"
readonly QUEUE=bench:restart
readonly BYTES_PER_KIB=1024
readonly BYTES_PER_MIB=$((1024 * 1024))
# Payloads are job:<zero-padded number>; this many digits fit any JOBS below 10^JOB_DIGITS.
readonly JOB_DIGITS=8

for value in "$JOBS" "$DATA_SIZE" "$LOAD_TIMEOUT"; do
  [[ $value =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$value'"
done
((${#JOBS} <= JOB_DIGITS)) || die "JOBS must be below 10^$JOB_DIGITS"

require_tools redis-cli awk timeout
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints JOBS QPUSH commands in RESP, each payload distinct.
generate() {
  awk -v n="$JOBS" -v size="$DATA_SIZE" -v digits="$JOB_DIGITS" -v queue="$QUEUE" 'BEGIN {
    fill = sprintf("%" size "s", ""); gsub(/ /, "v", fill)
    idformat = "job:%0" digits "d"
    for (i = 1; i <= n; i++) {
      payload = substr(sprintf(idformat, i) fill, 1, size)
      printf "*3\r\n$5\r\nQPUSH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(queue), queue, length(payload), payload
    }
  }'
}

rss_mib() {
  awk -v kib="$BYTES_PER_KIB" -v mib="$BYTES_PER_MIB" '/^VmRSS:/ { printf "%.0f", $2 * kib / mib }' "/proc/$1/status"
}

# report HOW: the start just made, from nexo's log and the process.
report() {
  local how=$1 line load ready jobs
  line="$(grep -m1 -F 'msg="queues loaded"' "$BENCH_TMP/nexo.log")"
  load="$(sed -nE 's/.* duration=([^ ]+).*/\1/p' <<<"$line")"
  jobs="$(sed -nE 's/.* jobs=([0-9]+).*/\1/p' <<<"$line")"
  ready=$(((READY_NS - START_NS) / 1000000))
  printf '%-22s %10s %12s %10s ms %8s MiB\n' "$how" "$jobs" "$load" "$ready" "$(rss_mib "$NEXO_PID")"
}

# timed_start: start_nexo, recording when it was called and when it was ready.
timed_start() {
  START_NS=$(date +%s%N)
  start_nexo --fsync "$FSYNC"
  READY_NS=$(date +%s%N)
}

bench_tmp
build_nexo
printf '%-22s %10s %12s %13s %12s\n' start jobs 'log load' 'to ready' RSS
timed_start
report "first (empty log)"
note "loading $JOBS jobs of $DATA_SIZE bytes"
load_start=$(date +%s%N)
generate | run_child timeout "$LOAD_TIMEOUT" redis-cli -h "$BENCH_HOST" -p "$NEXO_PORT" --pipe >/dev/null
note "loaded in $((($(date +%s%N) - load_start) / 1000000)) ms; RSS $(rss_mib "$NEXO_PID") MiB"
stop_pid "$NEXO_PID" nexo
timed_start
report "after SIGTERM"
kill -KILL "$NEXO_PID"
wait "$NEXO_PID" 2>/dev/null || true
timed_start
report "after SIGKILL"
printf '\nlog load: time to replay the queue log (the "queues loaded" log line); to ready: exec to the ready line,\n'
printf 'measured by polling the log every %ss. Data directory: %s of log files.\n' "$START_POLL_SECONDS" \
  "$(du -sh "$BENCH_TMP/nexo-data/queue" | cut -f1)"
