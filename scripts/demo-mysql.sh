#!/bin/bash
# The reference scenario with rkeepalived's built-in MySQL probe, as root on
# Debian 12 (run through `scripts/demo.sh --mysql`):
#
# Creates hosts A (10.10.0.1), B (10.10.0.2) and client C (10.10.0.3) in
# network namespaces on a bridge, runs MariaDB on A and B as GTID dual
# masters (the scenario's settings plus examples/dual-master/
# mariadb-check_mysql.cnf), starts rkeepalived on both with
# examples/dual-master/host-{a,b}-check_mysql.conf, and from C, always
# through the VIP 10.10.0.100: writes (A answers), kills A's mysqld (B
# answers), writes a backlog on B, restarts A's mysqld and shows that A
# takes the VIP back only once it has every transaction — with the time of
# each step; then cuts A off the switch while the client writes on B, heals
# it, and counts the stale reads through the VIP (none: A gives way until it
# has B's writes); last, a planned switchover to B under a writer (no write
# lost, the writer's longest wait). Installs mariadb-server when missing; removes everything
# it created.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "scripts/demo.sh --mysql: run as root (network namespaces, MariaDB)" >&2
    exit 1
fi
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
command -v cargo >/dev/null || { echo "cargo not found: install Rust stable with rustup" >&2; exit 1; }
need=()
for p in mariadb-server mariadb-client iproute2 bc; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

P=rkdemo
. scripts/lib/mysql-lab.sh
mysql_lab_up

step "rkeepalived on A (priority 100) and B (priority 90, nopreempt) with check_mysql"
t0=$(now); rk_start a; rk_start b
wait_holder A 10
echo "VIP on $(holder) after $(since "$t0") s"
echo "read_only: A=$(sql a 'SELECT @@read_only') B=$(sql b 'SELECT @@read_only')   (fencing: only the master is writable)"
client "INSERT INTO hellodb.students (Name, Age) VALUES ('written via the VIP', 20)"
echo "a write through the VIP -> A's gtid_binlog_pos: $(sql a 'SELECT @@gtid_binlog_pos')  (1-10-N: A wrote it)"
if out=$(ip netns exec "$C" mysql --no-defaults -h10.10.0.2 -uapp -papppassword -e "INSERT INTO hellodb.students (Name, Age) VALUES ('x', 1)" 2>&1); then
    echo "unexpected: B accepted a write"
else
    echo "a write straight to B is refused: ${out##*: }"
fi

step "killing A's mysqld (SIGKILL)"
t0=$(now)
kill -9 "$(cat "$WORK/a/mysqld.pid")"
wait_holder B 10
echo "VIP on B $(since "$t0") s after the kill (the script-based scenario: up to 10 s)"
client "INSERT INTO hellodb.students (Name, Age) VALUES ('written while A is down', 20)"
echo "a write through the VIP -> B's gtid_binlog_pos: $(sql b 'SELECT @@gtid_binlog_pos')  (2-20-N: B wrote it)"

step "a backlog of 3,000 transactions written on B while A is down"
t0=$(now)
for i in $(seq 3000); do echo "INSERT INTO hellodb.students (Name, Age) VALUES ('backlog $i', 30);"; done \
    | ip netns exec "$C" mysql --no-defaults -h"$VIP" -uapp -papppassword
echo "done in $(since "$t0") s; B has $(sql b 'SELECT COUNT(*) FROM hellodb.students') rows"

step "starting A's mysqld again (A's rkeepalived was never restarted)"
t0=$(now)
mariadb_start a
echo "A's mysqld answers after $(since "$t0") s; A has $(sql a 'SELECT COUNT(*) FROM hellodb.students') rows so far"
wait_holder A 120
echo "VIP back on A $(since "$t0") s after the restart, with $(sql a 'SELECT COUNT(*) FROM hellodb.students') rows (B: $(sql b 'SELECT COUNT(*) FROM hellodb.students'))"
grep -hE "holding preemption|peer frozen|releasing preemption" "$WORK/a.log" | sed 's/^[^ ]* /A logged: /' | tail -4
t0=$(now)
client "INSERT INTO hellodb.students (Name, Age) VALUES ('written after failback', 20)"
for _ in $(seq 900); do
    [ "$(sql a 'CHECKSUM TABLE hellodb.students' | awk '{print $2}')" = "$(sql b 'CHECKSUM TABLE hellodb.students' | awk '{print $2}')" ] && break
    sleep 0.1
