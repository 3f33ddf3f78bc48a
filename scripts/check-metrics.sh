#!/usr/bin/env bash
# Offline checks of the monitoring files and of a real scrape (CI step "metrics"):
#   - promtool check rules / test rules on deploy/prometheus/alerts.yml (+ alerts.test.yml);
#   - promtool check metrics on a scrape of the real service after a real hook call (a 200 with
#     cards, a 412, a 401-free feedback): the exposition format and the naming conventions;
#   - deploy/grafana/trd-cds.json is JSON and each panel queries a series the scrape has.
# promtool comes from Debian's `prometheus` package: the .deb is downloaded with apt-get (no
# install, no daemon started) and only promtool is extracted, once, into
# TRD_CDS_TOOLS_DIR (default ~/.cache/trd-cds/promtool-<version>); later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${TRD_CDS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trd-cds}
PROMTOOL=$(ls "$TOOLS"/promtool-*/promtool 2>/dev/null | head -1 || true)
if [ -z "$PROMTOOL" ]; then
    work=$(mktemp -d)
    ( cd "$work" && { apt-get download prometheus >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null 2>&1; }; } )
    deb=$(ls "$work"/prometheus_*.deb)
    version=$(dpkg-deb -f "$deb" Version)
    dpkg-deb -x "$deb" "$work/x"
    mkdir -p "$TOOLS/promtool-$version"
    cp "$work/x/usr/bin/promtool" "$TOOLS/promtool-$version/promtool"
    rm -rf "$work"
    PROMTOOL="$TOOLS/promtool-$version/promtool"
    echo "promtool $version (Debian prometheus package) in $PROMTOOL" >&2
fi
"$PROMTOOL" --version | head -1

failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

echo "== promtool check rules / test rules"
"$PROMTOOL" check rules deploy/prometheus/alerts.yml || fail "promtool check rules"
(cd deploy/prometheus && "$PROMTOOL" test rules alerts.test.yml) || fail "promtool test rules"

echo "== promtool check metrics on a scrape after real calls"
# Built by `cargo test` as a side effect (integration tests get the binary), with the same features
# as the tests: a plain `cargo build` would resolve dev-dependency features differently and rebuild
# much of the tree.
cargo test --quiet --locked --test it --no-run
BIN="${CARGO_TARGET_DIR:-target}/debug/trd-cds"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
scrape_file=$(mktemp)
TRD_CDS_ADDR=127.0.0.1:$port TRD_CDS_AUTH=off TRD_CDS_WORKERS=1 "$BIN" serve >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log" "$scrape_file"' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
post() { curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' --data-binary "$2" "$base$1"; }
code=$(post /cds-services/trd-patient-view @tests/fixtures/patient-view-trd.json)
[ "$code" = 200 ] || fail "hook call answered $code"
code=$(post /cds-services/trd-patient-view '{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/u","patientId":"p"},"prefetch":{}}')
[ "$code" = 412 ] || fail "hook call without prefetch answered $code"
code=$(post /cds-services/trd-patient-view/feedback @tests/data/cds-hooks-spec/spec-examples/feedback-overridden-with-reason.json)
[ "$code" = 200 ] || fail "feedback answered $code"
curl -fs "$base/metrics" >"$scrape_file" || fail "GET /metrics"
"$PROMTOOL" check metrics <"$scrape_file" || fail "promtool check metrics"
grep -q '^trd_cds_hook_calls_total{service="trd-patient-view",status="412"} 1$' \
    "$scrape_file" || fail "the scrape lacks the 412"

echo "== Grafana dashboard: valid JSON, every queried series exists"
python3 - deploy/grafana/trd-cds.json "$scrape_file" <<'PY' || fail "dashboard"
import json, re, sys
dash = json.load(open(sys.argv[1]))
scrape = open(sys.argv[2]).read()
# Series in the scrape, and families declared in the code (a labelled family with no sample yet,
# e.g. JWT refusals with authentication off, is not in the scrape).
names = set(re.findall(r'^([a-z_]+)', scrape, re.M))
declared = set(re.findall(r'"(trd_cds_[a-z_]+)"', open("src/http/metrics.rs").read()))
def known(series):
    base = re.sub(r'_(bucket|count|sum)$', '', series)
    return series in names or series in declared or base in declared
missing = []
for panel in dash["panels"]:
    for t in panel.get("targets", []):
        for series in re.findall(r'\btrd_cds_[a-z_]+', t["expr"]):
            if not known(series):
                missing.append(f'{panel["title"]}: {series}')
if missing:
    sys.exit("series not in the scrape: " + ", ".join(missing))
print(f'{len(dash["panels"])} panels, every series present')
PY

[ "$failed" = 0 ] && echo "metrics: all checks passed"
exit "$failed"
