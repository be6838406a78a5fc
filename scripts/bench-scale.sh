#!/bin/bash
# Centisecond adverts at scale, rkeepalived beside Debian's keepalived
# 2.2.7, as root. N VRRPv3 instances on one interface at advert_int 0.01,
# alone on host A, all masters; the adverts are captured at A's switch
# port. The two daemons run in alternating windows, never both at once:
#
#   scripts/bench-scale.sh                   # 255 instances, 3 rounds
#   N=255 ROUNDS=5 CPU_SECONDS=20 CAPTURE_SECONDS=10 scripts/bench-scale.sh
#   BACKUP_SECONDS=600 scripts/bench-scale.sh   # and the false-takeover run
#   BACKUP_CPU=0 scripts/bench-scale.sh         # without the backups' CPU
#   RK_BASE=/path/to/older/rkeepalived IMPLS="base rk ka" scripts/bench-scale.sh
#                                               # an older build beside this one
#
# Per window: CPU (user+system of every process of the daemon, from
# /proc/PID/stat) over CPU_SECONDS, then adverts on the wire over
# CAPTURE_SECONDS against those due in the span each instance was seen
# (one per 10 ms from its first captured advert to its last); per instance, how far
# each gap between its adverts strays from 10 ms (median / p99 / max). A
# window counts only if tcpdump reports 0 packets dropped by the kernel.
# A sends alone: B's switch port is down while A's windows run. A veth
# hands each frame on within the sender's system call, so the switch's
# forwarding, the capture's copy and every other host's receive path are
# charged to the sending daemon; the CPU window therefore runs without the
# capture and with no other host on the switch, which leaves the daemon's
# own work and its NIC's (the bridge taking the frame) as on a real host.
#
# Then (unless BACKUP_CPU=0) the receiving side: A runs rkeepalived's N
# masters throughout, and host B the same N instances at priority 50 with
# each implementation in turn, in alternating windows: B's CPU over
# CPU_SECONDS while it hears 100 adverts a second per instance, and how
# often B took over (it must not).
#
# With BACKUP_SECONDS > 0, host B then runs rkeepalived with the same N
# instances at priority 50 under A's rkeepalived for that long; any
# instance of B that becomes MASTER is a false takeover.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-255}
ROUNDS=${ROUNDS:-3}
CPU_SECONDS=${CPU_SECONDS:-20}
CAPTURE_SECONDS=${CAPTURE_SECONDS:-10}
BACKUP_SECONDS=${BACKUP_SECONDS:-0}
BACKUP_CPU=${BACKUP_CPU:-1}
IMPLS=${IMPLS:-"rk ka"}
cargo build --release --quiet
RK=$PWD/target/release/rkeepalived
P=rkscale_$$
SW=${P}s; A=${P}a; B=${P}b
W=$(mktemp -d)
. scripts/lib/hosts.sh
lab_up "$W" "$SW" 10.97.0 "$A" "$B"
HZ=$(getconf CLK_TCK)

conf() { # priority
    printf 'global_defs {\n    vrrp_version 3\n}\n'
    for n in $(seq 1 "$N"); do
        cat <<C
vrrp_instance VI_$n {
    interface eth0
    virtual_router_id $n
    priority $1
    advert_int 0.01
    virtual_ipaddress {
        10.97.$((n / 250 + 1)).$((n % 250 + 1))/32
    }
}
C
    done
}
start() { # impl ns name priority
    local impl=$1 ns=$2 name=$3
    conf "$4" >"$W/$name.conf"
    rm -f "$W/$name.pid" "$W/$name.vrrp.pid"
    local bin=$RK extra=(-G -l --control-socket "$W/$name.sock" --state-dir "$W/$name.state")
    [ "$impl" = ka ] && bin=keepalived && extra=(-P -l)
    [ "$impl" = base ] && bin=$RK_BASE
    TMPDIR=$W ip netns exec "$ns" "$bin" -n -f "$W/$name.conf" -p "$W/$name.pid" -r "$W/$name.vrrp.pid" "${extra[@]}" >"$W/$name.log" 2>&1 &
    disown
    for _ in $(seq 100); do [ -s "$W/$name.pid" ] && break; sleep 0.05; done
}
stop_all() { # ns
    ip netns pids "$1" | xargs -r kill 2>/dev/null || true
    for _ in $(seq 100); do [ -z "$(ip netns pids "$1")" ] && return; sleep 0.05; done
    ip netns pids "$1" | xargs -r kill -9 2>/dev/null || true
}
ticks() { # ns: user+system jiffies of every process in it
    local t=0 p
    for p in $(ip netns pids "$1"); do
        [ -r "/proc/$p/stat" ] || continue
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}

