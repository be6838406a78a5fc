#!/bin/bash
# User-space instructions per advert sent, counted by callgrind (repeatable
# on a noisy VM, unlike seconds), as root. N VRRPv3 instances, all masters,
# alone on host A in a namespace; the counters are zeroed once start-up is
# over and dumped SECONDS later; the adverts of that window are captured
# at A's switch port.
#
#   scripts/profile-adverts.sh                  # 100 instances at 0.1 s, 20 s
#   N=255 INTERVAL=0.1 WINDOW=20 BIN=path/to/rkeepalived scripts/profile-adverts.sh
#   SPREAD=1 scripts/profile-adverts.sh    # intervals INTERVAL + 0..9 cs: deadlines
#                                         # fall apart, as they do on a real site
#   ROLE=backup scripts/profile-adverts.sh # instructions per advert received: A is
#                                         # the backup (priority 50) of host B's
#                                         # master, B not under valgrind
#
#   TUNABLES=glibc.malloc.tcache_count=7 ... # with glibc's default tcache
#
# The daemon execs itself once to run without glibc's tcache; under
# valgrind that exec would leave the tool, so the script sets the tunable
# itself (TUNABLES, default glibc.malloc.tcache_count=0, as the daemon
# runs). An older build (BIN) that does not re-exec gets the same.
#
# valgrind slows the daemon some 50 times, so the default rate (1,000
# adverts/s) is one it keeps up with under callgrind. The output file is
# kept for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100}
SPREAD=${SPREAD:-0}
INTERVAL=${INTERVAL:-0.1}
WINDOW=${WINDOW:-20}
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=$PWD/target/release/rkeepalived
fi
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
P=rkprof_$$
SW=${P}s; A=${P}a
W=$(mktemp -d)
. scripts/lib/hosts.sh
ROLE=${ROLE:-master}
B=${P}b
lab_up "$W" "$SW" 10.95.0 "$A" "$B"
conf() { # priority
    printf 'global_defs {\n    vrrp_version 3\n}\n'
    for n in $(seq 1 "$N"); do
        int=$INTERVAL
        [ "$SPREAD" = 1 ] && int=$(awk -v i="$INTERVAL" -v k=$((n % 10)) 'BEGIN { printf "%.2f", i + k / 100 }')
        printf 'vrrp_instance VI_%s {\n    interface eth0\n    virtual_router_id %s\n    priority %s\n    advert_int %s\n    virtual_ipaddress {\n        10.95.%s.%s/32\n    }\n}\n' \
            "$n" "$n" "$1" "$int" $((n / 250 + 1)) $((n % 250 + 1))
    done
}
if [ "$ROLE" = backup ]; then
    conf 100 >"$W/b.conf"
    conf 50 >"$W/k.conf"
    TMPDIR=$W ip netns exec "$B" "$BIN" -n -l -G -f "$W/b.conf" -p "$W/b.pid" -r "$W/bv.pid" \
        --control-socket "$W/b.sock" --state-dir "$W/bst" >"$W/b.log" 2>&1 &
    sleep 2
else
    conf 100 >"$W/k.conf"
fi
# vgdb's pipes live in TMPDIR: callgrind_control needs the same one.
export TMPDIR=$W
ip netns exec "$A" env GLIBC_TUNABLES="${TUNABLES:-glibc.malloc.tcache_count=0}" valgrind --tool=callgrind --callgrind-out-file="$W/callgrind.out" "$BIN" -n -l -G \
    -f "$W/k.conf" -p "$W/k.pid" -r "$W/v.pid" --control-socket "$W/c.sock" --state-dir "$W/st" >"$W/log" 2>&1 &
sleep 10 # start-up under valgrind, every instance MASTER (or BACKUP under B)
ip netns exec "$SW" tcpdump -i p1 -s 64 -nn -w "$W/cap.pcap" 'ip proto 112' 2>"$W/tcpdump.err" &
cap=$!
sleep 0.5
callgrind_control -z >/dev/null
sleep "$WINDOW"
callgrind_control -d >/dev/null
sleep 0.5
kill -INT "$cap"; wait "$cap" || true
ir=$(sed -n 's/^summary: //p' "$W/callgrind.out.1")
adverts=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$W/tcpdump.err")
if [ -z "$ir" ] || [ -z "$adverts" ] || [ "$adverts" = 0 ]; then
    echo "no figures: instructions '$ir', adverts '$adverts'" >&2
    cat "$W/log" >&2
    exit 1
fi
# The capture runs 1 s longer than the counted window: scale it down.
counted=$(echo "$adverts * $WINDOW / ($WINDOW + 1)" | bc)
if [ "$ROLE" = backup ]; then
    masters=$(grep -c "Entering MASTER STATE" "$W/log" || true)
    [ "$masters" = 0 ] || echo "warning: A became MASTER $masters times: not a pure backup run" >&2
    echo "$N instances at advert_int $INTERVAL as backups, $WINDOW s counted: $ir instructions, about $counted adverts received"
else
    echo "$N instances at advert_int $INTERVAL, $WINDOW s counted: $ir instructions, about $counted adverts sent"
fi
echo "instructions per advert: $((ir / counted))"
cp "$W/callgrind.out.1" "/tmp/rkeepalived-callgrind.out"
echo "profile kept in /tmp/rkeepalived-callgrind.out (callgrind_annotate --inclusive=yes)"
