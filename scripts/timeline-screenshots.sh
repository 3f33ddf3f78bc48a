#!/usr/bin/env bash
# Renders golden timeline SVGs (tests/fixtures/timeline/) in headless Chromium, networking off, at
# the width each was drawn for, into docs/timeline/: the screenshots the README shows. Run after
# `TRD_CDS_BLESS=1 cargo test --test it timeline::` changed the pictures, then look at the PNGs.
# Installs Debian's chromium when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg chromium chromium
mkdir -p docs/timeline
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile")
shot() { # shot GOLDEN PNG
    local svg="tests/fixtures/timeline/$1.svg" width height
    width=$(grep -o -m1 'width="[0-9.]*"' "$svg" | head -1 | tr -dc '0-9.')
    height=$(grep -o -m1 'height="[0-9.]*"' "$svg" | head -1 | tr -dc '0-9.')
    timeout 60 chromium "${flags[@]}" --window-size="${width%.*},${height%.*}" \
        --screenshot="$PWD/$2" "file://$PWD/$svg" >/dev/null 2>&1
    echo "$2: ${width%.*} x ${height%.*}"
}
shot met-three-failed-lithium docs/timeline/timeline-1200.png
shot met-three-failed-lithium-400 docs/timeline/timeline-400.png
