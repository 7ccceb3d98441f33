#!/usr/bin/env bash
# Fails, listing the files, when any Go file of the project is not gofmt-formatted.
# In a git work tree, files git ignores (integration/node_modules and the like)
# are skipped; elsewhere every .go file outside node_modules and dot-directories is checked.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t listed < <(git ls-files --cached --others --exclude-standard -- '*.go')
else
  mapfile -t listed < <(find . \( -name node_modules -o -name '.?*' \) -prune -o -name '*.go' -type f -print)
fi
# A tracked file may be deleted in the work tree.
files=()
for f in "${listed[@]}"; do
  if [[ -f $f ]]; then files+=("$f"); fi
done
if ((${#files[@]} == 0)); then
  exit 0
fi
unformatted="$(gofmt -l "${files[@]}")"
if [[ -n $unformatted ]]; then
  printf 'gofmt: these files need formatting (run gofmt -w):\n%s\n' "$unformatted" >&2
  exit 1
fi
