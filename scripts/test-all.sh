#!/bin/bash
# The full test suite, as root on Debian 12: installs the Debian packages
# the tests need when they are missing, builds, and runs every test —
# unit, property, simulation, and the end-to-end tests in network
# namespaces (with Debian's keepalived and MariaDB as peers).
#
#   scripts/test-all.sh        (as root)
#
# Rust stable is assumed (rustup); Debian's own rustc is too old.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s%N)

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
for p in keepalived mariadb-server mariadb-client iproute2 tcpdump python3 gcc g++ procps psmisc prometheus groff-base man-db; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The packages' services (keepalived, mariadb, prometheus) must not
    # start in the machine's own namespace: the tests run their own
    # servers inside test namespaces. A policy-rc.d that refuses every
    # start does that for the length of the install (an existing one is
    # left as it is).
    policy=/usr/sbin/policy-rc.d
    ours_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        ours_policy=1
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    if [ -n "$ours_policy" ]; then
        rm -f "$policy"
        trap - EXIT
    fi
fi
# Belt and braces: a service that started anyway (an admin's own
# policy-rc.d allowing it) is stopped again.
for svc in keepalived prometheus; do
    if pgrep -x "$svc" >/dev/null 2>&1 && [ "$(ip netns identify $(pgrep -xo "$svc") 2>/dev/null)" = "" ]; then
        echo "== stopping the $svc service the install started in this namespace"
        (systemctl stop "$svc" || service "$svc" stop) >/dev/null 2>&1 || true
    fi
done

# Leftovers of an interrupted earlier run (only our own namespaces).
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(rk[A-Za-z0-9]*[0-9]+[sh][0-9]*|rkdemo_[a-z]+|rkbench_[0-9]+|rkcap_[0-9]+|rksamples_[0-9]+|rkverdict_[0-9]+|rkdeb_[0-9]+|rksoak_[0-9]+_(sw|a|b))$' || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
done

echo "== build (a first build takes about 5 minutes on two cores)"
cargo build --workspace --all-targets
cargo build --release

echo "== tests (unit, property, simulation, end-to-end in namespaces)"
cargo test --workspace --no-fail-fast -- --include-ignored

echo "== -t verdicts: keepalived 2.2.7 against compat/expected.tsv, rkeepalived against keepalived"
scripts/compat-verdicts.sh

echo "== soak: a pair under random faults, reloads and check flips for 3 minutes (scripts/soak.sh runs 30 by default)"
SOAK_SECONDS=${SOAK_SECONDS:-180} scripts/soak.sh

echo "== the Debian package: build, install, run, purge"
scripts/test-deb.sh

ms=$((($(date +%s%N) - started) / 1000000))
printf '== all tests passed in %d.%03d s\n' $((ms / 1000)) $((ms % 1000))
