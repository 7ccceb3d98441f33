#!/usr/bin/env bash
# Memory per key: nexo against redis-server, side by side in one run.
#
# Builds bin/nexo, starts nexo and a redis-server without persistence on free
# loopback ports, loads KEYS distinct keys (key:0000001 ...) with VALUE_SIZE-byte
# values into each through redis-cli --pipe, then reports DBSIZE, resident
# memory (VmRSS) before and after, bytes per key and the nexo / redis ratio.
#
# Environment (defaults in brackets):
#   KEYS [1000000]      keys to load
#   VALUE_SIZE [100]    value size in bytes
#   NEXO_THREADS        passed to nexo as --threads when set
#   LOAD_TIMEOUT [600]  seconds one load may take
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly KEYS="${KEYS:-1000000}"
readonly VALUE_SIZE="${VALUE_SIZE:-100}"
readonly LOAD_TIMEOUT="${LOAD_TIMEOUT:-600}"
readonly THREADS="${NEXO_THREADS:-}"
# Key names are key:<zero-padded number>; this many digits fit any KEYS up to 10^KEY_DIGITS - 1.
readonly KEY_DIGITS=7
readonly BYTES_PER_KIB=1024

for value in "$KEYS" "$VALUE_SIZE" "$LOAD_TIMEOUT"; do
  [[ $value =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$value'"
done
((${#KEYS} <= KEY_DIGITS)) || die "KEYS must be below 10^$KEY_DIGITS"

require_tools redis-server redis-cli awk timeout
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints KEYS SET commands in RESP: key:%07d -> VALUE_SIZE bytes that differ per key.
generate() {
  awk -v n="$KEYS" -v size="$VALUE_SIZE" -v digits="$KEY_DIGITS" 'BEGIN {
    fill = sprintf("%" size "s", ""); gsub(/ /, "v", fill)
    idformat = "%0" digits "d"
    keylen = length("key:") + digits
    for (i = 1; i <= n; i++) {
      id = sprintf(idformat, i)
      value = substr(id fill, 1, size)
      printf "*3\r\n$3\r\nSET\r\n$%d\r\nkey:%s\r\n$%d\r\n%s\r\n", keylen, id, size, value
    }
  }'
}

# VmRSS of a process in bytes.
rss_bytes() {
  awk -v kib="$BYTES_PER_KIB" '/^VmRSS:/ { print $2 * kib }' "/proc/$1/status"
}

# measure NAME PID PORT: loads the keys and prints "NAME dbsize rss_before rss_after".
measure() {
  local name=$1 pid=$2 port=$3 before after dbsize out
  before="$(rss_bytes "$pid")"
  note "loading $KEYS keys of $VALUE_SIZE bytes into $name"
  out="$BENCH_TMP/$name-load.txt"
  # When redis-cli stops early, the generator ends on SIGPIPE.
  if ! run_child timeout "$LOAD_TIMEOUT" redis-cli -h "$BENCH_HOST" -p "$port" --pipe < <(generate) >"$out" 2>&1; then
    cat "$out" >&2
    die "loading $name failed"
  fi
  grep -q 'errors: 0,' "$out" || { cat "$out" >&2; die "$name answered errors while loading"; }
  dbsize="$(redis-cli -h "$BENCH_HOST" -p "$port" dbsize)"
  after="$(rss_bytes "$pid")"
  printf '%s %s %s %s\n' "$name" "$dbsize" "$before" "$after"
}

bench_tmp
build_nexo
nexo_args=()
if [[ -n $THREADS ]]; then nexo_args+=(--threads "$THREADS"); fi
start_nexo "${nexo_args[@]}"
start_redis

rows="$BENCH_TMP/rows"
{
  measure nexo "$NEXO_PID" "$NEXO_PORT"
  measure redis "$REDIS_PID" "$REDIS_PORT"
} >"$rows"

printf '\n%-6s %9s %11s %11s %9s\n' server dbsize 'RSS before' 'RSS after' 'B/key'
awk -v mib=$((BYTES_PER_KIB * BYTES_PER_KIB)) '{
  printf "%-6s %9d %7.1f MiB %7.1f MiB %9.0f\n", $1, $2, $3 / mib, $4 / mib, ($2 > 0 ? $4 / $2 : 0)
  rss[$1] = $4
} END {
  printf "\nRSS ratio nexo / redis: %.2f\n", (rss["redis"] > 0 ? rss["nexo"] / rss["redis"] : 0)
}' "$rows"
while read -r name dbsize _; do
  [[ $dbsize == "$KEYS" ]] || note "warning: $name reports DBSIZE $dbsize, expected $KEYS"
done <"$rows"