echo "== $N VRRPv3 instances at advert_int 0.01 on host A; $ROUNDS rounds of: ${IMPLS}"
: >"$W/results"
ip -n "$SW" link set p2 down # A alone on the switch
for round in $(seq 1 "$ROUNDS"); do
    for impl in $IMPLS; do
        start "$impl" "$A" a 100
        sleep 3 # every instance MASTER (Master_Down_Interval ~ 0.04 s), start-up done
        t0=$(ticks "$A")
        sleep "$CPU_SECONDS"
        t1=$(ticks "$A")
        ip netns exec "$SW" tcpdump -i p1 -s 64 -B 65536 -nn -w "$W/cap.pcap" 'ip proto 112' 2>"$W/tcpdump.err" &
        cap=$!
        sleep "$CAPTURE_SECONDS"
        kill -INT "$cap"; wait "$cap" || true
        stop_all "$A"
        dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$W/tcpdump.err")
        python3 - "$W/cap.pcap" "$N" "$CAPTURE_SECONDS" "$impl" "$round" "$((t1 - t0))" "$HZ" "$CPU_SECONDS" "${dropped:-?}" >>"$W/results" <<'PY'
import struct, sys, statistics
path, n, secs, impl, rnd, ticks, hz, cpu_secs, dropped = sys.argv[1:]
n, secs, ticks, hz, cpu_secs = int(n), float(secs), int(ticks), int(hz), float(cpu_secs)
data = open(path, 'rb').read()
little = data[:4] == b'\xd4\xc3\xb2\xa1'
end = '<' if little else '>'
off, times = 24, {}
count = 0
while off + 16 <= len(data):
    sec, usec, incl, _ = struct.unpack(end + 'IIII', data[off:off + 16])
    frame = data[off + 16: off + 16 + incl]
    off += 16 + incl
    if len(frame) < 14 + 20 + 2 or frame[12:14] != b'\x08\x00':
        continue
    ihl = (frame[14] & 0x0f) * 4
    vrid = frame[14 + ihl + 1]
    times.setdefault(vrid, []).append(sec + usec / 1e6)
    count += 1
dev = []
for ts in times.values():
    dev += [abs((b - a) - 0.01) * 1000 for a, b in zip(ts, ts[1:])]
dev.sort()
q = lambda p: dev[min(len(dev) - 1, int(p * len(dev)))] if dev else float('nan')
# Due: per instance, one advert per 10 ms over the span it was captured
# (the capture's own start and end are not the daemon's).
expected = sum(round((ts[-1] - ts[0]) / 0.01) + 1 for ts in times.values())
print(f"{impl} {rnd} cpu={ticks / hz:.2f} pct={100 * ticks / hz / cpu_secs:.1f} adverts={count} expected={expected} "
      f"instances={len(times)} median={q(0.5):.3f} p99={q(0.99):.3f} max={dev[-1] if dev else float('nan'):.3f} dropped={dropped}")
PY
        tail -1 "$W/results"
    done
done

