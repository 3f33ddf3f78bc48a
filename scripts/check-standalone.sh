#!/usr/bin/env bash
# The repository stands on its own: nothing in src tests benches scripts examples .ci may reach a
# file outside it. Fails (exit 1), naming file, line and rule, on:
#   1. an absolute path of a development machine (under the work, root or home folders) or the
#      team folder that sat beside the repository (a sibling "shared", also as a quoted component);
#   2. a relative path starting with ../ that, resolved from the directory of the file it is
#      written in (how include_str! reads it), leaves the repository;
#   3. a ../ climbing out of a joined base, e.g. format!("{root}/../x") or
#      concat!(env!("CARGO_MANIFEST_DIR"), "/../x"): the base is unknown to this check, so
#      write the path from the repository root instead (tests: CARGO_MANIFEST_DIR + "/tests/...").
# Text search, not a parser: paths built from separate components (os.path.join(a, "..", b)) are
# not resolved; rule 1 still catches the known outside folder. A line that names such a path without
# reading it (an HTTP path in a test, a loader test that feeds a bad citation) says so with the marker
# `standalone-ok: <why>` on the same line or the line above. Usage: bash scripts/check-standalone.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
dirs=(src tests benches scripts examples .ci)
self=scripts/check-standalone.sh # it spells the patterns out, so it is not searched
bad=0
report() {
  local file=${1%%:*} line=${1#*:}
  # An explicit, reasoned exemption on the line itself (see the header).
  sed -n "$((line > 1 ? line - 1 : 1)),${line}p" "$file" | grep -q 'standalone-ok: ' && return 0
  printf '%s: %s\n' "$1" "$2"
  bad=1
}

# Rule 1.
while IFS= read -r hit; do
  report "${hit%%:*}:$(cut -d: -f2 <<<"$hit")" "absolute or outside path: $(cut -d: -f3- <<<"$hit" | sed 's/^[[:space:]]*//')"
done < <(grep -rnIE --exclude-dir=target "/(work|root|home)/|\.\./shared|[\"']shared[\"']" "${dirs[@]}" | grep -v "^$self:" || true)

# Rule 2: every run of ../ that starts a path (not preceded by a word character, '.' or '/').
while IFS= read -r hit; do
  file=${hit%%:*}
  rest=${hit#*:}
  line=${rest%%:*}
  rel=${rest#*:}
  resolved=$(realpath -m "$(dirname "$file")/$rel")
  case "$resolved/" in
    "$root"/*) ;;
    *) report "$file:$line" "'$rel' leaves the repository (resolves to $resolved)" ;;
  esac
done < <(grep -rnIoP --exclude-dir=target "(?<![\w./])(\.\./)+[^\s\"'\`),;]*" "${dirs[@]}" | grep -v "^$self:" || true)

# Rule 3: /../ after anything but another ../ (a base joined with a climb).
while IFS= read -r hit; do
  report "${hit%%:*}:$(cut -d: -f2 <<<"$hit")" "climbs out of a joined base: $(cut -d: -f3- <<<"$hit")"
done < <(grep -rnIoP --exclude-dir=target "[^\s\"'\`]{0,30}(?<!\.\.)/\.\./[^\s\"'\`]*" "${dirs[@]}" | grep -v "^$self:" || true)

if [ "$bad" = 1 ]; then
  echo
  echo "check-standalone: FAILED. Tests, benches, examples and scripts must read only files inside the"
  echo "repository (test data under tests/data/, see its README); a clean clone with nothing beside it"
  echo "must build and pass."
  exit 1
fi
echo "check-standalone: no path in ${dirs[*]} reaches outside the repository"
