#!/usr/bin/env bash
# Audit-write throughput under load, and whether the audit path changes the hook's latency.
#
# Builds the release binary, then starts the service twice on loopback — (a) in memory (no
# DATABASE_URL), (b) with PostgreSQL on a fresh database this script creates and drops — and drives
# `POST /cds-services/trd-patient-view` with tests/fixtures/patient-view-trd.json using wrk
# (Debian package; installed with apt-get when missing) at 1, 4 and 16 connections. Prints req/s,
# p50/p99, non-2xx answers, and for PostgreSQL the audit rows/s actually committed during each run
# (audit_event counted before and after) and whether the rows match the 2xx answers.
#
# Usage:  bash scripts/audit-load.sh
# Env:    LOAD_SECONDS (default 10) per run, LOAD_CONNECTIONS (default "1 4 16"),
#         LOAD_WARMUP_SECONDS (default 2), TRD_CDS_WORKERS (default: the service's, = cores),
#         TRD_CDS_BIN (use this binary instead of building the release one),
#         TRD_CDS_AUDIT_MODE (sync, the service's default: a call waits for its row's commit; or async),
#         RUST_LOG (default the service's: one info line per request, to a log file),
#         TRD_CDS_TEST_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres, a role
#         allowed to CREATE DATABASE; no query string).
# Bounded: about (warm-up + runs × LOAD_SECONDS) × 2 plus the build. Loopback only. Cleans up
# (service stopped, database dropped, temp files removed) on exit, also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${LOAD_SECONDS:-10}
CONNECTIONS=${LOAD_CONNECTIONS:-"1 4 16"}
WARMUP=${LOAD_WARMUP_SECONDS:-2}
ADMIN_URL=${TRD_CDS_TEST_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BODY=$PWD/tests/fixtures/patient-view-trd.json
SECRET=audit-load-script-secret-0123456789

. scripts/lib.sh
need_pkg wrk wrk
need_pkg psql postgresql-client
need_pkg curl curl

if [ -n "${TRD_CDS_BIN:-}" ]; then
    BIN=$(realpath "$TRD_CDS_BIN") # e.g. a debug build, to try the script itself quickly
else
    echo "building the release binary (cargo build --release)" >&2
    cargo build --release --quiet
    BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/trd-cds
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/trd-audit-load.XXXXXX")
DB="trd_load_$(date +%s)_$$"
DB_URL="${ADMIN_URL%/*}/$DB"
SVC_PID=""
DB_CREATED=""

stop_service() {
    if [ -n "$SVC_PID" ] && kill -0 "$SVC_PID" 2>/dev/null; then
        kill -TERM "$SVC_PID" 2>/dev/null || true
        # Graceful stop drains the audit queue; bounded, then forced.
        for _ in $(seq 1 100); do kill -0 "$SVC_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SVC_PID" 2>/dev/null || true
        wait "$SVC_PID" 2>/dev/null || true
    fi
    SVC_PID=""
}
cleanup() {
    stop_service
    if [ -n "$DB_CREATED" ]; then
        psql "$ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 ||
            echo "warning: could not drop database $DB" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql "$ADMIN_URL" -qAtc "CREATE DATABASE $DB" >/dev/null
DB_CREATED=1

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("LOAD_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
LUA


start_service() { # $1 = memory | postgres
    local port
    port=$(free_port)
    BASE="http://127.0.0.1:$port"
    (
        unset DATABASE_URL TRD_CDS_AUDIT_QUEUE TRD_CDS_AUDIT_WAIT_MS TRD_CDS_ENV
        export TRD_CDS_ADDR="127.0.0.1:$port" TRD_CDS_AUTH=off TRD_CDS_PATIENT_HASH_SECRET="$SECRET" NO_COLOR=1
        [ "$1" = postgres ] && export DATABASE_URL="$DB_URL"
        exec "$BIN" serve
    ) >"$WORK/$1.log" 2>&1 &
    SVC_PID=$!
    for _ in $(seq 1 200); do
        if curl -fsS "$BASE/readyz" >"$WORK/ready.json" 2>/dev/null; then
            grep -q "\"store\":\"$1\"" "$WORK/ready.json" || { echo "error: /readyz: $(cat "$WORK/ready.json")" >&2; exit 1; }
            return 0
        fi
        kill -0 "$SVC_PID" 2>/dev/null || { echo "error: the service exited; log:" >&2; tail -20 "$WORK/$1.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "error: the service was not ready within 20 s" >&2
    exit 1
}

audit_rows() { psql "$DB_URL" -qAtc "SELECT count(*) FROM audit_event"; }

# Waits (≤ 10 s) until the audit row count stops changing (queue drained); prints it.
settled_rows() {
    local last now
    last=$(audit_rows)
    for _ in $(seq 1 40); do
        sleep 0.25
        now=$(audit_rows)
        [ "$now" = "$last" ] && break
        last=$now
    done
    echo "$last"
}

load() { # $1 = connections, $2 = seconds → "RESULT requests duration_us non2xx sockerr p50_us p99_us max_us"
    local threads=2
    [ "$1" -lt 2 ] && threads=1
    LOAD_BODY="$BODY" wrk -t"$threads" -c"$1" -d"${2}s" --timeout 5s -s "$WORK/post.lua" \
        "$BASE/cds-services/trd-patient-view" >"$WORK/wrk.out" 2>&1 || { cat "$WORK/wrk.out" >&2; exit 1; }
    grep '^RESULT ' "$WORK/wrk.out" || { cat "$WORK/wrk.out" >&2; exit 1; }
}

# Sanity: the body gets 200 and a card.
check_call() {
    local code
    code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary @"$BODY" "$BASE/cds-services/trd-patient-view")
    [ "$code" = 200 ] && grep -q '"uuid"' "$WORK/answer.json" || { echo "error: hook answered $code" >&2; exit 1; }
}

ROWS=()
for mode in memory postgres; do
    start_service "$mode"
    check_call
    echo "[$mode] warm-up ${WARMUP}s" >&2
    load 4 "$WARMUP" >/dev/null
    [ "$mode" = postgres ] && settled_rows >/dev/null
    for c in $CONNECTIONS; do
        echo "[$mode] $c connection(s), ${SECONDS_PER_RUN}s" >&2
        before=""
        [ "$mode" = postgres ] && before=$(audit_rows)
        result=$(load "$c" "$SECONDS_PER_RUN")
        read -r _ requests duration_us non2xx sockerr p50 p99 max <<<"$result"
        rows_per_s="-"; rows_check="-"
        if [ "$mode" = postgres ]; then
            at_end=$(audit_rows)
            settled=$(settled_rows)
            ok=$((requests - non2xx))
            rows_per_s=$(awk -v n="$((at_end - before))" -v d="$duration_us" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
            # wrk abandons up to one in-flight request per connection at the end: the service still
            # answers and audits it, so rows may exceed the 2xx seen by wrk by at most c.
            written=$((settled - before))
            if [ "$written" -ge "$ok" ] && [ "$written" -le $((ok + c)) ]; then rows_check="ok ($written)"; else rows_check="MISMATCH ($written rows, $ok 2xx)"; fi
        fi
        ROWS+=("$(awk -v m="$mode" -v c="$c" -v r="$requests" -v d="$duration_us" -v p50="$p50" -v p99="$p99" -v mx="$max" \
            -v n2="$non2xx" -v se="$sockerr" -v ar="$rows_per_s" -v rc="$rows_check" \
            'BEGIN { printf "%-9s %5d %9.0f %8.2f %8.2f %8.2f %7d %6d %12s  %s", m, c, r / (d / 1e6), p50 / 1000, p99 / 1000, mx / 1000, n2, se, ar, rc }')")
    done
    stop_service
done

echo
echo "trd-cds audit load: $(basename "$(dirname "$BIN")") build, $(nproc) cores, TRD_CDS_AUDIT_MODE=${TRD_CDS_AUDIT_MODE:-default}, TRD_CDS_WORKERS=${TRD_CDS_WORKERS:-default}, ${SECONDS_PER_RUN}s per run, wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), body $(wc -c <"$BODY") bytes"
printf '%-9s %5s %9s %8s %8s %8s %7s %6s %12s  %s\n' mode conns "req/s" "p50 ms" "p99 ms" "max ms" non-2xx sockerr "audit rows/s" "rows = 2xx"
for r in "${ROWS[@]}"; do echo "$r"; done
