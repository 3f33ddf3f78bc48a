#!/usr/bin/env bash
# Screenshots of the cards as a CDS client shows them in a sidebar (~400 px wide), for looking at
# what a clinician sees (issue 15):
#
#   bash scripts/card-screenshots.sh                      # docs/cards/patient-view.png, order-sign.png
#   bash scripts/card-screenshots.sh RESPONSE.json OUT.png   # any saved hook response
#
# Default: builds the debug service, starts it (TRD_CDS_AUTH=off, in-memory store) on a free port,
# calls patient-view with tests/fixtures/patient-view-trd.json and order-sign with the order scenario
# tests/order_scenarios/maoi-low-dose-while-venlafaxine-current.json (phenelzine below its minimum
# dose next to current venlafaxine: the issue's contradiction), and renders each response.
# Rendering: scripts/card_screenshots.py (python-markdown, pinned, installed with pip into its own
# virtualenv the first time: TRD_CDS_TOOLS_DIR, default ~/.cache/trd-cds/card-render-markdown-<v>),
# then headless Chromium (Debian's chromium, installed when missing) with networking off.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

MARKDOWN=3.11.3
WIDTH=400
TOOLS=${TRD_CDS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trd-cds/card-render-markdown-$MARKDOWN}
if ! "$TOOLS/bin/python" -c "import markdown" >/dev/null 2>&1; then
    echo "installing markdown $MARKDOWN into $TOOLS" >&2
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "markdown==$MARKDOWN"
fi
need_pkg chromium chromium

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# render RESPONSE.json OUT.png TITLE: markdown → HTML at sidebar width → PNG of the page's height.
render() {
    local html="$work/$(basename "$2" .png).html"
    "$TOOLS/bin/python" scripts/card_screenshots.py "$1" "$html" --width "$WIDTH" --title "$3"
    local profile; profile=$(mktemp -d -p "$work")
    local flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking
                 --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile"
                 --force-device-scale-factor=1 --virtual-time-budget=2000)
    # The page's height, measured by Chromium itself, so the screenshot is the whole sidebar.
    local probe="$work/probe.html"
    sed 's|</body>|<script>document.body.setAttribute("data-h", document.documentElement.scrollHeight)</script></body>|' "$html" >"$probe"
    local h; h=$(timeout 60 chromium "${flags[@]}" --window-size="$WIDTH,800" --dump-dom "file://$probe" 2>/dev/null \
        | grep -o 'data-h="[0-9]*"' | grep -o '[0-9]*' || true)
    h=${h:-1600}
    mkdir -p "$(dirname "$2")"
    timeout 60 chromium "${flags[@]}" --window-size="$WIDTH,$h" --screenshot="$(realpath -m "$2")" "file://$html" >/dev/null 2>&1
    echo "$2 (${WIDTH}x$h)"
}

if [ $# -eq 2 ]; then
    render "$1" "$2" "$(basename "$1" .json)"
    exit 0
fi
[ $# -eq 0 ] || { echo "usage: $0 [RESPONSE.json OUT.png]" >&2; exit 2; }

cargo build --locked --quiet --bin trd-cds
port=$(free_port)
TRD_CDS_ADDR="127.0.0.1:$port" TRD_CDS_AUTH=off RUST_LOG=warn "${CARGO_TARGET_DIR:-target}/debug/trd-cds" serve &
pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

# Order scenarios write dates relative to today (@T-13): replace them as tests/it/order_hooks.rs does.
python3 - tests/order_scenarios/maoi-low-dose-while-venlafaxine-current.json >"$work/order-sign-request.json" <<'PY'
import datetime, re, sys
today = datetime.date.today()
text = open(sys.argv[1]).read()
print(re.sub(r"@T([+-])(\d+)", lambda m: str(today + datetime.timedelta(days=int(m.group(2)) * (1 if m.group(1) == "+" else -1))), text))
PY
call() { curl -fsS -X POST "http://127.0.0.1:$port/cds-services/$1" -H 'Content-Type: application/json' --data @"$2" >"$3"; }
call trd-patient-view tests/fixtures/patient-view-trd.json "$work/patient-view.json"
call trd-order-sign "$work/order-sign-request.json" "$work/order-sign.json"
render "$work/patient-view.json" docs/cards/patient-view.png "patient-view: tests/fixtures/patient-view-trd.json"
render "$work/order-sign.json" docs/cards/order-sign.png "order-sign: phenelzine drafted next to venlafaxine"
