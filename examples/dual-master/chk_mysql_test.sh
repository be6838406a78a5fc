#!/bin/bash
# Exit 0 when MariaDB on this host answers, 1 otherwise (with a connect
# timeout, so a hung server fails within the check's timeout).
exec /usr/bin/mysql --connect-timeout=2 -h172.16.10.30 -uchk -pchkpassword -P3306 \
    -e "show global variables like 'gtid_binlog_pos'" >/dev/null 2>&1