echo
echo "== medians over the rounds that count (0 packets dropped by the kernel)"
python3 - "$W/results" "$CPU_SECONDS" "$CAPTURE_SECONDS" <<'PY'
import sys, statistics
sys.path.insert(0, 'scripts/lib')
import rounds
rows = rounds.read(sys.argv[1], lambda kv: kv['dropped'] != '0' and f"{kv['dropped']} dropped by the kernel")
print(rounds.header(rows))
med = lambda k, key: rounds.median(rows, k, key)
print(f"| CPU over {sys.argv[2]} s | " + " | ".join(f"{med(k, 'cpu'):.2f} s, {med(k, 'pct'):.1f} % of a core" for k in rows) + " |")
print(f"| adverts on the wire in {sys.argv[3]} s, of those due | " + " | ".join(
    f"{100 * statistics.median(float(r['adverts']) / float(r['expected']) for r in rows[k]):.2f} % ({med(k, 'adverts'):,.0f})" for k in rows) + " |")
print("| \\|gap − 10 ms\\| median / p99 / max | " + " | ".join(
    f"{med(k, 'median'):.2f} / {med(k, 'p99'):.2f} / {med(k, 'max'):.2f} ms" for k in rows) + " |")
print(f"| windows counted | " + " | ".join(str(len(rows[k])) for k in rows) + " |")
if 'rk' in rows and 'ka' in rows:
    print(f"CPU ratio rkeepalived / keepalived: {med('rk', 'cpu') / med('ka', 'cpu'):.2f}")
PY

ip -n "$SW" link set p2 up
if [ "$BACKUP_CPU" = 1 ]; then
    echo
    echo "== backups: B runs the same $N instances at priority 50 under A's rkeepalived masters; $ROUNDS rounds of: ${IMPLS}"
    start rk "$A" a 100
    sleep 3
    : >"$W/backup-results"
    for round in $(seq 1 "$ROUNDS"); do
        for impl in $IMPLS; do
            start "$impl" "$B" b 50
            sleep 3 # every instance BACKUP, start-up done
            t0=$(ticks "$B")
            sleep "$CPU_SECONDS"
            t1=$(ticks "$B")
            stop_all "$B"
            takeovers=$(grep -c "Entering MASTER STATE" "$W/b.log" || true)
            echo "$impl $round cpu=$(echo "scale=2; ($t1 - $t0) / $HZ" | bc) takeovers=$takeovers" | tee -a "$W/backup-results"
        done
    done
    stop_all "$A"
    python3 - "$W/backup-results" "$CPU_SECONDS" <<'PY'
import sys
sys.path.insert(0, 'scripts/lib')
import rounds
rows = rounds.read(sys.argv[1])
secs = float(sys.argv[2])
print(rounds.header(rows, 'the backup host (hearing 100 adverts/s per instance)'))
cpu = {k: rounds.median(rows, k, 'cpu') for k in rows}
print(f"| CPU over {secs:.0f} s | " + " | ".join(f"{cpu[k]:.2f} s, {100 * cpu[k] / secs:.1f} % of a core" for k in rows) + " |")
print("| windows in which it took over | " + " | ".join(f"{sum(int(r['takeovers']) > 0 for r in rows[k])} of {len(rows[k])}" for k in rows) + " |")
if 'rk' in cpu and 'ka' in cpu and cpu['ka'] > 0:
    print(f"backup CPU ratio rkeepalived / keepalived: {cpu['rk'] / cpu['ka']:.2f}")
PY
fi

if [ "$BACKUP_SECONDS" -gt 0 ]; then
    echo
    echo "== false takeovers: B (priority 50, same $N instances) under A for $BACKUP_SECONDS s"
    start rk "$A" a 100
    sleep 2
    start rk "$B" b 50
    sleep "$BACKUP_SECONDS"
    takeovers=$(grep -c "Entering MASTER STATE" "$W/b.log" || true)
    backups=$(grep -c "Entering BACKUP STATE" "$W/b.log" || true)
    echo "B entered BACKUP $backups times and MASTER $takeovers times (0 is the target)"
    if [ "$takeovers" -gt 0 ]; then
        echo "B's start-up and its first takeovers:"
        grep -m 3 -E "Starting|Startup complete" "$W/b.log" | sed 's/^/   /'
        grep -m 3 -B 1 "Entering MASTER STATE" "$W/b.log" | sed 's/^/   /'
        grep "Entering MASTER STATE" "$W/b.log" | tail -1 | sed 's/^/   last: /'
    fi
    stop_all "$B"; stop_all "$A"
fi
