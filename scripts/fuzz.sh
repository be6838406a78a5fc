#!/bin/bash
# Runs every fuzz target in fuzz/ for a bounded number of executions and
# prints libFuzzer's final coverage (cov) and feature (ft) counts and the
# crashes found. Needs a nightly toolchain and cargo-fuzz (installed when
# missing); CI does not run it (no nightly is promised there):
#
#   scripts/fuzz.sh                          # 10M runs per packet decoder, 1M per text reader
#   PACKET_RUNS=100000 TEXT_RUNS=10000 scripts/fuzz.sh    # a short smoke run
#   TARGETS="decode_ipv4 config_parse" scripts/fuzz.sh
#
# Corpora grow under fuzz/corpus/TARGET and crashes land in
# fuzz/artifacts/TARGET (neither is committed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
PACKET_RUNS=${PACKET_RUNS:-10000000}
TEXT_RUNS=${TEXT_RUNS:-1000000}
PACKET="decode_ipv4 decode_ipv6 instance_rx netlink_event arp_announcement"
TEXT="config_parse plugin_config control_request"
TARGETS=${TARGETS:-$PACKET $TEXT}
rustup toolchain list | grep -q '^nightly' || { echo "scripts/fuzz.sh: needs a nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd fuzz
echo "== building the targets (nightly, with sanitizers)"
cargo +nightly fuzz build -O >/dev/null
crashes=0
printf '%-18s %12s %10s %8s %8s %8s\n' target runs seconds cov ft crashes
for t in $TARGETS; do
    runs=$TEXT_RUNS
    [[ " $PACKET " == *" $t "* ]] && runs=$PACKET_RUNS
    mkdir -p "corpus/$t" "artifacts/$t"
    log=$(mktemp)
    start=$(date +%s)
    status=0
    # Absolute paths: the text targets change to an empty working
    # directory before libFuzzer reads them.
    cargo +nightly fuzz run -O "$t" "$PWD/corpus/$t" -- -runs="$runs" -print_final_stats=1 \
        -artifact_prefix="$PWD/artifacts/$t/" >"$log" 2>&1 || status=$?
    secs=$(( $(date +%s) - start ))
    last=$(grep -E '(#[0-9]+|DONE).*cov: ' "$log" | tail -1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    found=$(find "artifacts/$t" -type f | wc -l)
    [ "$status" != 0 ] && [ "$found" = 0 ] && found=1
    crashes=$((crashes + found))
    printf '%-18s %12s %10s %8s %8s %8s\n' "$t" "${done_runs:-?}" "$secs" "${cov:-?}" "${ft:-?}" "$found"
    [ "$found" = 0 ] || { echo "   see $log and fuzz/artifacts/$t"; continue; }
    rm -f "$log"
done
rm -rf "${TMPDIR:-/tmp}"/rkeepalived-fuzz-*
echo "== $crashes crash(es) in all"
[ "$crashes" = 0 ]
