#!/usr/bin/env bash
# Decompression bombs against the built service (issue 13, item 2): starts trd-cds (TRD_CDS_AUTH=off,
# i.e. the caller is as good as authenticated, the worst case; in-memory store), fires N parallel
# requests (default 30) whose 1 MiB body inflates to 1 GiB (gzip and deflate, JSON and text/plain,
# plus br-labelled ones), and prints the answers and the peak RSS above idle (target: < 300 MB).
#
#   bash scripts/bomb-rss.sh                  # dev build (cargo build), 30 bombs
#   TRD_CDS_BIN=target/release/trd-cds N=60 bash scripts/bomb-rss.sh
#
# Peak = the highest VmRSS sampled every 20 ms while the bombs run, and the kernel's VmHWM.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N=${N:-30}
bin=${TRD_CDS_BIN:-}
if [ -z "$bin" ]; then
    cargo build --locked --quiet --bin trd-cds
    bin="${CARGO_TARGET_DIR:-target}/debug/trd-cds"
fi
work=$(mktemp -d)
port=$(free_port)
TRD_CDS_ADDR="127.0.0.1:$port" TRD_CDS_AUTH=off RUST_LOG=warn "$bin" serve >"$work/service.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# 1 GiB of zeros, compressed as a stream (never held in memory here either).
python3 - "$work" <<'EOF'
import sys, zlib
work = sys.argv[1]
zeros = bytes(1 << 20)
for name, wbits in (("gzip", 31), ("deflate", 15)):
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    with open(f"{work}/bomb.{name}", "wb") as f:
        for _ in range(1024):
            f.write(c.compress(zeros))
        f.write(c.flush())
EOF
ls -l "$work"/bomb.* | awk '{print "bomb:", $NF, $5, "bytes (inflates to 1073741824)"}'

url="http://127.0.0.1:$port/cds-services/trd-patient-view"
# Warm up: a few ordinary calls, so idle includes the allocator's working set.
req='{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/u","patientId":"p1"},"prefetch":{"patient":null,"conditions":null,"medicationStatements":null,"medicationRequests":null,"medicationDispenses":null,"procedures":null,"observations":null}}'
for _ in 1 2 3 4 5; do curl -sS -o /dev/null -H 'Content-Type: application/json' -d "$req" "$url"; done
sleep 0.5
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
idle=$(rss VmRSS)
hwm_before=$(rss VmHWM)

peak=$idle
( while kill -0 $pid 2>/dev/null; do rss VmRSS; sleep 0.02; done ) >"$work/samples" &
sampler=$!
curls=()
for i in $(seq 1 "$N"); do
    case $((i % 4)) in
        0) enc=gzip;    file=gzip;    ct=application/json ;;
        1) enc=deflate; file=deflate; ct=application/json ;;
        2) enc=gzip;    file=gzip;    ct=text/plain ;;
        3) enc=br;      file=gzip;    ct=application/fhir+json ;;
    esac
    curl -sS -o /dev/null -w '%{http_code}\n' --max-time 60 -H "Content-Type: $ct" -H "Content-Encoding: $enc" \
        --data-binary "@$work/bomb.$file" "$url" >>"$work/codes" 2>>"$work/curl.err" &
    curls+=($!)
done
wait "${curls[@]}" || true
sleep 0.3
kill $sampler 2>/dev/null || true
wait $sampler 2>/dev/null || true
peak=$(sort -n "$work/samples" | tail -1)
hwm=$(rss VmHWM)
kill -0 $pid 2>/dev/null || { echo "error: the service died"; cat "$work/service.log"; exit 1; }

echo "binary: $bin"
echo "answers to $N bombs: $(sort "$work/codes" | uniq -c | awk '{printf "%s x %s, ", $1, $2}')"
[ -s "$work/curl.err" ] && { echo "curl errors:"; sort "$work/curl.err" | uniq -c; }
echo "idle RSS:            $((idle / 1024)) MB"
echo "peak RSS (sampled):  $((peak / 1024)) MB  => +$(((peak - idle) / 1024)) MB above idle"
echo "VmHWM before/after:  $((hwm_before / 1024)) / $((hwm / 1024)) MB  => +$(((hwm - idle) / 1024)) MB above idle"
[ $((peak - idle)) -lt $((300 * 1024)) ] && echo "ok: below the 300 MB target" || { echo "FAIL: 300 MB target exceeded"; exit 1; }
