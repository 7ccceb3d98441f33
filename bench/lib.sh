# Shared by the benchmark scripts: build nexo, start nexo and redis-server on
# free loopback ports, stop both on exit. Source it; it defines no traps itself.
# shellcheck shell=bash

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly BENCH_ROOT
readonly NEXO_BIN="$BENCH_ROOT/bin/nexo"
readonly BENCH_HOST=127.0.0.1
# How long a server may take to accept connections.
readonly START_TIMEOUT_SECONDS=15
# Pause between readiness checks while a server starts.
readonly START_POLL_SECONDS=0.05
# How long a server may take to exit after SIGTERM before it is killed.
readonly STOP_TIMEOUT_SECONDS=10
# redis-server has no "pick a free port" option: try random ports in this range.
readonly REDIS_PORT_MIN=20000
readonly REDIS_PORT_SPAN=30000
readonly REDIS_PORT_ATTEMPTS=20
# The log line nexo prints once it listens.
readonly NEXO_READY_MESSAGE='msg="ready to accept connections"'

NEXO_PID=
NEXO_PORT=
# The long-running client command (see run_child), stopped by cleanup.
CHILD_PID=
REDIS_PID=
REDIS_PORT=
BENCH_TMP=

die() {
  printf '%s: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

note() {
  printf '%s\n' "$*" >&2
}

require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found; run 'make deps' (Debian: apt-get install redis-server redis-tools)"
  done
}

bench_tmp() {
  BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/nexo-bench.XXXXXX")"
}

build_nexo() {
  note "building $NEXO_BIN"
  make -C "$BENCH_ROOT" --no-print-directory build >&2
}

# Waits until pid stops, up to STOP_TIMEOUT_SECONDS, then kills it.
stop_pid() {
  local pid=$1 name=$2 deadline
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT_SECONDS))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      note "$name (pid $pid) did not exit within ${STOP_TIMEOUT_SECONDS}s of SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep "$START_POLL_SECONDS"
  done
  wait "$pid" 2>/dev/null || true
}

# Runs a command in the background and waits for it, so that a trapped
# SIGINT/SIGTERM interrupts the script at once instead of after the command.
run_child() {
  local status=0
  # <&0 keeps the caller's stdin; a background job would otherwise read /dev/null.
  "$@" <&0 &
  CHILD_PID=$!
  wait "$CHILD_PID" || status=$?
  CHILD_PID=
  return "$status"
}

# The EXIT trap of each benchmark script.
cleanup() {
  stop_pid "$CHILD_PID" "$(basename "$0") client"
  CHILD_PID=
  stop_pid "$NEXO_PID" nexo
  stop_pid "$REDIS_PID" redis-server
  NEXO_PID=
  REDIS_PID=
  if [[ -n $BENCH_TMP ]]; then rm -rf "$BENCH_TMP"; fi
}

