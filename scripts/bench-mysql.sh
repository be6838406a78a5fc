#!/bin/bash
# check_mysql benchmarks, as root on Debian 12, in network namespaces with
# two MariaDB dual masters (scripts/lib/mysql-lab.sh):
#
#   scripts/bench-mysql.sh            # figures for docs/benchmarks.md
#   TRIALS=10 CHECKS=2000 ROUNDS=5 scripts/bench-mysql.sh
#
# 1. CPU per check, all run by the daemon at interval $IV (0.05): the
#    persistent-connection check_mysql (liveness, as the script; and with
#    require_replication) against the reference scenario's script (bash
#    spawning the `mysql` client) as a vrrp_script; server CPU per check
#    from mariadbd's schedstat. PERF=alive|repl|script records that
#    window's daemon with perf (to /tmp/rk-KIND.perf; skews its figures).
# 2. Failover: SIGKILL of A's mysqld -> VIP on B, and -> a new client's
#    connection on B's server (every 10 ms, --connect-timeout=1), at
#    advert_int 1 (VRRPv2) and at VRRPv3 advert_int 0.1, with the examples'
#    refuse_on_fault and without it; between trials A's mysqld restarts and
#    A takes the VIP back through the catch-up guard.
# 3. Switchover (STEPS=switchover): a writer through the VIP (a new client
#    per INSERT), then `rkeepalived switchover VI_1` on A: the writer's
#    longest wait between two acknowledged writes, and acknowledged writes
#    missing on B (must be 0); between trials `maintenance VI_1 off` brings
#    A back through the guard. keepalived has no switchover to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
TRIALS=${TRIALS:-5}
CHECKS=${CHECKS:-600}
IV=${IV:-0.05}
ROUNDS=${ROUNDS:-4}
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
echo "== CPU per check ($CHECKS checks each at interval $IV s, against A's server)"
# Both checks run by the daemon, one instance tracking each: check_mysql on
# its persistent connection, and the reference scenario's script
# (examples/dual-master/chk_mysql.sh: bash + the mysql client) as a
# vrrp_script, as keepalived runs it. Client CPU = the daemon's own
# (schedstat) plus its reaped children's (utime + stime, in clock ticks).
# Its stop command becomes a failure exit: nothing here touches the host.
mapped "$EX/chk_mysql.sh" | sed 's|/usr/bin/systemctl stop keepalived.service|exit 1|' > "$WORK/chk_mysql.sh"
chmod 755 "$WORK/chk_mysql.sh"
instance() { # the instance tracking check $1
    printf 'vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n priority 100\n advert_int 1\n'
    printf ' virtual_ipaddress {\n  10.10.0.200/32\n }\n track_script {\n  %s\n }\n}\n' "$1"
}
# The script checks liveness only (it reads variables); so does check_mysql
# by default ("alive"). "repl" adds require_replication: the variables and
# SHOW ALL SLAVES STATUS (~60 columns) every check, more than the script does.
mysql_conf() { # extra keyword line
    { printf 'check_mysql chk {\n host 10.10.0.1\n user chk\n password chkpassword\n'
      printf ' interval %s\n timeout 1\n%s}\n' "$IV" "$1"; instance chk; }
}
mysql_conf "" > "$WORK/cpu-alive.conf"
mysql_conf $' require_replication yes\n' > "$WORK/cpu-repl.conf"
{ printf 'vrrp_script chk {\n script "%s"\n interval %s\n timeout 1\n}\n' "$WORK/chk_mysql.sh" "$IV"
  instance chk; } > "$WORK/cpu-script.conf"
children_ticks() { awk '{print $16 + $17}' /proc/"$1"/stat; }
declare -A daemon_ms children_ms server_ms
window() { # key, config: one window of CHECKS/ROUNDS checks
    TMPDIR=$WORK ip netns exec "$A" "$BIN" -n -G -f "$2" -p "$WORK/cpu.pid" -r "$WORK/cpu.vpid" --control-socket "$WORK/cpu.sock" --state-dir "$WORK/state" >/dev/null 2>&1 &
    disown
    sleep 3
    local pid d0 d1 c0 c1 s0 s1 secs
    pid=$(cat "$WORK/cpu.pid")
    secs=$(echo "$CHECKS / $ROUNDS * $IV" | bc -l)
    d0=$(cpu_ns "$pid"); c0=$(children_ticks "$pid"); s0=$(cpu_ns "$(mysqld_pid)")
    if [ -n "${PERF:-}" ] && [ "$1" = "$PERF" ]; then
        perf record -F 20000 -g -o "/tmp/rk-$1.perf" -p "$pid" -- sleep "$secs" >/dev/null 2>&1
    else
        sleep "$secs"
    fi
    d1=$(cpu_ns "$pid"); c1=$(children_ticks "$pid"); s1=$(cpu_ns "$(mysqld_pid)")
    kill "$pid"; sleep 0.5
    daemon_ms[$1]=$(echo "${daemon_ms[$1]:-0} + ($d1 - $d0) / 1000000" | bc -l)
    children_ms[$1]=$(echo "${children_ms[$1]:-0} + ($c1 - $c0) * 1000 / $(getconf CLK_TCK)" | bc -l)
    server_ms[$1]=$(echo "${server_ms[$1]:-0} + ($s1 - $s0) / 1000000" | bc -l)
}
# Alternating windows: the machine's state drifts over minutes (the cost
# of waking from idle above all), and both sides see the same drift.
for _ in $(seq "$ROUNDS"); do
    for k in alive repl script; do window $k "$WORK/cpu-$k.conf"; done
