#!/usr/bin/env bash
# Two trd-cds replicas behind HAProxy over one PostgreSQL, with a replica killed and one restarted
# gracefully under load (README "Several replicas").
#
# Starts, all on 127.0.0.1: a fresh database (created here, dropped at the end); two release
# binaries (replicas a and b) in production mode with client JWT checks on (a trusted-clients file
# generated into a temp dir, keyed with the test key tests/fixtures/jwt/es384-*.pem); HAProxy in front
# (round robin, health checks on /readyz every 500 ms, down after 2 failures, redispatch on a refused
# connection). Then drives FAILOVER_SECONDS of load through HAProxy (scripts/failover_client.py:
# FAILOVER_WORKERS keep-alive connections, each call with a fresh JWT and hookInstance) while:
#   +8 s   replica a gets SIGKILL; 3 s later it is started again;
#   +20 s  replica b gets SIGTERM (graceful: /readyz 503 for TRD_CDS_SHUTDOWN_DRAIN_MS, then stop),
#          and is started again once it has exited.
# Reports: non-2xx answers (by status; 0 = connection error), whether every 2xx has its audit row in
# PostgreSQL, p50/p99 for the steady part and each failover window, and that a JWT used on replica a
# is refused (401) when replayed on replica b.
#
# Usage:  bash scripts/failover.sh
# Env:    FAILOVER_SECONDS (default 36), FAILOVER_WORKERS (default 8), FAILOVER_DRAIN_MS (the
#         replicas' TRD_CDS_SHUTDOWN_DRAIN_MS, default 2000), TRD_CDS_BIN (a binary to use instead of
#         building the release one), TRD_CDS_TEST_PG_ADMIN_URL (default
#         postgres://postgres@127.0.0.1:5432/postgres, a role allowed to CREATE DATABASE).
# Needs: haproxy, psql, curl (Debian packages, installed with apt-get when missing), Python 3 with
# PyJWT and cryptography (pip-installed into a cached virtualenv when missing).
# Bounded (about a minute plus the build); loopback only; cleans up on exit, Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TOTAL=${FAILOVER_SECONDS:-36}
WORKERS=${FAILOVER_WORKERS:-8}
DRAIN_MS=${FAILOVER_DRAIN_MS:-2000}
ADMIN_URL=${TRD_CDS_TEST_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
[ "$SECONDS_TOTAL" -ge 30 ] || { echo "error: FAILOVER_SECONDS must be at least 30" >&2; exit 2; }

. scripts/lib.sh
need_pkg haproxy haproxy
need_pkg psql postgresql-client
need_pkg curl curl

PY=python3
if ! python3 -c 'import jwt, cryptography' 2>/dev/null; then
    venv=${XDG_CACHE_HOME:-$HOME/.cache}/trd-cds/failover-venv
    if ! "$venv/bin/python" -c 'import jwt, cryptography' 2>/dev/null; then
        echo "installing PyJWT and cryptography into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "PyJWT==2.10.1" "cryptography==44.0.2"
    fi
    PY=$venv/bin/python
fi

if [ -n "${TRD_CDS_BIN:-}" ]; then
    BIN=$(realpath "$TRD_CDS_BIN")
else
    echo "building the release binary (cargo build --release)" >&2
    cargo build --release --locked --quiet --bin trd-cds
    BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/trd-cds
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/trd-failover.XXXXXX")
DB="trd_failover_$(date +%s)_$$"
DB_URL="${ADMIN_URL%/*}/$DB"
DB_CREATED=""
declare -A PID=() PORT=()
HAPROXY_PID=""
LOAD_PID=""

stop_pid() { # $1 = pid: TERM, wait up to 15 s, then KILL
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    [ -n "$LOAD_PID" ] && kill -KILL "$LOAD_PID" 2>/dev/null || true
    for r in "${!PID[@]}"; do stop_pid "${PID[$r]}"; done
    stop_pid "$HAPROXY_PID"
    if [ -n "$DB_CREATED" ]; then
        psql "$ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 ||
            echo "warning: could not drop database $DB" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
event() { echo "$1 $(now)" >>"$WORK/events"; }
# Sleeps until $1 seconds after the load started (at once if that is past).
sleep_until() {
    local start
    start=$(awk '$1 == "load_start" { print $2 }' "$WORK/events")
    sleep "$(awk -v s="$start" -v t="$1" -v n="$(now)" 'BEGIN { d = s + t - n; print (d > 0 ? d : 0) }')"
}

psql "$ADMIN_URL" -qAtc "CREATE DATABASE $DB" >/dev/null
DB_CREATED=1

# The trusted EHR: its ES384 public key as a JWK Set, registered in a trusted-clients file.
"$PY" scripts/failover_client.py jwks tests/fixtures/jwt/es384-private.pem es384-1 >"$WORK/jwks.json"
cat >"$WORK/clients.toml" <<EOF
[[client]]
iss = "https://ehr.failover.test/"
jwks_file = "jwks.json"
EOF

PORT[lb]=$(free_port)
PORT[a]=$(free_port)
PORT[b]=$(free_port)
LB="http://127.0.0.1:${PORT[lb]}"

start_replica() { # $1 = a | b
    local r=$1
    (
        export TRD_CDS_ENV=production TRD_CDS_AUTH=on NO_COLOR=1 TRD_CDS_LOG_FORMAT=text RUST_LOG=warn
        export TRD_CDS_ADDR="127.0.0.1:${PORT[$r]}" DATABASE_URL="$DB_URL" TRD_CDS_WORKERS=1
        export TRD_CDS_TRUSTED_CLIENTS="$WORK/clients.toml" TRD_CDS_PUBLIC_BASE_URL="$LB"
        export TRD_CDS_PATIENT_HASH_SECRET=failover-script-secret-0123456789
        export TRD_CDS_SHUTDOWN_DRAIN_MS="$DRAIN_MS"
        exec "$BIN" serve
    ) >>"$WORK/replica-$r.log" 2>&1 &
    PID[$r]=$!
    for _ in $(seq 1 200); do
        curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$r]}/readyz" 2>/dev/null && return 0
        kill -0 "${PID[$r]}" 2>/dev/null || { echo "error: replica $r exited; log:" >&2; tail -20 "$WORK/replica-$r.log" >&2; exit 1; }
        sleep 0.05
    done
    echo "error: replica $r not ready within 10 s" >&2
    exit 1
}