# Starts nexo on free ports with a fresh data directory; sets NEXO_PID and
# NEXO_PORT from its ready line. Extra arguments go to nexo. The caller's
# NEXO_* variables are not passed on, so only the given flags configure it.
start_nexo() {
  local log="$BENCH_TMP/nexo.log" data="$BENCH_TMP/nexo-data" deadline line addr
  local -a unset_env=()
  local name
  for name in $(compgen -e); do
    if [[ $name == NEXO_* ]]; then unset_env+=(-u "$name"); fi
  done
  mkdir -p "$data"
  env "${unset_env[@]}" "$NEXO_BIN" --bind "$BENCH_HOST" --port 0 --http-port 0 --data-dir "$data" "$@" 2>"$log" &
  NEXO_PID=$!
  deadline=$((SECONDS + START_TIMEOUT_SECONDS))
  while :; do
    line="$(grep -m1 -F "$NEXO_READY_MESSAGE" "$log" || true)"
    if [[ -n $line ]]; then break; fi
    if ! kill -0 "$NEXO_PID" 2>/dev/null; then
      cat "$log" >&2
      die "nexo exited before it was ready"
    fi
    if ((SECONDS >= deadline)); then
      cat "$log" >&2
      die "nexo did not log ready within ${START_TIMEOUT_SECONDS}s"
    fi
    sleep "$START_POLL_SECONDS"
  done
  addr="$(sed -nE 's/.*(^|[[:space:]])addr="?([^"[:space:]]+)"?.*/\2/p' <<<"$line")"
  NEXO_PORT="${addr##*:}"
  [[ $NEXO_PORT =~ ^[0-9]+$ ]] || die "cannot read addr= from nexo's ready line: $line"
  note "nexo pid $NEXO_PID on $BENCH_HOST:$NEXO_PORT $*"
}

port_in_use() {
  (exec 3<>"/dev/tcp/$BENCH_HOST/$1") 2>/dev/null
}

# Starts redis-server without persistence on a free port; sets REDIS_PID and
# REDIS_PORT. Extra arguments go to redis-server after the defaults, so they
# override them (e.g. --appendonly yes --appendfsync always).
start_redis() {
  local log="$BENCH_TMP/redis.log" data="$BENCH_TMP/redis-data" attempt port deadline
  mkdir -p "$data"
  for ((attempt = 0; attempt < REDIS_PORT_ATTEMPTS; attempt++)); do
    port=$((REDIS_PORT_MIN + RANDOM % REDIS_PORT_SPAN))
    if port_in_use "$port"; then continue; fi
    redis-server --bind "$BENCH_HOST" --port "$port" --save '' --appendonly no \
      --dir "$data" --daemonize no --logfile "$log" "$@" &
    REDIS_PID=$!
    deadline=$((SECONDS + START_TIMEOUT_SECONDS))
    while kill -0 "$REDIS_PID" 2>/dev/null; do
      if [[ "$(redis-cli -h "$BENCH_HOST" -p "$port" ping 2>/dev/null)" == PONG ]]; then
        REDIS_PORT=$port
        note "redis-server pid $REDIS_PID on $BENCH_HOST:$REDIS_PORT ($(redis-server --version | cut -d' ' -f3))"
        return 0
      fi
      if ((SECONDS >= deadline)); then
        cat "$log" >&2
        die "redis-server did not answer PING within ${START_TIMEOUT_SECONDS}s"
      fi
      sleep "$START_POLL_SECONDS"
    done
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=
  done
  cat "$log" >&2 2>/dev/null || true
  die "redis-server could not bind a free port in $REDIS_PORT_ATTEMPTS attempts"
}

# require_positive VALUE...: dies unless every VALUE is a positive integer.
require_positive() {
  local value
  for value in "$@"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$value'"
  done
}

# start_servers [THREADS]: starts nexo (with --threads THREADS when given)
# and redis-server without persistence.
start_servers() {
  local -a args=()
  if [[ -n ${1:-} ]]; then args+=(--threads "$1"); fi
  start_nexo "${args[@]}"
  start_redis
}

# results_file NAME HEADER: creates bench/results/NAME-<time>.csv holding
# the CSV header HEADER and prints its path.
results_file() {
  local dir="$BENCH_ROOT/bench/results" file
  mkdir -p "$dir"
  file="$dir/$1-$(date +%Y%m%d-%H%M%S).csv"
  echo "$2" >"$file"
  printf '%s\n' "$file"
}

# record_run RESULTS SERVER ROUND TEST COMMAND...: runs the benchmark client
# COMMAND for at most the script's RUN_TIMEOUT seconds and appends what it
# prints, a rate, to RESULTS as ROUND,SERVER,TEST,RATE; dies if it fails.
record_run() {
  local results=$1 server=$2 round=$3 test=$4
  shift 4
  if ! run_child timeout "$RUN_TIMEOUT" "$@" >"$BENCH_TMP/run.out" 2>"$BENCH_TMP/run.err"; then
    cat "$BENCH_TMP/run.err" >&2
    die "$test against $server failed (round $round)"
  fi
  printf '%s,%s,%s,%s\n' "$round" "$server" "$test" "$(cat "$BENCH_TMP/run.out")" >>"$results"
}

# alternate ROUNDS TESTS: for each round, for each test of TESTS, calls the
# script's run_one SERVER ROUND TEST with nexo, then with redis.
alternate() {
  local rounds=$1 round test
  for ((round = 1; round <= rounds; round++)); do
    for test in $2; do
      note "round $round/$rounds, $test: nexo"
      run_one nexo "$round" "$test"
      note "round $round/$rounds, $test: redis"
      run_one redis "$round" "$test"
    done
  done
}

# build_client PACKAGE: builds the Go benchmark client ./PACKAGE into the
# temporary directory and prints its path.
build_client() {
  local bin
  bin="$BENCH_TMP/$(basename "$1")-bench"
  note "building $bin"
  (cd "$BENCH_ROOT" && go build -o "$bin" "./$1")
  printf '%s\n' "$bin"
}

# test_ratio_table RESULTS UNIT: the ratio table (see ratio_table) of a
# benchmark whose raw runs have the server in column 2, the test in
# column 3 and the rate, in UNIT, in column 4.
test_ratio_table() {
  print_row() {
    printf '%-10s %16.0f %16.0f %7s\n' "$1" "$2" "$3" "$4"
    ROW_LABEL="$1"
  }
  printf '\n%-10s %16s %16s %7s\n' test "nexo $2" "redis $2" ratio
  ratio_table "$1" 2 4 3
}

# Prints the median of the numbers on stdin (one per line).
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit 1
    if (NR % 2) printf "%.2f\n", v[(NR + 1) / 2]
    else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
  }'
}

