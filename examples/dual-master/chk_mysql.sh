#!/bin/bash
# The reference scenario's check script, unchanged: if MariaDB does not
# answer, stop the VRRP daemon so the backup takes the VIP.
mysqlStr=/usr/bin/mysql
hostIP=172.16.10.30
chkUser=chk
chkPassword=chkpassword
mysqlPort=3306
$mysqlStr -h$hostIP -u$chkUser -p$chkPassword -P$mysqlPort -e "show global variables like '%gtid%'" >/dev/null 2>&1
if [ $? != 0 ];then
  /usr/bin/systemctl stop keepalived.service
fi
