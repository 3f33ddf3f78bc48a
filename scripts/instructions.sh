#!/usr/bin/env bash
# Instructions per request (issue "Performance"): runs the release trd-cds and the parse-only
# ceiling (examples/ceiling.rs) under `valgrind --tool=callgrind`, posts the load test's request
# (tests/fixtures/patient-view-60.json) WARMUP times, zeroes the counters, posts it N more times
# and prints user-space instructions per request for both, and the ratio ceiling/ours.
#
#   bash scripts/instructions.sh             # N=200, WARMUP=20
#   N=500 bash scripts/instructions.sh
#
# Unlike CPU time on a shared 2-core machine, instruction counts repeat from run to run for the
# same binaries and input, so a change of a few per cent is visible. They do not count the kernel
# (sockets, copies) nor cache misses: use them beside scripts/load.sh, not instead of it.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
WARMUP=${WARMUP:-20}
BODY=tests/fixtures/patient-view-60.json
. scripts/lib.sh
need_pkg valgrind valgrind
bin=$(build_bench_bins)
out=$(mktemp -d)
vpid=
trap '[ -n "$vpid" ] && kill "$vpid" 2>/dev/null; rm -rf "$out"' EXIT

post() { curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$BODY" "http://127.0.0.1:$1/cds-services/trd-patient-view"; }

count() { # name binary -> instructions per request
  local port; port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  TRD_CDS_ADDR="127.0.0.1:$port" TRD_CDS_AUTH=off RUST_LOG=warn \
    valgrind --tool=callgrind --callgrind-out-file="$out/$1.%p" "$2" >/dev/null 2>"$out/$1.log" &
  vpid=$!
  for _ in $(seq 1 120); do [ "$(post "$port" 2>/dev/null)" = 200 ] && break; sleep 0.5; done
  for _ in $(seq 1 "$WARMUP"); do post "$port" >/dev/null; done
  callgrind_control -z "$vpid" >/dev/null
  local code
  for _ in $(seq 1 "$N"); do
    code=$(post "$port")
    [ "$code" = 200 ] || { echo "$1 answered $code" >&2; exit 1; }
  done
  callgrind_control -d "$vpid" >/dev/null
  sleep 1
  kill "$vpid"; wait "$vpid" 2>/dev/null || true; vpid=
  # The dump after zeroing is the file with the ".1" suffix.
  awk -v n="$N" '/^totals:/ {printf "%.0f", $2 / n}' "$out"/"$1".*.1
}

ours=$(count ours "$bin/trd-cds")
ceiling=$(count ceiling "$bin/examples/ceiling")
printf 'body: %s (%s bytes); %s requests after %s warm-up, one connection each (curl)\n' "$BODY" "$(stat -c %s "$BODY")" "$N" "$WARMUP"
printf '%-10s %14s\n' "server" "instr/request"
printf '%-10s %14s\n' "trd-cds" "$ours" "ceiling" "$ceiling"
awk -v o="$ours" -v c="$ceiling" 'BEGIN { printf "ceiling/ours: %.0f%%\n", 100 * c / o }'
