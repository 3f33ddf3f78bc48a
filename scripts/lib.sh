# Helpers sourced by the measurement and check scripts (`. scripts/lib.sh` from the repo root).

# need_pkg COMMAND PACKAGE: installs the Debian package when COMMAND is missing (with sudo when not
# root; `apt-get update` only if the first install fails), and exits if it is still missing.
need_pkg() {
    command -v "$1" >/dev/null && return 0
    echo "installing $2 (apt-get)" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 || {
        $sudo apt-get update -qq >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    }
    command -v "$1" >/dev/null || { echo "error: cannot install $2" >&2; exit 1; }
}

# A TCP port free on loopback right now.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Builds the release trd-cds and the parse-only ceiling (examples/ceiling.rs); prints their directory.
build_bench_bins() {
    echo "building release binaries (trd-cds, examples/ceiling)..." >&2
    cargo build --release --locked --quiet --bin trd-cds --example ceiling || return
    echo "${CARGO_TARGET_DIR:-target}/release"
}
