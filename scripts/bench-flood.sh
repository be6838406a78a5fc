#!/bin/bash
# Hostile traffic on the LAN, rkeepalived and Debian's keepalived 2.2.7 each
# in turn, as root: a pair (A at 100, B at 90, VRRPv2 at advert_int 1) while
# a third host floods the LAN at RATE packets/s for SECONDS with adverts
# for the pair's VRID that each break one receive rule (scripts/flood.py,
# priority 254). Per implementation: the master's longest gap between its
# adverts (captured at its switch port), whether the backup took over, what
# each daemon counted, and how many lines each logged (keepalived's log
# goes to a file, as rkeepalived's does). The master's adverts are captured
# from 1 s before the flood to 1.5 s after it.
#
#   scripts/bench-flood.sh
#   RATE=10000 SECONDS_=10 IMPLS="rk ka" scripts/bench-flood.sh
#   KINDS=interval,address_list IMPLS=ka scripts/bench-flood.sh   # some kinds only
#
# keepalived writes its statistics (SIGUSR2) to /tmp/keepalived.stats; it
# runs in a mount namespace of its own with a private /tmp, so nothing of
# it lands in the machine's /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/bench-flood.sh: run as root (network namespaces)" >&2; exit 1; }
RATE=${RATE:-10000}
SECONDS_=${SECONDS_:-10}
IMPLS=${IMPLS:-"rk ka"}
KINDS=${KINDS:-ttl,version,checksum,type,auth_type,auth_mismatch,interval,address_list,length}
cargo build --release --quiet
RK=$PWD/target/release/rkeepalived
P=rkflood_$$
SW=${P}s; A=${P}a; B=${P}b; C=${P}c
VIP=10.96.0.100
# Not under /tmp: keepalived gets a private /tmp of its own.
W=$(mktemp -d /var/tmp/rkflood.XXXXXX)
. scripts/lib/hosts.sh
lab_up "$W" "$SW" 10.96.0 "$A" "$B" "$C"

conf() { # priority
    cat <<C
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority $1
    advert_int 1
    virtual_ipaddress {
        $VIP/24
    }
}
C
}
start() { # impl ns name priority
    local impl=$1 ns=$2 name=$3
    conf "$4" >"$W/$name.conf"
    mkdir -p "$W/$name.tmp"
    rm -f "$W/$name.pid"
    if [ "$impl" = rk ]; then
        TMPDIR=$W/$name.tmp ip netns exec "$ns" "$RK" -n -l -D -G -f "$W/$name.conf" -p "$W/$name.pid" \
            -r "$W/$name.vrrp.pid" --control-socket "$W/$name.sock" --state-dir "$W/$name.state" >"$W/$name.log" 2>&1 &
    else
        ip netns exec "$ns" unshare -m sh -c "mount -t tmpfs tmpfs /tmp && exec keepalived -n -l -D -G -P \
            -f $W/$name.conf -p $W/$name.pid -r $W/$name.vrrp.pid" >"$W/$name.log" 2>&1 &
    fi
    disown
    for _ in $(seq 100); do [ -s "$W/$name.pid" ] && return; sleep 0.05; done
    echo "the daemon $name did not start" >&2
    exit 1
}
stop_all() {
    for h in "$A" "$B"; do ip netns pids "$h" | xargs -r kill 2>/dev/null || true; done
    sleep 1.5
    for h in "$A" "$B"; do
        ip netns pids "$h" | xargs -r kill -9 2>/dev/null || true
        ip -n "$h" addr del "$VIP/24" dev eth0 2>/dev/null || true
    done
}
holder() {
    local out=""
    [[ "$(ip -n "$A" -4 addr show eth0)" == *" $VIP/"* ]] && out+="A"
    [[ "$(ip -n "$B" -4 addr show eth0)" == *" $VIP/"* ]] && out+="B"
    echo "${out:-nobody}"
}
counted() { # impl name: what the daemon counted, by reason
    if [ "$1" = rk ]; then
        "$RK" status --json --control-socket "$W/$2.sock" |
            python3 -c 'import json,sys; d=json.load(sys.stdin)["instances"][0]["adverts"]["drops"]; print(" ".join(f"{k}={v}" for k,v in d.items() if v))'
    else
        local pid; pid=$(cat "$W/$2.vrrp.pid")
        kill -USR2 "$(cat "$W/$2.pid")"
        sleep 1
        nsenter -t "$pid" -m cat /tmp/keepalived.stats |
            awk '/Packet Errors|Authentication Errors|Advertisements:|Priority Zero/{sect=$1} /:[ ]*[0-9]+$/{n=$NF; sub(/:.*/,""); gsub(/^ +/,""); if (n>0) printf "%s/%s=%s ", sect, $0, n} END{print ""}'
    fi
}

echo "== a flood of $RATE bad adverts/s for $SECONDS_ s (nine kinds in turn, priority 254) against a pair at advert_int 1"
for impl in $IMPLS; do
    stop_all
    start "$impl" "$A" a 100
    start "$impl" "$B" b 90
    for _ in $(seq 100); do [ "$(holder)" = A ] && break; sleep 0.1; done
    [ "$(holder)" = A ] || { echo "$impl: A did not become master" >&2; exit 1; }
    sleep 2
    lines_a=$(wc -l <"$W/a.log"); lines_b=$(wc -l <"$W/b.log")
    ip netns exec "$SW" tcpdump -i p1 -U -w "$W/a.pcap" "ip proto 112 and src 10.96.0.1" >/dev/null 2>"$W/tcpdump.err" &
    tcpdump=$!
    sleep 1
    sent=$(ip netns exec "$C" python3 scripts/flood.py --src 10.96.0.3 --vip "$VIP" --rate "$RATE" --seconds "$SECONDS_" --kinds "$KINDS")
    sleep 1.5
    kill "$tcpdump"; wait "$tcpdump" 2>/dev/null || true
    gap=$(tcpdump -tt -r "$W/a.pcap" 2>/dev/null | awk '{t=$1} NR>1{g=t-p; if (g>m) m=g} {p=t} END{printf "%.4f s over %d adverts", m, NR}')
    took=$(tail -n +"$((lines_b + 1))" "$W/b.log" | grep -c "Entering MASTER STATE" || true)
    logged_a=$(($(wc -l <"$W/a.log") - lines_a)); logged_b=$(($(wc -l <"$W/b.log") - lines_b))
    echo "-- $impl: sent $(echo "$sent" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(d["sent"].values()), "in", d["seconds"], "s")')"
    echo "   master's longest advert gap: $gap; backup took over: $took times; VIP on $(holder)"
    echo "   lines logged during the flood: A $logged_a, B $logged_b"
    echo "   B's most frequent lines (numbers as N):"
    tail -n +"$((lines_b + 1))" "$W/b.log" | sed -E 's/^.{0,40}(rkeepalived|Keepalived_vrrp)[^ ]*: //; s/[0-9]+/N/g' |
        sort | uniq -c | sort -rn | head -6 | sed 's/^/     /'
    echo "   A counted: $(counted "$impl" a)"
    echo "   B counted: $(counted "$impl" b)"
done
stop_all
