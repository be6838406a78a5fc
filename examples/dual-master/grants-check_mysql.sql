-- The probe account (run on one server; it replicates). It needs to read
-- replication and binlog status, toggle read_only, end sessions, and
-- restart a replication IO thread that waits to reconnect to the peer, and
-- switch semi-sync off while the peer is gone (REPLICATION MASTER ADMIN).
CREATE USER 'chk'@'172.16.10.%' IDENTIFIED BY 'chkpassword';
GRANT SLAVE MONITOR, BINLOG MONITOR, READ_ONLY ADMIN, CONNECTION ADMIN, PROCESS, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN ON *.* TO 'chk'@'172.16.10.%';
-- Application accounts must not have SUPER, READ_ONLY ADMIN or ALL: those
-- bypass read_only and so the fencing.
GRANT SELECT, INSERT, UPDATE, DELETE ON hellodb.* TO 'app'@'172.16.10.%' IDENTIFIED BY 'apppassword';
