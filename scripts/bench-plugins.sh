#!/bin/bash
# Per-check overhead of check plugins, isolated (helper process) against
# in-process, beside a vrrp_script doing the same work, as root:
#
#   scripts/bench-plugins.sh            # figures for docs/benchmarks.md
#   CHECKS=5000 scripts/bench-plugins.sh
#
# One rkeepalived in a network namespace tracks one check at interval 0.01
# (plugins/examples/check_pidfile.c on a live pid file); the CPU time of the
# daemon and its helper/script processes over CHECKS checks, from
# /proc/PID/task/*/schedstat (exact), per check.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
CHECKS=${CHECKS:-2000}
cargo build --release --quiet
BIN=$PWD/target/release/rkeepalived
NS=rkbplug_$$
W=$(mktemp -d)
cleanup() {
    ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
chmod 755 "$W"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add eth0 type veth peer name eth1
ip -n "$NS" link set eth0 up; ip -n "$NS" link set eth1 up
ip -n "$NS" addr add 10.96.0.1/24 dev eth0
cc -shared -fPIC -O2 -I plugins/include -o "$W/libcheck_pidfile.so" plugins/examples/check_pidfile.c
sleep 3600 & SVC=$!
echo "$SVC" > "$W/svc.pid"
# The same work as a script: the pid in the file is alive.
printf '#!/bin/sh\nkill -0 "$(cat %s)"\n' "$W/svc.pid" > "$W/chk.sh"; chmod 755 "$W/chk.sh"

cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'; }
# The daemon, its helpers, and (for scripts) the children that ran and were
# reaped: their time is in the daemon's cumulative children time, so use
# /proc/PID/stat cutime+cstime for those (10 ms ticks, many runs).
ns_cpu() {
    local s=0
    for p in $(ip netns pids "$NS"); do [ "$p" = "$SVC" ] || s=$((s + $(cpu_ns "$p"))); done
    echo "$s"
}
children_ns() { set -- $(cut -d' ' -f16,17 "/proc/$1/stat"); echo $(( ($1 + $2) * 10000000 )); }

run() { # label, check block
    cat > "$W/k.conf" <<C
$2
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 9
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.96.0.100/32
    }
    track_script {
        chk
    }
}
C
    TMPDIR=$W ip netns exec "$NS" "$BIN" -n -G -f "$W/k.conf" -p "$W/k.pid" -r "$W/v.pid" --control-socket "$W/k.sock" --state-dir "$W/state" >"$W/log" 2>&1 &
    for _ in $(seq 100); do [ -s "$W/k.pid" ] && break; sleep 0.05; done
    sleep 2
    local pid; pid=$(cat "$W/k.pid")
    local a0 c0 a1 c1
    a0=$(ns_cpu); c0=$(children_ns "$pid")
    sleep "$(echo "$CHECKS * 0.01" | bc)"
    a1=$(ns_cpu); c1=$(children_ns "$pid")
    kill "$pid"; sleep 0.5
    printf '%-32s %8.1f µs CPU per check\n' "$1" "$(echo "($a1 - $a0 + $c1 - $c0) / 1000 / $CHECKS" | bc -l)"
}

echo "== $CHECKS checks at interval 0.01 each (daemon + helper/children CPU)"
block() { printf 'check_plugin chk {\n    plugin %s\n    interval 0.01\n    timeout 1\n    isolate %s\n    config {\n        pidfile %s\n    }\n}\n' "$W/libcheck_pidfile.so" "$1" "$W/svc.pid"; }
run "plugin, in-process (isolate no)" "$(block no)"
run "plugin, isolated (isolate yes)" "$(block yes)"
run "vrrp_script (same check)" "$(printf 'vrrp_script chk {\n    script "%s"\n    interval 0.01\n    timeout 1\n}\n' "$W/chk.sh")"
kill "$SVC"
