#!/usr/bin/env bash
# Renders the API docs page (/swagger-ui/) in headless Chromium with networking to the outside
# disabled, and checks that the OpenAPI document was loaded and rendered (not a blank page).
# Installs Debian's chromium when missing. Writes a screenshot to target/docs-page.png.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg chromium chromium
cargo build --locked --quiet
port=$(free_port)
TRD_CDS_ADDR="127.0.0.1:$port" TRD_CDS_AUTH=off RUST_LOG=warn "${CARGO_TARGET_DIR:-target}/debug/trd-cds" serve &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
profile=$(mktemp -d)
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$profile" --virtual-time-budget=10000)
dom=$(timeout 60 chromium "${flags[@]}" --dump-dom "http://127.0.0.1:$port/swagger-ui/" 2>/dev/null)
timeout 60 chromium "${flags[@]}" --window-size=1280,1600 --screenshot="$PWD/target/docs-page.png" \
  "http://127.0.0.1:$port/swagger-ui/" >/dev/null 2>&1 || true
rm -rf "$profile"
fail=0
for needle in "trd-cds: treatment-resistant depression CDS Hooks service" "/cds-services/{id}" "/api/v1/assessments" "OAS 3.1"; do
  if grep -qF "$needle" <<<"$dom"; then echo "ok: rendered '$needle'"; else echo "MISSING: '$needle'"; fail=1; fi
done
[ -f target/docs-page.png ] && echo "screenshot: target/docs-page.png"
exit $fail
