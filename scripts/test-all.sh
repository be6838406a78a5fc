#!/bin/bash
# The full test suite, as root on Debian 12: installs the Debian packages
# the tests need when they are missing, builds, and runs every test —
# unit, property, simulation, and the end-to-end tests in network
# namespaces (with Debian's keepalived and MariaDB as peers).
#
#   sudo scripts/test-all.sh
#
# Rust stable is assumed (rustup); Debian's own rustc is too old.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "scripts/test-all.sh: run as root (network namespaces, raw sockets)" >&2
    exit 1
fi
if ! command -v cargo >/dev/null; then
    [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust stable with rustup" >&2; exit 1; }

# Debian packages the tests use.
need=()
for p in keepalived mariadb-server mariadb-client iproute2 tcpdump python3 gcc g++ procps psmisc; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Leftovers of an interrupted earlier run (only our own namespaces).
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(rk[A-Za-z0-9]*[0-9]+[sh][0-9]*|rkdemo_[a-z]+|rkbench_[0-9]+|rkcap_[0-9]+|rksamples_[0-9]+|rkverdict_[0-9]+)$' || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
done

echo "== build"
cargo build --workspace --all-targets --quiet
cargo build --release --quiet

echo "== tests (unit, property, simulation, end-to-end in namespaces)"
cargo test --workspace --no-fail-fast -- --include-ignored

echo "== -t verdicts: keepalived 2.2.7 against compat/expected.tsv, rkeepalived against keepalived"
scripts/compat-verdicts.sh

echo "== all tests passed"
