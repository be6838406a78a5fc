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
# 4. Hard death (STEPS includes harddeath, after the others: it turns
#    semi-sync on, the example's mariadb-semisync.cnf with
#    rpl_semi_sync_master_timeout=10000): a writer through the VIP, then
#    A's host is cut off the switch and everything in it SIGKILLed: VIP on
#    B, B's first acknowledged write and acknowledged writes missing on B
#    (must be 0); A's host returns (mysqld, network, rkeepalived) and takes
#    the VIP back through the guard. Then once: B dies too while it
#    acknowledges writes only it has; A returns alone (what is missing on
#    A), then B (what is missing after).
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
STEPS=${STEPS:-cpu failover harddeath}
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

if [[ " $STEPS " == *" failover "* ]]; then
echo "== failover: SIGKILL of A's mysqld -> VIP on B, and -> a new client connection on B's server"
v2='s/^   advert_int 1/   advert_int 1/'
v3='s/^   advert_int 1/   version 3\n   advert_int 0.1/'
off='s/refuse_on_fault yes/refuse_on_fault no/'
failover "VRRPv2 advert_int 1" "$v2"
failover "VRRPv2 advert_int 1, refuse_on_fault no" "$v2;$off"
failover "VRRPv3 advert_int 0.1" "$v3"
failover "VRRPv3 advert_int 0.1, refuse_on_fault no" "$v3;$off"
fi

# A writer through the VIP, a new client per INSERT (3 s at most each: a
# write sent to a host that just died waits on TCP), recording "id time"
# of every acknowledged write in $WORK/acked until $WORK/stop exists.
writer() { # first id
    : > "$WORK/acked"
    ( k=$1
      while [ ! -e "$WORK/stop" ]; do
          k=$((k + 1))
          timeout 3 ip netns exec "$C" mysql --no-defaults --connect-timeout=1 -h"$VIP" -uapp -papppassword \
              -e "INSERT INTO hellodb.hd VALUES ($k)" 2>/dev/null && echo "$k $(now)" >> "$WORK/acked"
      done ) &
    WRITER=$!
}
writer_stop() { touch "$WORK/stop"; wait "$WRITER"; rm -f "$WORK/stop"; }
missing_on() { # a|b [after time]: acknowledged writes (since then) the server lacks
    local n=0 k
    for k in $(awk -v t="${2:-0}" '$2 > t {print $1}' "$WORK/acked"); do
        [ "$(sql "$1" "SELECT COUNT(*) FROM hellodb.hd WHERE id = $k")" = 1 ] || n=$((n + 1))
    done
    echo "$n"
}
# A host dies: cut off its switch port (no RST reaches anyone), every
# process in it SIGKILLed; its VIP, left on its dead link, is taken off so
# that holder() sees only live hosts.
host_dies() { # a|b
    local port; port=$([ "$1" = a ] && echo p1 || echo p2)
    ip -n "$SW" link set "$port" down
    ip netns pids "${P}_$1" | xargs -r kill -9
    ip -n "${P}_$1" addr del "$VIP/32" dev eth0 2>/dev/null || true
}
host_returns() { # a|b: mysqld recovers while still cut off, then the network and rkeepalived
    local port; port=$([ "$1" = a ] && echo p1 || echo p2)
    mariadb_start "$1"
    ip -n "$SW" link set "$port" up
    rk_start "$1"
}
semi_sync_on_a() {
    for _ in $(seq 300); do
        [ "$(sql a "SELECT GROUP_CONCAT(VARIABLE_VALUE ORDER BY VARIABLE_NAME) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('RPL_SEMI_SYNC_MASTER_CLIENTS', 'RPL_SEMI_SYNC_MASTER_STATUS')")" = "1,ON" ] && return 0
        sleep 0.1
    done
    echo "semi-sync on A did not come up" >&2; return 1
}
harddeath_trials() {
    # Both servers semi-synchronous as the example sets them, with the
    # timeout of sites that would rather wait than lose a write.
    local h pid
    for h in a b; do
        { grep -v '^#' "$EX/mariadb-semisync.cnf" | grep -v '^\['; echo "rpl_semi_sync_master_timeout=10000"; } >> "$WORK/$h/my.cnf"
        pid=$(cat "$WORK/$h/mysqld.pid"); sql "$h" "SHUTDOWN"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        mariadb_start "$h"
    done
    for h in a b; do sql "$h" "STOP SLAVE; START SLAVE"; done
    sql a "CREATE TABLE IF NOT EXISTS hellodb.hd (id int unsigned PRIMARY KEY)"
    rk_start a; rk_start b
    wait_holder A 30
    local vip=() first=() lost=() back=() trial=0 t t1 w
    for _ in $(seq "$TRIALS"); do
        trial=$((trial + 1))
        semi_sync_on_a
        writer $((trial * 1000000))
        sleep 2
        t=$(now)
        host_dies a
        wait_holder B 30
        vip+=("$(since "$t")")
        sleep 4
        writer_stop
        w=$(awk -v t="$t" '$2 > t {print $2; exit}' "$WORK/acked")
        first+=("$(echo "$w - $t" | bc)")
        lost+=("$(missing_on b)")
        t1=$(now)
        host_returns a
        wait_holder A 120
        back+=("$(since "$t1")")
        echo "  trial $trial: VIP on B ${vip[-1]} s, first write on B ${first[-1]} s after the death, ${lost[-1]} acknowledged writes missing on B; A back in ${back[-1]} s"
    done
    echo "${vip[*]}" | stats "hard death, semi-sync (timeout 10 s): VIP on B"
    echo "${first[*]}" | stats "hard death, semi-sync (timeout 10 s): first acknowledged write on B"
    echo "acknowledged writes missing on B, per trial: ${lost[*]}"
    echo "${back[*]}" | stats "A's return (mysqld recovery, rejoin, guarded handover)"

    echo "== the new master dies too, while it acknowledges writes that only it has"
    semi_sync_on_a
    writer 9000000
    sleep 2
    t=$(now)
    host_dies a
    wait_holder B 30
    sleep 3
    host_dies b
    writer_stop
    local acked_b; acked_b=$(awk -v t="$t" '$2 > t' "$WORK/acked" | wc -l)
    t1=$(now)
    host_returns a
    wait_holder A 60
    echo "A holds the VIP $(since "$t1") s after its host returns"
    echo "B acknowledged $acked_b writes after A's death; missing on A while B is down: $(missing_on a "$t")"
    host_returns b
    local n
    for _ in $(seq 60); do n=$(missing_on a "$t"); [ "$n" = 0 ] && break; sleep 1; done
    echo "after B's host returns: $n of them missing on A; missing on B: $(missing_on b)"
    kill "$(cat "$WORK/a.pid")" "$(cat "$WORK/b.pid")" 2>/dev/null || true
    sleep 1
}
if [[ " $STEPS " == *" harddeath "* ]]; then
    echo "== hard death of A's host under semi-sync: cut off and SIGKILLed, a writer through the VIP"
    harddeath_trials
fi
