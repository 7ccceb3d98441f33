#!/usr/bin/env bash
# Installs what the tests and benchmarks need and skips what is already there:
#   - redis-server, redis-cli, redis-benchmark (Debian packages redis-server, redis-tools)
#   - chromium, the headless browser of the dashboard's browser test (Debian package chromium)
#   - the npm packages of the SDK and of the end-to-end suite (npm ci in sdk/ and integration/)
#   - the Go modules (go mod download)
# Safe to run again. As root (CI) it installs missing Debian packages itself;
# otherwise it prints the command to run and fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly MIN_NODE_MAJOR=20
# The npm packages, in install order: the suite links the SDK (file:../sdk).
readonly NPM_DIRS=(sdk integration)
# Records, in a package's node_modules, which package-lock.json it was installed from.
readonly NPM_STAMP_NAME=.nexo-lock.sha256
# Commands the tests and benchmarks run, and the Debian package that brings each.
readonly -A APT_PACKAGE_FOR=(
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [redis-benchmark]=redis-tools
  [chromium]=chromium
)

log() { printf 'install-deps: %s\n' "$*"; }
fail() { printf 'install-deps: %s\n' "$*" >&2; exit 1; }

# Installs Debian packages without letting their maintainer scripts start
# services (redis-server's would otherwise occupy port 6379).
apt_install() {
  local policy=/usr/sbin/policy-rc.d created_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" || status=$?
  if [[ -n $created_policy ]]; then rm -f "$policy"; fi
  return "$status"
}

install_system_packages() {
  local cmd missing=()
  for cmd in "${!APT_PACKAGE_FOR[@]}"; do
    if ! command -v "$cmd" >/dev/null 2>&1; then missing+=("${APT_PACKAGE_FOR[$cmd]}"); fi
  done
  if ((${#missing[@]} == 0)); then
    log "${!APT_PACKAGE_FOR[*]} are present"
    return
  fi
  local packages
  packages="$(printf '%s\n' "${missing[@]}" | sort -u | paste -sd' ' -)"
  if ((EUID != 0)); then
    fail "missing Debian packages: ${packages}; install them with: sudo apt-get install -y ${packages}"
  fi
  log "installing ${packages}"
  # shellcheck disable=SC2086 # the package list is meant to split into words
  apt_install $packages
}

check_toolchains() {
  command -v go >/dev/null 2>&1 ||
    fail "go is not on PATH; install Go $(sed -n 's/^go //p' "$ROOT/go.mod") (https://go.dev/dl) and add it to PATH"
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    fail "node and npm are not on PATH; install Node.js ${MIN_NODE_MAJOR} or newer"
  fi
  local node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  ((node_major >= MIN_NODE_MAJOR)) ||
    fail "Node.js ${MIN_NODE_MAJOR} or newer is needed (ioredis 6), found $(node --version)"
}

install_npm_packages() {
  local dir want stamp
  for dir in "${NPM_DIRS[@]}"; do
    want="$(sha256sum "$ROOT/$dir/package-lock.json" | cut -d' ' -f1)"
    stamp="$ROOT/$dir/node_modules/$NPM_STAMP_NAME"
    if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
      log "$dir/node_modules matches package-lock.json"
      continue
    fi
    log "npm ci in $dir/"
    (cd "$ROOT/$dir" && npm ci --no-audit --no-fund)
    printf '%s\n' "$want" >"$stamp"
  done
}

install_go_modules() {
  log "go mod download"
  (cd "$ROOT" && go mod download)
}

install_system_packages
check_toolchains
install_npm_packages
install_go_modules
log "done"