# ratio_table RESULTS SERVER_COL RATE_COL KEY_COL...
# For each row key (the KEY_COL fields of a raw run in RESULTS, a CSV with
# a header), in the order the runs came, takes the median rate of nexo and
# of redis (the runs' SERVER_COL and RATE_COL fields) and calls
#   print_row KEY_FIELD... NEXO_RATE REDIS_RATE RATIO
# which the script defines: it prints the table row and sets ROW_LABEL to
# the row's name. Then prints the median and the worst ratio across rows.
ratio_table() {
  local results=$1 server_col=$2 rate_col=$3
  shift 3
  local key_cols="$*" ratios="$BENCH_TMP/ratios" key nexo_rate redis_rate ratio fields
  : >"$ratios"
  while IFS= read -r key; do
    nexo_rate="$(key_rates "$results" "$server_col" "$rate_col" "$key_cols" nexo "$key" | median)"
    redis_rate="$(key_rates "$results" "$server_col" "$rate_col" "$key_cols" redis "$key" | median)"
    ratio="$(awk -v a="$nexo_rate" -v b="$redis_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
    IFS=, read -ra fields <<<"$key"
    print_row "${fields[@]}" "$nexo_rate" "$redis_rate" "$ratio"
    printf '%s %s\n' "$ratio" "$ROW_LABEL" >>"$ratios"
  done < <(awk -F, -v cols="$key_cols" 'NR > 1 { print row_key(cols) }
    function row_key(cols,   c, n, i, k) {
      n = split(cols, c, " ")
      for (i = 1; i <= n; i++) k = k (i > 1 ? "," : "") $c[i]
      return k
    }' "$results" | awk '!seen[$0]++')
  local median_ratio worst
  median_ratio="$(cut -d' ' -f1 "$ratios" | median)"
  worst="$(sort -g "$ratios" | head -n1)"
  printf '\nmedian ratio %s, worst %s (%s)\n' "$median_ratio" "${worst%% *}" "${worst#* }"
}

# Fields of /proc/PID/stat after the command name (field 2, which may hold
# spaces), and the unit of its times (Linux's USER_HZ).
readonly STAT_UTIME_FIELD=14
readonly STAT_CUTIME_FIELD=16
readonly CLOCK_TICKS_PER_SECOND=100

# stat_ticks PID FIELD: the sum of field FIELD and the next of
# /proc/PID/stat (utime and stime, or cutime and cstime), in clock ticks.
stat_ticks() {
  awk -v f="$2" '{ sub(/^.*\) /, ""); print $(f - 2) + $(f - 1) }' "/proc/$1/stat"
}

# cpu_ticks PID: the CPU time process PID has used, in clock ticks.
cpu_ticks() {
  stat_ticks "$1" "$STAT_UTIME_FIELD"
}

# children_cpu_ticks: the CPU time of the children this shell has waited
# for (run_child's commands and their own children), in clock ticks.
children_cpu_ticks() {
  stat_ticks "$$" "$STAT_CUTIME_FIELD"
}

# us_per_op TICKS OPS: TICKS of CPU time in microseconds per operation.
us_per_op() {
  awk -v t="$1" -v n="$2" -v hz="$CLOCK_TICKS_PER_SECOND" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }'
}

# cpu_table RESULTS COLUMN TITLE TEST_WIDTH: the median CPU per operation of
# column COLUMN of the raw runs, for nexo and redis, per policy and test.
cpu_table() {
  local results=$1 column=$2 title=$3 width=$4 policy test
  printf '\n%s\n%-9s %-*s %14s %14s\n' "$title" fsync "$width" test nexo redis
  while IFS=, read -r policy test; do
    printf '%-9s %-*s %14.2f %14.2f\n' "$policy" "$width" "$test" \
      "$(key_rates "$results" 3 "$column" "2 4" nexo "$policy,$test" | median)" \
      "$(key_rates "$results" 3 "$column" "2 4" redis "$policy,$test" | median)"
  done < <(awk -F, -v c="$column" 'NR > 1 && $c != "" && !seen[$2 "," $4]++ { print $2 "," $4 }' "$results")
}

# key_rates RESULTS SERVER_COL RATE_COL KEY_COLS SERVER KEY: the rates of
# SERVER's raw runs whose KEY_COLS fields, joined by commas, are KEY.
key_rates() {
  awk -F, -v sc="$2" -v rc="$3" -v cols="$4" -v server="$5" -v key="$6" 'NR > 1 && $sc == server {
    n = split(cols, c, " ")
    k = ""
    for (i = 1; i <= n; i++) k = k (i > 1 ? "," : "") $c[i]
    if (k == key) print $rc
  }' "$1"
}
