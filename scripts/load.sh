#!/usr/bin/env bash
# Load harness (issue "Performance"): drives the release trd-cds and a parse-only ceiling server
# (examples/ceiling.rs, same actix-web stack) with the same patient-view request (~60 resources,
# ~60 KB: tests/fixtures/patient-view-60.json) using wrk, on loopback only, and prints for each
# connection count: req/s, p50/p99 latency, server CPU ms per request, peak RSS, and ours/ceiling.
#
#   bash scripts/load.sh                 # 1, 2, 4, 16 connections, 10 s each
#   DURATION=5 CONNS="4 16" bash scripts/load.sh
#   SOAK=300 bash scripts/load.sh        # plus a 5-minute run at 16 connections, RSS sampled every 30 s
#   DATABASE_URL=postgres://... bash scripts/load.sh   # trd-cds audits to PostgreSQL (the deployed
#                                        # shape) instead of its in-memory store; the database must exist
#   TRACES=1 bash scripts/load.sh        # trd-cds exports its spans over OTLP/HTTP to a counting sink
#                                        # (scripts/otlp_sink.py): the cost of traces on
#
# Bounded: every run has a fixed duration; servers are stopped on exit. Numbers are for one run on
# a shared machine: compare ratios, not absolutes.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-"1 2 4 16"}
SOAK=${SOAK:-0}
TRACES=${TRACES:-0}
BODY=tests/fixtures/patient-view-60.json

. scripts/lib.sh
need_pkg wrk wrk
bin=$(build_bench_bins)

lua=$(mktemp --suffix=.lua)
cat >"$lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$PWD/$BODY", "rb"); wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.1f %.3f %.3f %d\n", summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -f "$lua"; }
trap cleanup EXIT

start() { # name binary port -> pid
  TRD_CDS_ADDR="127.0.0.1:$3" TRD_CDS_AUTH=off RUST_LOG=warn "$2" >/dev/null 2>&1 &
  local pid=$!; pids+=("$pid")
  for _ in $(seq 1 100); do
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$BODY" "http://127.0.0.1:$3/cds-services/trd-patient-view" && break
    sleep 0.1
  done
  echo "$pid"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_mb() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
tick=$(getconf CLK_TCK)

run() { # pid port conns duration -> "req/s p50 p99 cpu_ms_per_req errors"
  local before after out
  before=$(cpu_ticks "$1")
  out=$(wrk -t"$(( $3 < 2 ? 1 : 2 ))" -c"$3" -d"$4"s -s "$lua" "http://127.0.0.1:$2/cds-services/trd-patient-view" | awk '/^RESULT/ {print $2, $3, $4, $5, $6}')
  after=$(cpu_ticks "$1")
  read -r n rps p50 p99 errs <<<"$out"
  local cpu_ms; cpu_ms=$(awk -v d="$((after - before))" -v t="$tick" -v n="$n" 'BEGIN { printf "%.3f", (n > 0 ? d / t * 1000 / n : 0) }')
  echo "$rps $p50 $p99 $cpu_ms $errs"
}

ours_port=$(free_port); ceil_port=$(free_port)
if [ "$TRACES" = 1 ]; then
  sink_port=$(free_port); sink_counts=$(mktemp)
  python3 scripts/otlp_sink.py "$sink_port" "$sink_counts" &
  sink=$!; pids+=("$sink")
  for _ in $(seq 1 50); do curl -s -o /dev/null -X POST "http://127.0.0.1:$sink_port/v1/traces" && break; sleep 0.1; done
  export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port"
fi
ours=$(start trd-cds "$bin/trd-cds" "$ours_port")
unset OTEL_EXPORTER_OTLP_ENDPOINT
ceil=$(start ceiling "$bin/examples/ceiling" "$ceil_port")
size=$(stat -c %s "$BODY")
echo "body: $BODY ($size bytes); wrk -t2, ${DURATION}s per run; $(nproc) cores; $(date -u +%FT%TZ)"
echo "trd-cds audit store: $([ -n "${DATABASE_URL:-}" ] && echo PostgreSQL || echo "in memory"); traces: $([ "$TRACES" = 1 ] && echo "exported (OTLP/HTTP to a local sink)" || echo off)"
printf '%-6s | %-10s %-9s %-9s %-11s | %-10s %-9s %-9s %-11s | %-6s\n' conns "ours rps" "p50 ms" "p99 ms" "cpu ms/req" "ceil rps" "p50 ms" "p99 ms" "cpu ms/req" "ratio"
for c in $CONNS; do
  read -r o_rps o_p50 o_p99 o_cpu o_err <<<"$(run "$ours" "$ours_port" "$c" "$DURATION")"
  read -r c_rps c_p50 c_p99 c_cpu c_err <<<"$(run "$ceil" "$ceil_port" "$c" "$DURATION")"
  ratio=$(awk -v a="$o_rps" -v b="$c_rps" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }')
  printf '%-6s | %-10s %-9s %-9s %-11s | %-10s %-9s %-9s %-11s | %-6s\n' "$c" "$o_rps" "$o_p50" "$o_p99" "$o_cpu" "$c_rps" "$c_p50" "$c_p99" "$c_cpu" "$ratio"
  if [ "$o_err" != 0 ] || [ "$c_err" != 0 ]; then echo "  errors: ours $o_err, ceiling $c_err (non-2xx or socket)"; fi
done
echo "peak RSS: ours $(hwm_mb "$ours") MB, ceiling $(hwm_mb "$ceil") MB"
if [ "$TRACES" = 1 ]; then
  kill -TERM "$sink"; wait "$sink" 2>/dev/null || true
  echo "trace export during the runs: $(cat "$sink_counts") (the sink's first request is this script's probe)"
  rm -f "$sink_counts"
fi

if [ "$SOAK" -gt 0 ]; then
  echo "soak: ${SOAK}s at 16 connections; RSS every 30 s (MB):"
  wrk -t2 -c16 -d"$SOAK"s -s "$lua" "http://127.0.0.1:$ours_port/cds-services/trd-patient-view" >/dev/null &
  w=$!
  samples=()
  while kill -0 "$w" 2>/dev/null; do samples+=("$(rss_mb "$ours")"); sleep 30; done
  echo "  ${samples[*]}"
  echo "  peak RSS after soak: $(hwm_mb "$ours") MB"
fi
