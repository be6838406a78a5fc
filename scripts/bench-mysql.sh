#!/bin/bash
# check_mysql benchmarks, as root on Debian 12, in network namespaces with
# two MariaDB dual masters (scripts/lib/mysql-lab.sh):
#
#   scripts/bench-mysql.sh            # figures for the README
#   TRIALS=10 CHECKS=1000 scripts/bench-mysql.sh
#
# 1. CPU per check: rkeepalived's persistent-connection probe (the daemon's
#    own CPU while it probes at interval 0.05) against the reference
#    scenario's way, `sh -c` spawning the `mysql` client per check (the
#    children's CPU); server CPU per check from mariadbd's /proc stat.
# 2. Failover: SIGKILL of A's mysqld -> VIP on B, at advert_int 1 (VRRPv2)
#    and at VRRPv3 advert_int 0.1; between trials A's mysqld restarts and A
#    takes the VIP back through the catch-up guard.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
TRIALS=${TRIALS:-5}
CHECKS=${CHECKS:-600}
STEPS=${STEPS:-cpu failover}
P=rkbmy$$
. scripts/lib/mysql-lab.sh
mysql_lab_up >/dev/null

# CPU time in ns of all threads of a process (schedstat: exact, unlike
# the 10 ms ticks of /proc/PID/stat).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%d", s}'; }
daemon_ns() { local s=0; for p in $(ip netns pids "$A"); do [ "$(cat /proc/$p/comm)" = rkeepalived ] && s=$((s + $(cpu_ns $p))); done; echo $s; }
mysqld_pid() { cat "$WORK/a/mysqld.pid"; }

if [[ " $STEPS " == *" cpu "* ]]; then
echo "== CPU per check ($CHECKS checks each, against A's server)"
# Persistent: a probe at interval 0.05 tracked by one instance.
cat > "$WORK/cpu.conf" <<EOF
check_mysql chk {
    host 10.10.0.1
    user chk
    password chkpassword
    interval 0.05
    timeout 1
    require_replication yes
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 7
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.10.0.200/32
    }
    track_script {
        chk
    }
}
EOF
TMPDIR=$WORK ip netns exec "$A" "$BIN" -n -G -f "$WORK/cpu.conf" -p "$WORK/cpu.pid" -r "$WORK/cpu.vpid" >/dev/null 2>&1 &
disown
sleep 3
secs=$(echo "$CHECKS * 0.05" | bc)
d0=$(daemon_ns); s0=$(cpu_ns "$(mysqld_pid)")
if [ -n "${PERF:-}" ]; then
    perf record -F 20000 -g -o /tmp/rk-mysql.perf -p "$(cat "$WORK/cpu.pid")" -- sleep "$secs" >/dev/null 2>&1
else
    sleep "$secs"
fi
d1=$(daemon_ns); s1=$(cpu_ns "$(mysqld_pid)")
kill "$(cat "$WORK/cpu.pid")"; sleep 0.5
printf 'persistent connection: client %.3f ms/check, server %.3f ms/check (incl. VRRP at 1 advert/s)\n' \
    "$(echo "($d1 - $d0) / 1000000 / $CHECKS" | bc -l)" "$(echo "($s1 - $s0) / 1000000 / $CHECKS" | bc -l)"
# Spawned: the scenario's command line through sh -c, as keepalived runs it.
s0=$(cpu_ns "$(mysqld_pid)")
ip netns exec "$A" python3 - "$CHECKS" <<'PY'
import resource, subprocess, sys
n = int(sys.argv[1])
cmd = "/usr/bin/mysql -h10.10.0.1 -uchk -pchkpassword -P3306 -e \"show global variables like '%gtid%'\" >/dev/null 2>&1"
for _ in range(n):
    subprocess.run(["/bin/sh", "-c", cmd])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"spawned mysql client: client {(r.ru_utime + r.ru_stime) * 1000 / n:.3f} ms/check", end="")
PY
s1=$(cpu_ns "$(mysqld_pid)")
printf ', server %.3f ms/check\n' "$(echo "($s1 - $s0) / 1000000 / $CHECKS" | bc -l)"
fi

failover() { # label, sed expression for the instances
    local label=$1 expr=$2 t
    for h in a b; do sed -e "$expr" "$EX/host-$h-check_mysql.conf" > "$WORK/$h-bench.conf"; done
    rk_start a "$WORK/a-bench.conf"; rk_start b "$WORK/b-bench.conf"
    wait_holder A 20
    local out=()
    for _ in $(seq "$TRIALS"); do
        sleep 1
        t=$(now)
        kill -9 "$(mysqld_pid)"
        wait_holder B 20
        out+=("$(since "$t")")
        mariadb_start a
        wait_holder A 120
    done
    kill "$(cat "$WORK/a.pid")" "$(cat "$WORK/b.pid")"
    sleep 1
    echo "${out[*]}" | python3 -c "import sys,statistics as s; v=[float(x) for x in sys.stdin.read().split()]; print(f'$label: min {min(v):.3f}  median {s.median(v):.3f}  max {max(v):.3f} s  (n={len(v)})')"
}
[[ " $STEPS " == *" failover "* ]] || exit 0
echo "== failover: SIGKILL of A's mysqld -> VIP on B"
failover "VRRPv2 advert_int 1" 's/^   advert_int 1/   advert_int 1/'
failover "VRRPv3 advert_int 0.1" 's/^   advert_int 1/   version 3\n   advert_int 0.1/'
