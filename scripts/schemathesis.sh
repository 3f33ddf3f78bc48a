#!/usr/bin/env bash
# Property-based API testing with Schemathesis (PyPI) against openapi/openapi.json: starts the service
# (debug build, in-memory store, TRD_CDS_AUTH=off so generated requests reach the handlers), runs every
# operation with generated valid and invalid inputs, and fails on any 5xx (check not_a_server_error).
#
# Usage:  bash scripts/schemathesis.sh
# Env:    SCHEMATHESIS_MAX_EXAMPLES (default 50 per operation), TRD_CDS_BIN (use this binary),
#         SCHEMATHESIS_VENV (default target/schemathesis-venv; created with python3 -m venv).
# Bounded: a couple of minutes plus the build. Loopback only. Stops the service on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-50}
VENV=${SCHEMATHESIS_VENV:-$PWD/target/schemathesis-venv}

if [ ! -x "$VENV/bin/schemathesis" ]; then
    echo "installing schemathesis into $VENV (pip)" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis>=4,<5" >&2
fi

if [ -n "${TRD_CDS_BIN:-}" ]; then
    BIN=$(realpath "$TRD_CDS_BIN")
else
    cargo build --quiet --bin trd-cds
    BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug/trd-cds
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/trd-schemathesis.XXXXXX")
SVC_PID=""
cleanup() {
    if [ -n "$SVC_PID" ] && kill -0 "$SVC_PID" 2>/dev/null; then
        kill -TERM "$SVC_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SVC_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SVC_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
(
    unset DATABASE_URL TRD_CDS_ENV
    export TRD_CDS_ADDR="127.0.0.1:$PORT" TRD_CDS_AUTH=off NO_COLOR=1 RUST_LOG=warn
    exec "$BIN" serve
) >"$WORK/service.log" 2>&1 &
SVC_PID=$!
for _ in $(seq 1 200); do
    curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
    kill -0 "$SVC_PID" 2>/dev/null || { echo "error: the service exited:" >&2; tail -20 "$WORK/service.log" >&2; exit 1; }
    sleep 0.1
done

set +e
"$VENV/bin/schemathesis" run openapi/openapi.json \
    --url "$BASE" \
    --checks not_a_server_error \
    --max-examples "$MAX_EXAMPLES" \
    --generation-deterministic \
    --no-color \
    --report-junit-path "$WORK/junit.xml" \
    >"$WORK/schemathesis.out" 2>&1
rc=$?
set -e
# The summary only (the full output is long); all of it when something failed.
if [ $rc -eq 0 ]; then
    sed -n '/SUMMARY/,$p' "$WORK/schemathesis.out"
else
    cat "$WORK/schemathesis.out"
    echo "--- service log (errors) ---"
    grep -E "ERROR|panicked" "$WORK/service.log" | tail -20 || true
fi
if grep -q "panicked" "$WORK/service.log"; then
    echo "error: the service panicked during the run" >&2
    exit 1
fi
exit $rc