done
declare -A labels=([alive]="check_mysql, liveness (the script's job)"
    [repl]="check_mysql, require_replication yes"
    [script]="the scenario's script as a vrrp_script")
for k in alive repl script; do
    label=${labels[$k]}
    printf '%s: client %.3f ms/check (daemon %.3f + children %.3f), server %.3f ms/check\n' "$label" \
        "$(echo "(${daemon_ms[$k]} + ${children_ms[$k]}) / $CHECKS" | bc -l)" \
        "$(echo "${daemon_ms[$k]} / $CHECKS" | bc -l)" "$(echo "${children_ms[$k]} / $CHECKS" | bc -l)" \
        "$(echo "${server_ms[$k]} / $CHECKS" | bc -l)"
done
for k in alive repl; do
    printf 'ratio, %s: %.0fx less client CPU per check\n' "${labels[$k]}" \
        "$(echo "(${daemon_ms[script]} + ${children_ms[script]}) / (${daemon_ms[$k]} + ${children_ms[$k]})" | bc -l)"
done
fi

# A new client as an application sees failover: connect through the VIP
# every 10 ms with a 1 s connect timeout until B's server (id 20) answers;
# prints the seconds since $1.
client_reaches_b() {
    until [ "$(ip netns exec "$C" mysql --no-defaults --connect-timeout=1 -h"$VIP" -uapp -papppassword -N -B \
        -e 'SELECT @@server_id' 2>/dev/null)" = 20 ]; do sleep 0.01; done
    since "$1"
}
stats() { # label: min / median / max of the numbers on stdin
    LABEL=$1 python3 -c "import os,sys,statistics as s; v=[float(x) for x in sys.stdin.read().split()]; print(f'{os.environ[\"LABEL\"]}: min {min(v):.3f}  median {s.median(v):.3f}  max {max(v):.3f} s  (n={len(v)})')"
}
failover() { # label, sed expression for the instances
    local label=$1 expr=$2 t
    for h in a b; do sed -e "$expr" "$EX/host-$h-check_mysql.conf" > "$WORK/$h-bench.conf"; done
    rk_start a "$WORK/a-bench.conf"; rk_start b "$WORK/b-bench.conf"
    wait_holder A 20
    local vip=() client=()
    for _ in $(seq "$TRIALS"); do
        sleep 1
        t=$(now)
        kill -9 "$(mysqld_pid)"
        client_reaches_b "$t" > "$WORK/client.t" &
        wait_holder B 20
        vip+=("$(since "$t")")
        wait
        client+=("$(cat "$WORK/client.t")")
        mariadb_start a
        wait_holder A 120
    done
    kill "$(cat "$WORK/a.pid")" "$(cat "$WORK/b.pid")"
    sleep 1
    echo "${vip[*]}" | stats "$label: VIP on B"
    echo "${client[*]}" | stats "$label: a new client on B's server"
}
switchover_trials() {
    local gaps=() lost=() trial=0
    sql a "CREATE TABLE IF NOT EXISTS hellodb.sw (id int unsigned PRIMARY KEY)"
    rk_start a; rk_start b
    wait_holder A 20
    for _ in $(seq "$TRIALS"); do
        sleep 1
        trial=$((trial + 1))
        : > "$WORK/acked"
        ( k=$((trial * 1000000))
          while [ ! -e "$WORK/stop" ]; do
              k=$((k + 1))
              client "INSERT INTO hellodb.sw VALUES ($k)" 2>/dev/null && echo "$k $(now)" >> "$WORK/acked"
          done ) &
        local writer=$!
        sleep 2
        ip netns exec "$A" "$BIN" --control-socket "$WORK/a.sock" switchover VI_1 >/dev/null
        wait_holder B 20
        sleep 2
        touch "$WORK/stop"; wait "$writer"; rm -f "$WORK/stop"
        gaps+=("$(awk 'NR > 1 && $2 - t > g {g = $2 - t} {t = $2} END {printf "%.3f", g}' "$WORK/acked")")
        sleep 1
        local missing=0
        for k in $(awk '{print $1}' "$WORK/acked"); do
            [ "$(sql b "SELECT COUNT(*) FROM hellodb.sw WHERE id = $k")" = 1 ] || missing=$((missing + 1))
        done
        lost+=("$missing")
        echo "  trial: $(wc -l < "$WORK/acked") acknowledged writes, longest wait ${gaps[-1]} s, $missing missing on B"
        ip netns exec "$A" "$BIN" --control-socket "$WORK/a.sock" maintenance VI_1 off >/dev/null
        wait_holder A 120
    done
    kill "$(cat "$WORK/a.pid")" "$(cat "$WORK/b.pid")"
    sleep 1
    echo "${gaps[*]}" | stats "switchover, VRRPv2 advert_int 1: the writer's longest wait"
    echo "acknowledged writes missing on B, per trial: ${lost[*]}"
}
if [[ " $STEPS " == *" switchover "* ]]; then
    echo "== switchover: rkeepalived switchover VI_1 on A under a writer through the VIP"
    switchover_trials
fi

[[ " $STEPS " == *" failover "* ]] || exit 0
echo "== failover: SIGKILL of A's mysqld -> VIP on B, and -> a new client connection on B's server"
v2='s/^   advert_int 1/   advert_int 1/'
v3='s/^   advert_int 1/   version 3\n   advert_int 0.1/'
off='s/refuse_on_fault yes/refuse_on_fault no/'
failover "VRRPv2 advert_int 1" "$v2"
failover "VRRPv2 advert_int 1, refuse_on_fault no" "$v2;$off"
failover "VRRPv3 advert_int 0.1" "$v3"
failover "VRRPv3 advert_int 0.1, refuse_on_fault no" "$v3;$off"