# HAProxy's view of a server, from its stats socket: UP, DOWN, NOLB, ...
server_state() { echo "show stat" | "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536): data += chunk
for line in data.decode().splitlines():
    f = line.split(",")
    if len(f) > 17 and f[0] == "replicas" and f[1] == sys.argv[2]: print(f[17])
' "$WORK/haproxy.sock" "$1"; }
wait_state() { # $1 = server, $2 = state; up to 15 s
    for _ in $(seq 1 300); do
        [ "$(server_state "$1")" = "$2" ] && return 0
        sleep 0.05
    done
    echo "error: HAProxy never saw replica $1 $2" >&2
    exit 1
}

start_replica a
start_replica b

cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 512
    stats socket $WORK/haproxy.sock mode 600 level user
    log stderr format raw local0 info
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 15s
    timeout server 15s
    # A refused connection (replica gone) is retried on the other replica; a request already sent
    # is not (it may have been answered and audited, and its JWT is now used up).
    retries 2
    option redispatch
frontend cds
    bind 127.0.0.1:${PORT[lb]}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
    http-response set-header X-Served-By %s
    server a 127.0.0.1:${PORT[a]} check
    server b 127.0.0.1:${PORT[b]} check
EOF
haproxy -c -q -f "$WORK/haproxy.cfg"
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
wait_state a UP
wait_state b UP

echo "load: ${SECONDS_TOTAL}s, $WORKERS connections through HAProxy to 2 replicas (drain ${DRAIN_MS} ms)" >&2
event load_start
"$PY" scripts/failover_client.py load "$LB" "$SECONDS_TOTAL" "$WORKERS" "$WORK/calls.jsonl" &
LOAD_PID=$!

sleep_until 8
echo "SIGKILL replica a" >&2
event kill_a
kill -KILL "${PID[a]}"
wait "${PID[a]}" 2>/dev/null || true
sleep 3
event a_restart
start_replica a
wait_state a UP
event a_up

sleep_until 20
echo "SIGTERM replica b (graceful restart)" >&2
event term_b
kill -TERM "${PID[b]}"
for _ in $(seq 1 600); do kill -0 "${PID[b]}" 2>/dev/null || break; sleep 0.05; done
wait "${PID[b]}" && b_exit=0 || b_exit=$?
event b_exit
[ "$b_exit" = 0 ] || echo "warning: replica b exited with status $b_exit after SIGTERM" >&2
start_replica b
wait_state b UP
event b_up

wait "$LOAD_PID"
LOAD_PID=""

# Every 2xx must have its audit row: wait until the row count settles, then list hookInstances.
last=-1
for _ in $(seq 1 40); do
    n=$(psql "$DB_URL" -qAtc "SELECT count(*) FROM audit_event")
    [ "$n" = "$last" ] && break
    last=$n
    sleep 0.25
done
psql "$DB_URL" -qAtc "SELECT hook_instance FROM audit_event" >"$WORK/audited"

replay=$("$PY" scripts/failover_client.py replay "$LB" "http://127.0.0.1:${PORT[a]}" "http://127.0.0.1:${PORT[b]}")

echo
echo "trd-cds failover: $(basename "$(dirname "$BIN")") build, $(nproc) cores, HAProxy $(haproxy -v | head -1 | awk '{print $3}'), 2 replicas × TRD_CDS_WORKERS=1, $WORKERS client connections, drain ${DRAIN_MS} ms"
"$PY" scripts/failover_client.py report "$WORK/calls.jsonl" "$WORK/events" "$WORK/audited"
echo "$replay"
echo "HAProxy state changes:"
grep -E "is (DOWN|UP)" "$WORK/haproxy.log" | sed -E 's/^.*(Server [^ ]+ is (DOWN|UP)[^,]*).*$/  \1/' | uniq || true
case "$replay" in
*"replay_first=200 replay_other_replica=401"*) ;;
*) echo "FAIL: a replayed jti was not refused by the other replica" >&2; exit 1 ;;
esac
