# Shared by scripts/demo-mysql.sh and scripts/bench-mysql.sh: hosts A
# (10.10.0.1), B (10.10.0.2) and client C (10.10.0.3) in network namespaces
# named after $P on a bridge, MariaDB on A and B as GTID dual masters (the
# reference scenario's settings plus examples/dual-master/
# mariadb-check_mysql.cnf and its grants), and rkeepalived started from the
# examples' check_mysql configs. Source it, then call mysql_lab_up.
# shellcheck shell=bash

echo "== building rkeepalived (release; the first build takes about 2 minutes on two cores)"
cargo build --release
BIN=$PWD/target/release/rkeepalived
EX=$PWD/examples/dual-master


SW=${P}_sw; A=${P}_a; B=${P}_b; C=${P}_c
VIP=10.10.0.100
WORK=$(mktemp -d)
. scripts/lib/hosts.sh
cleanup() {
    remove_hosts "$A" "$B" "$C" "$SW"
    rm -rf "$WORK"
}
trap cleanup EXIT
remove_hosts "$A" "$B" "$C" "$SW"

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

mysql_lab_up() {
step "hosts A (10.10.0.1), B (10.10.0.2), client C (10.10.0.3) on a bridge"
make_hosts "$SW" 10.10.0 "$A" "$B" "$C"

step "MariaDB on A (server-id 10, domain 1) and B (server-id 20, domain 2)"
mariadb_setup
}
mariadb_start() { # a|b
    ip netns exec "${P}_$1" /usr/sbin/mariadbd --defaults-file="$WORK/$1/my.cnf" >/dev/null 2>&1 &
    disown
    for _ in $(seq 600); do sql "$1" "SELECT 1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "mariadbd on $1 did not start" >&2; return 1
}
mariadb_setup() {
for h in a b; do
    id=$([ $h = a ] && echo 10 || echo 20)
    mkdir -p "$WORK/$h/data" "$WORK/$h/tmp"
    {
        echo "[mysqld]"
        echo "datadir=$WORK/$h/data"; echo "socket=$WORK/$h/mysqld.sock"; echo "pid-file=$WORK/$h/mysqld.pid"
        echo "log-error=$WORK/$h/error.log"; echo "tmpdir=$WORK/$h/tmp"; echo "user=root"; echo "bind-address=0.0.0.0"; echo "port=3306"
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
}
rk_start() { # a|b [config file]
    mapped "${2:-$EX/host-$1-check_mysql.conf}" > "$WORK/$1.conf"
    TMPDIR=$WORK/$1 ip netns exec "${P}_$1" "$BIN" -n -l -G -f "$WORK/$1.conf" \
        -p "$WORK/$1.pid" -r "$WORK/$1.vrrp.pid" \
        --control-socket "$WORK/$1.sock" --state-dir "$WORK/$1.state" >>"$WORK/$1.log" 2>&1 &
    disown
}
