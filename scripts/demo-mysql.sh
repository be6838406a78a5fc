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
# each step. Installs mariadb-server when missing; removes everything it
# created.
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

echo "== building rkeepalived (release)"
cargo build --release --quiet
BIN=$PWD/target/release/rkeepalived
EX=$PWD/examples/dual-master

P=rkdemo
SW=${P}_sw; A=${P}_a; B=${P}_b; C=${P}_c
VIP=10.10.0.100
WORK=$(mktemp -d)
cleanup() {
    for h in "$A" "$B" "$C" "$SW"; do
        ip netns pids "$h" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$h" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
for h in "$A" "$B" "$C" "$SW"; do ip netns del "$h" 2>/dev/null || true; done

step() { printf '\n== %s\n' "$*"; }
now() { date +%s.%N; }
since() { printf '%.3f' "$(echo "$(now) - $1" | bc)"; }
holder() {
    local out=""
    [[ "$(ip -n "$A" -4 addr show eth0)" == *" $VIP/"* ]] && out+="A"
    [[ "$(ip -n "$B" -4 addr show eth0)" == *" $VIP/"* ]] && out+="B"
    echo "${out:-nobody}"
}
wait_holder() { # who, limit (s)
    local t0; t0=$(now)
    until [ "$(holder)" = "$1" ]; do
        [ "$(echo "$(now) - $t0 > $2" | bc)" = 1 ] && { echo "timeout: VIP on $(holder)" >&2; return 1; }
        sleep 0.01
    done
}
# The examples, with the scenario's addresses mapped onto the demo's.
mapped() {
    sed -e 's/172\.16\.10\.30/10.10.0.1/g' -e 's/172\.16\.10\.40/10.10.0.2/g' \
        -e 's/172\.16\.10\.100/10.10.0.100/g' -e 's/172\.16\.10\.%/10.10.0.%/g' -e 's/ens32/eth0/g' "$1"
}
sql() { # host(a|b) sql: as root on that server
    ip netns exec "${P}_$1" mysql --no-defaults -uroot --socket="$WORK/$1/mysqld.sock" -N -B -e "$2"
}
client() { # sql through the VIP as the application user
    ip netns exec "$C" mysql --no-defaults --connect-timeout=2 -h"$VIP" -uapp -papppassword -N -B -e "$1"
}

step "hosts A (10.10.0.1), B (10.10.0.2), client C (10.10.0.3) on a bridge"
ip netns add "$SW"
ip -n "$SW" link add br0 type bridge forward_delay 0
ip -n "$SW" link set br0 up
i=1
for h in "$A" "$B" "$C"; do
    ip netns add "$h"
    ip -n "$SW" link add "p$i" type veth peer name eth0 netns "$h"
    ip -n "$SW" link set "p$i" master br0 up
    ip -n "$h" link set lo up
    ip -n "$h" addr add "10.10.0.$i/24" dev eth0
    ip -n "$h" link set eth0 up
    i=$((i + 1))
done

step "MariaDB on A (server-id 10, domain 1) and B (server-id 20, domain 2)"
mariadb_start() { # a|b
    ip netns exec "${P}_$1" /usr/sbin/mariadbd --defaults-file="$WORK/$1/my.cnf" >/dev/null 2>&1 &
    disown
    for _ in $(seq 600); do sql "$1" "SELECT 1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "mariadbd on $1 did not start" >&2; return 1
}
for h in a b; do
    id=$([ $h = a ] && echo 10 || echo 20)
    mkdir -p "$WORK/$h/data"
    {
        echo "[mysqld]"
        echo "datadir=$WORK/$h/data"; echo "socket=$WORK/$h/mysqld.sock"; echo "pid-file=$WORK/$h/mysqld.pid"
        echo "log-error=$WORK/$h/error.log"; echo "user=root"; echo "bind-address=0.0.0.0"; echo "port=3306"
        echo "innodb_buffer_pool_size=64M"
        # The scenario's settings...
        printf 'skip_name_resolve=ON\nrelay_log=mysql-relaylog\nrelay_log_purge=OFF\ninnodb_file_per_table=ON\n'
        printf 'binlog_format=ROW\nlog_bin=mysql-binlog\nlog_slave_updates=ON\ngtid_strict_mode=ON\n'
        # ...and what check_mysql needs (the example file, per host).
        grep -v '^\[' "$EX/mariadb-check_mysql.cnf" | grep -v '^#' | sed \
            -e "s/^server-id=.*/server-id=$id/" -e "s/^gtid_domain_id=.*/gtid_domain_id=$((id / 10))/" \
            -e "s/^auto_increment_offset=.*/auto_increment_offset=$((id / 10))/"
    } > "$WORK/$h/my.cnf"
    mariadb-install-db --defaults-file="$WORK/$h/my.cnf" --user=root --skip-test-db >/dev/null 2>&1
    mariadb_start $h
done
sql a "GRANT REPLICATION SLAVE ON *.* TO 'bak'@'10.10.0.%' IDENTIFIED BY 'bakpassword';
       CREATE DATABASE hellodb;
       CREATE TABLE hellodb.students (StuID int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, Name varchar(50) NOT NULL, Age tinyint unsigned NOT NULL);
       INSERT INTO hellodb.students (Name, Age) VALUES ('Shi Zhongyu',22),('Xie Yanke',53),('Ding Dian',32);"
for pair in "b 10.10.0.1" "a 10.10.0.2"; do
    set -- $pair
    sql "$1" "CHANGE MASTER TO master_host='$2', master_port=3306, master_user='bak', master_password='bakpassword', master_use_gtid=current_pos; START SLAVE;"
done
mapped "$EX/grants-check_mysql.sql" | ip netns exec "$A" mysql --no-defaults -uroot --socket="$WORK/a/mysqld.sock"
for _ in $(seq 100); do [ "$(sql b "SELECT COUNT(*) FROM mysql.user WHERE user='app'")" = 1 ] && break; sleep 0.1; done
echo "dual masters replicating; probe account 'chk' with the example's grants; application account 'app'"

step "rkeepalived on A (priority 100) and B (priority 90, nopreempt) with check_mysql"
rk_start() { # a|b
    mapped "$EX/host-$1-check_mysql.conf" > "$WORK/$1.conf"
    TMPDIR=$WORK/$1 ip netns exec "${P}_$1" "$BIN" -n -l -G -f "$WORK/$1.conf" \
        -p "$WORK/$1.pid" -r "$WORK/$1.vrrp.pid" >>"$WORK/$1.log" 2>&1 &
    disown
}
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

step "cleaning up"
