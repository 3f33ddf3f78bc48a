#!/usr/bin/env bash
# Screenshots of the SMART app's page (src/app/page.rs) in headless Chromium at 1,200 px and 400 px wide:
# runs the full-flow test of tests/it/smart_app.rs (launch → authorize → callback → token → sekmet-fhir → page),
# which writes the page it received to TRD_CDS_APP_PAGE_OUT, then renders that file with networking off.
# Writes docs/app/page-1200.png and docs/app/page-400.png. Installs Debian's chromium when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg chromium chromium
mkdir -p target docs/app
page="$PWD/target/app-page.html"
rm -f "$page"
TRD_CDS_APP_PAGE_OUT="$page" cargo test --locked --quiet --test it smart_app::the_full_launch_shows_the_assessment_page
[ -s "$page" ] || { echo "error: the test did not write $page" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile")
for width in 1200 400; do
  timeout 60 chromium "${flags[@]}" --window-size="$width,2000" --screenshot="$PWD/docs/app/page-$width.png" \
    "file://$page" >/dev/null 2>&1 || true
  [ -s "docs/app/page-$width.png" ] && echo "screenshot: docs/app/page-$width.png"
done