done
echo "a write through the VIP after failback reached B in $(since "$t0") s (B's link from A was restarted by the probe, not left to master_connect_retry)"
echo "checksums: A $(sql a 'CHECKSUM TABLE hellodb.students' | awk '{print $2}')  B $(sql b 'CHECKSUM TABLE hellodb.students' | awk '{print $2}')"
echo "read_only: A=$(sql a 'SELECT @@read_only') B=$(sql b 'SELECT @@read_only')"

step "cutting A off the switch (A and its mysqld stay up); the client writes through the VIP"
t0=$(now)
ip -n "$SW" link set p1 nomaster
until [[ "$(ip -n "$B" -4 addr show eth0)" == *" $VIP/"* ]]; do sleep 0.01; done
echo "B holds the VIP $(since "$t0") s after the cut; A, cut off without a witness, still holds it too"
for i in $(seq 100); do echo "INSERT INTO hellodb.students (Name, Age) VALUES ('partition $i', 40);"; done \
    | ip netns exec "$C" mysql --no-defaults --connect-timeout=2 -h"$VIP" -uapp -papppassword
echo "100 writes through the VIP landed on B; A's server has $(sql a "SELECT COUNT(*) FROM hellodb.students WHERE Name LIKE 'partition %'") of them"

step "healing the partition: A (priority 100) meets B's live master; the client reads through the VIP"
t0=$(now)
ip -n "$SW" link set p1 master br0
reads=0; stale=0; servers=""
while [ "$(echo "$(now) - $t0 < 8" | bc)" = 1 ]; do
    if out=$(client "SELECT @@server_id, COUNT(*) FROM hellodb.students WHERE Name LIKE 'partition %'" 2>/dev/null); then
        read -r id n <<<"$out"
        reads=$((reads + 1)); [ "$n" -lt 100 ] && stale=$((stale + 1))
        [[ " $servers " == *" $id "* ]] || servers="$servers $id"
    fi
    sleep 0.05
done
echo "$reads reads through the VIP in the 8 s after the heal: $stale stale (each saw all 100 writes), from server(s)$servers"
{ grep -hE "giving way|staying MASTER" "$WORK/a.log" "$WORK/b.log" || true; } | sed 's/^[^ ]* /logged: /' | tail -2
wait_holder A 60
echo "VIP back on A $(since "$t0") s after the heal, through the guard: A has $(sql a "SELECT COUNT(*) FROM hellodb.students WHERE Name LIKE 'partition %'") of the 100"

step "planned switchover: rkeepalived switchover VI_1 on A while the client writes through the VIP"
: > "$WORK/acked"
( k=0
  while [ ! -e "$WORK/stop" ]; do
      k=$((k + 1))
      client "INSERT INTO hellodb.students (Name, Age) VALUES ('switch $k', 30)" 2>/dev/null && echo "$k $(now)" >> "$WORK/acked"
  done ) &
writer=$!
sleep 2
t0=$(now)
ip netns exec "$A" "$BIN" --control-socket "$WORK/a.sock" switchover VI_1 | sed 's/^/rkeepalived: /'
wait_holder B 20
echo "VIP on B $(since "$t0") s after the command"
sleep 2; touch "$WORK/stop"; wait "$writer"; sleep 1
echo "$(wc -l < "$WORK/acked") writes acknowledged through the VIP; on B: $(sql b "SELECT COUNT(*) FROM hellodb.students WHERE Name LIKE 'switch %'"); the writer's longest wait: $(awk 'NR > 1 && $2 - t > g {g = $2 - t} {t = $2} END {printf "%.3f", g}' "$WORK/acked") s"
echo "checksums: A $(sql a 'CHECKSUM TABLE hellodb.students' | awk '{print $2}')  B $(sql b 'CHECKSUM TABLE hellodb.students' | awk '{print $2}')"
echo "A is in maintenance (BACKUP, read_only=$(sql a 'SELECT @@read_only')) until 'rkeepalived maintenance VI_1 off'"

step "cleaning up"
