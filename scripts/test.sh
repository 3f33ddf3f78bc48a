#!/usr/bin/env bash
# The project's test command (README): every unit, integration and HTTP test, against the real
# PostgreSQL at 127.0.0.1:5432 (override with TRD_CDS_TEST_PG_ADMIN_URL) and the in-memory store.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --locked --all-targets "$@"
