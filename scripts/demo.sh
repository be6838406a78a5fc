#!/bin/bash
# rkeepalived demo, as root on Debian 12 (Rust stable via rustup):
#
#   scripts/demo.sh        (as root)
#
# Builds rkeepalived, creates three hosts in network namespaces on a
# bridge (routers A and B, client C), starts rkeepalived on A (priority
# 100) and B (priority 90) with the VIP 10.10.0.100, shows who holds it,
# kills A, measures B's takeover, restarts A and shows it preempt, then
# removes everything it created. `--mysql` runs the dual-master MariaDB
# scenario instead (scripts/demo-mysql.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--mysql" ]; then
    exec scripts/demo-mysql.sh
fi
if [ "$(id -u)" != 0 ]; then
    echo "scripts/demo.sh: run as root (it creates network namespaces)" >&2
    exit 1
fi
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
command -v cargo >/dev/null || { echo "cargo not found: install Rust stable with rustup" >&2; exit 1; }
for tool in ip:iproute2 ping:iputils-ping bc:bc; do
    command -v "${tool%%:*}" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >/dev/null
done

echo "== building rkeepalived (release; the first build takes about 2 minutes on two cores)"
cargo build --release
BIN=$PWD/target/release/rkeepalived

P=rkdemo
SW=${P}_sw; A=${P}_a; B=${P}_b; C=${P}_c
VIP=10.10.0.100
WORK=$(mktemp -d)
. scripts/lib/hosts.sh
cleanup() {
    remove_hosts "$A" "$B" "$C" "$SW"
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup 2>/dev/null || true
WORK=$(mktemp -d)

step() { printf '\n== %s\n' "$*"; }
now() { date +%s.%N; }
holder() {
    for h in A B; do
        ns=${P}_$(echo $h | tr 'AB' 'ab')
        [[ "$(ip -n "$ns" -4 addr show eth0)" == *" $VIP/"* ]] && printf '%s ' "$h"
    done
    echo
}
mac_of_vip() { ip -n "$C" neigh show "$VIP" | awk '{print $5}'; }

step "creating hosts A (10.10.0.1), B (10.10.0.2) and client C (10.10.0.3) on a bridge"
make_hosts "$SW" 10.10.0 "$A" "$B" "$C"

conf() {
    cat <<CONF
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority $1
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass demo
    }
    virtual_ipaddress {
        $VIP/24
    }
}
CONF
}
conf 100 > "$WORK/a.conf"
conf 90 > "$WORK/b.conf"
start() { # host name, config
    local ns=$1 name=$2
    TMPDIR=$WORK ip netns exec "$ns" "$BIN" -n -l -G -f "$WORK/$name.conf" \
        -p "$WORK/$name.pid" -r "$WORK/$name.vrrp.pid" \
        --control-socket "$WORK/$name.sock" --state-dir "$WORK/$name.state" >>"$WORK/$name.log" 2>&1 &
    disown
}
wait_holder() { # expected holder, timeout seconds; prints elapsed
    local want=$1 limit=$2 t0 t
    t0=$(now)
    while :; do
        [ "$(holder)" = "$want " ] && break
        t=$(echo "$(now) - $t0" | bc)
        if [ "$(echo "$t > $limit" | bc)" = 1 ]; then echo "timeout waiting for $want (holders: $(holder))"; return 1; fi
        sleep 0.01
    done
    printf '%.3f\n' "$(echo "$(now) - $t0" | bc)"
}

step "starting rkeepalived on A (priority 100) and B (priority 90)"
start "$A" a
start "$B" b
t=$(wait_holder A 10)
echo "VIP $VIP is on: $(holder)(elected after ${t} s; RFC: 3 × 1 s + (256 − 100)/256 s = 3.609 s)"
ip netns exec "$C" ping -c 1 -W 1 "$VIP" >/dev/null && echo "client C reaches $VIP at MAC $(mac_of_vip) (A's eth0: $(ip -n "$A" link show eth0 | awk '/ether/{print $2}'))"

step "killing A's daemon with SIGKILL (no goodbye): B must take over"
t0=$(now)
kill -9 "$(cat "$WORK/a.pid")"
while [[ "$(ip -n "$B" -4 addr show eth0)" != *" $VIP/"* ]]; do sleep 0.005; done
t=$(printf '%.3f' "$(echo "$(now) - $t0" | bc)")
echo "B holds the VIP ${t} s after the kill (at most Master_Down_Interval = 3 + 166/256 = 3.648 s)"
ip -n "$A" addr del "$VIP/24" dev eth0 2>/dev/null || true
sleep 0.3
ip netns exec "$C" ping -c 1 -W 1 "$VIP" >/dev/null && echo "client C reaches $VIP at MAC $(mac_of_vip) (B's eth0: $(ip -n "$B" link show eth0 | awk '/ether/{print $2}'))"

step "restarting A: it preempts B (higher priority)"
start "$A" a
t=$(wait_holder A 10)
echo "VIP back on: $(holder)(${t} s after A started)"
grep -h "Master received advert" "$WORK/b.log" | tail -1 | sed 's/^/B logged: /'

step "graceful stop of A (SIGTERM): priority 0, B takes over after its skew time"
t0=$(now)
kill -TERM "$(cat "$WORK/a.pid")"
while [[ "$(ip -n "$B" -4 addr show eth0)" != *" $VIP/"* ]]; do sleep 0.005; done
t=$(printf '%.3f' "$(echo "$(now) - $t0" | bc)")
echo "B holds the VIP ${t} s after SIGTERM (RFC Skew_Time for 90: 0.648 s)"

step "cleaning up"
kill -TERM "$(cat "$WORK/b.pid")" 2>/dev/null || true
sleep 0.5
echo "done"
