#!/bin/bash
# Daemon benchmarks, rkeepalived beside Debian's keepalived 2.2.7 in the
# same topology (two hosts in network namespaces on a bridge), as root:
#
#   scripts/bench-daemon.sh            # figures for docs/benchmarks.md
#   TRIALS=20 CPU_SECONDS=60 scripts/bench-daemon.sh
#
# 1. takeover: the master is cut off (SIGKILL of every process); time from
#    its last advert to the backup's first advert, from a capture on the
#    bridge (RFC Master_Down_Interval at priority 90: 3.6484 s);
# 2. graceful stop: SIGTERM to the master -> VIP present on the backup
#    (RFC Skew_Time at priority 90: 0.6484 s);
# 3. memory: PSS, anonymous memory and RSS from /proc/PID/smaps_rollup,
#    summed over the daemon's processes, 1 and 100 instances;
# 4. CPU: user+system time of the master's processes over CPU_SECONDS with
#    100 instances at advert_int 1;
# 5. jitter: 100 instances, each tracking its own vrrp_script at interval 1
#    (one of them hangs until its timeout kills it); how far each gap
#    between one instance's adverts strays from advert_int, from a capture
#    on the bridge over JITTER_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${TRIALS:-10}
CPU_SECONDS=${CPU_SECONDS:-60}
JITTER_SECONDS=${JITTER_SECONDS:-60}
cargo build --release --quiet
RK=$PWD/target/release/rkeepalived
P=rkbench_$$
SW=${P}s; A=${P}a; B=${P}b
W=$(mktemp -d)
cleanup() {
    for h in "$A" "$B" "$SW"; do
        ip netns pids "$h" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$h" 2>/dev/null || true
    done
    # Keep the daemons' logs of the last run for a look afterwards.
    rm -rf /tmp/rkbench-last; mkdir -p /tmp/rkbench-last; cp "$W"/*.log /tmp/rkbench-last/ 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
ip netns add "$SW"; ip -n "$SW" link add br0 type bridge forward_delay 0 mcast_snooping 0; ip -n "$SW" link set br0 up
i=1
for h in "$A" "$B"; do
    ip netns add "$h"
    ip -n "$SW" link add "p$i" type veth peer name eth0 netns "$h"
    ip -n "$SW" link set "p$i" master br0 up
    ip -n "$h" link set lo up; ip -n "$h" addr add "10.98.0.$i/24" dev eth0; ip -n "$h" link set eth0 up
    i=$((i + 1))
done

conf() { # priority, instances[, "scripts"]
    for n in $(seq 1 "$2"); do
        if [ "${3:-}" = scripts ]; then
            local cmd="$W/chk.sh"
            [ "$n" = "$2" ] && cmd="$W/hang.sh"
            printf 'vrrp_script chk_%s {\n    script "%s %s"\n    interval 1\n    timeout 3\n    weight -1\n}\n' "$n" "$cmd" "$n"
        fi
        cat <<C
vrrp_instance VI_$n {
    interface eth0
    virtual_router_id $n
    priority $1
    advert_int 1
    virtual_ipaddress {
        10.98.$((n / 250 + 1)).$((n % 250 + 1))/32
    }
$([ "${3:-}" = scripts ] && printf '    track_script {\n        chk_%s\n    }' "$n")
}
C
    done
}
start() { # impl ns name prio instances [scripts]
    local impl=$1 ns=$2 name=$3
    conf "$4" "$5" "${6:-}" > "$W/$name.conf"
    rm -f "$W/$name.pid" "$W/$name.vrrp.pid"
    local bin=$RK extra=(-G -l --control-socket "$W/$name.sock" --state-dir "$W/$name.state")
    [ "$impl" = ka ] && bin=keepalived && extra=(-P)
    TMPDIR=$W ip netns exec "$ns" "$bin" -n -f "$W/$name.conf" -p "$W/$name.pid" -r "$W/$name.vrrp.pid" "${extra[@]}" >"$W/$name.log" 2>&1 &
    disown
    for _ in $(seq 100); do [ -s "$W/$name.pid" ] && break; sleep 0.05; done
}
killall_ns() { # kill everything in the host and drop VIPs left behind
    ip netns pids "$1" | xargs -r kill -9 2>/dev/null || true
    sleep 0.3
    ip -n "$1" -4 addr show dev eth0 | awk '/inet 10\.98\.[1-9]/{print $2}' | xargs -r -n1 ip -n "$1" addr del dev eth0 2>/dev/null || true
}
# (no `| grep -q` under pipefail: ip may die of SIGPIPE when grep matches)
has_vip() { [[ "$(ip -n "$1" -4 addr show eth0)" == *" 10.98.1.2/32"* ]]; }
wait_vip() { for _ in $(seq 1000); do has_vip "$1" && return 0; sleep 0.01; done; return 1; }
now() { date +%s.%N; }

takeover() { # impl -> prints per-trial seconds
    local impl=$1
    for t in $(seq "$TRIALS"); do
        killall_ns "$A"; killall_ns "$B"
        start "$impl" "$A" a 100 1; start "$impl" "$B" b 90 1
        wait_vip "$A"; sleep "1.$((RANDOM % 9 + 1))"
        ip netns exec "$SW" tcpdump --immediate-mode -i br0 -U -w "$W/t.pcap" vrrp >/dev/null 2>&1 &
        local dump=$!
        sleep 1.2
        killall_ns "$A"
        wait_vip "$B"; sleep 0.3
        kill -INT $dump; wait $dump 2>/dev/null || true
        wire "$W/t.pcap" last
    done
}
graceful() { # impl -> "signal->VIP wire" seconds per trial
    local impl=$1
    for t in $(seq "$TRIALS"); do
        killall_ns "$A"; killall_ns "$B"
        start "$impl" "$A" a 100 1; start "$impl" "$B" b 90 1
        wait_vip "$A"; sleep "1.$((RANDOM % 9))"
        ip netns exec "$SW" tcpdump --immediate-mode -i br0 -U -w "$W/g.pcap" 'vrrp or arp' >/dev/null 2>&1 &
        local dump=$!
        sleep 1.2
        local t0; t0=$(now)
        kill -TERM "$(cat "$W/a.pid")"
        wait_vip "$B"
        local vip; vip=$(echo "$(now) - $t0" | bc)
        sleep 0.3
        kill -INT $dump; wait $dump 2>/dev/null || true
        echo "$vip $(wire "$W/g.pcap" zero) $(wire "$W/g.pcap" garp)"
    done
}
# From a capture: "last" = A's last non-zero advert -> B's first advert;
# "zero" = A's priority-0 advert -> B's first advert; "garp" = A's
# priority-0 advert -> B's first gratuitous ARP (sent once its VIP is set).
wire() {
    python3 - "$1" "$2" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read(); o = 24; mark = first_b = None; b_mac = None
while o + 16 <= len(d):
    s, us, n, _ = struct.unpack('<IIII', d[o:o+16]); o += 16; f = d[o:o+n]; o += n
    if len(f) < 37: continue
    t = s + us / 1e6
    if f[12:14] == b"\x08\x06":
        # ARP: sender protocol address is the VIP; B's MAC is the source.
        if sys.argv[2] == "garp" and mark is not None and first_b is None and t > mark and f[6:12] == b_mac:
            first_b = t
        continue
    src = f[26:30]; prio = f[14 + 20 + 2]
    if src == bytes([10, 98, 0, 2]): b_mac = f[6:12]
    if src == bytes([10, 98, 0, 1]) and ((sys.argv[2] == "last" and prio > 0) or (sys.argv[2] in ("zero", "garp") and prio == 0)):
        mark = t
    elif src == bytes([10, 98, 0, 2]) and mark is not None and first_b is None and t > mark and sys.argv[2] != "garp":
        first_b = t
print(f"{first_b - mark:.4f}" if mark and first_b else "nan")
PY
}
mem() { # ns -> "PSS/anonymous/RSS kB", summed over its processes
    local pss=0 anon=0 rss=0
    for p in $(ip netns pids "$1"); do
        read -r a b c < <(awk '/^Pss:/{p=$2} /^Anonymous:/{a=$2} /^Rss:/{r=$2} END{print p, a, r}' /proc/"$p"/smaps_rollup)
        pss=$((pss + a)); anon=$((anon + b)); rss=$((rss + c))
    done
    echo "PSS $pss / anon $anon / RSS $rss kB"
}
cpu() { # ns -> jiffies of its processes
    local sum=0
    for p in $(ip netns pids "$1"); do
        set -- $(cut -d' ' -f14,15 /proc/"$p"/stat); sum=$((sum + $1 + $2))
    done
    echo $sum
}
# Per instance, |gap between consecutive adverts - 1 s| from A, in ms.
jitter() {
    python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read(); o = 24; last = {}; dev = []
while o + 16 <= len(d):
    s, us, n, _ = struct.unpack('<IIII', d[o:o+16]); o += 16; f = d[o:o+n]; o += n
    if len(f) < 37 or f[12:14] != b"\x08\x00" or f[23] != 112 or f[26:30] != bytes([10, 98, 0, 1]):
        continue
    t = s + us / 1e6; vrid = f[35]
    if vrid in last:
        dev.append(abs(t - last[vrid] - 1.0) * 1000)
    last[vrid] = t
dev.sort()
print(f"{len(dev)} gaps: median {dev[len(dev)//2]:.2f} ms  p99 {dev[int(len(dev)*0.99)]:.2f} ms  max {dev[-1]:.2f} ms")
PY
}
stats() { python3 -c "import sys,statistics as s,math; v=[float(x) for x in sys.stdin.read().split() if x != 'nan']; print(f'min {min(v):.4f}  median {s.median(v):.4f}  max {max(v):.4f}  (n={len(v)})')"; }

command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
STEPS=${STEPS:-takeover graceful rss cpu jitter}
printf '#!/bin/sh\n# a typical check: a short-lived process doing a little work\nsleep 0.02\n' > "$W/chk.sh"
printf '#!/bin/sh\nexec sleep 1000\n' > "$W/hang.sh"
chmod 755 "$W/chk.sh" "$W/hang.sh"
for impl in ${IMPLS:-rk ka}; do
    label=$([ $impl = rk ] && echo rkeepalived || echo keepalived)
    echo "== $label"
    [[ " $STEPS " == *" takeover "* ]] && echo "takeover, last master advert -> first backup advert (s): $(takeover $impl | stats)"
    if [[ " $STEPS " == *" graceful "* ]]; then
    g=$(graceful $impl)
    echo "graceful stop: SIGTERM -> VIP on backup (s):              $(echo "$g" | awk '{print $1}' | stats)"
    echo "graceful stop: priority-0 advert -> backup advert (s):    $(echo "$g" | awk '{print $2}' | stats)"
    echo "graceful stop: priority-0 advert -> backup GARP (s):      $(echo "$g" | awk '{print $3}' | stats)"
    fi
    [[ " $STEPS " == *" rss "* ]] && for n in 1 100; do
        killall_ns "$A"; killall_ns "$B"
        start "$impl" "$A" a 100 "$n"; start "$impl" "$B" b 90 "$n"
        sleep 6
        echo "memory with $n instance(s): master $(mem "$A"), backup $(mem "$B")"
    done
    if [[ " $STEPS " == *" cpu "* ]]; then
    killall_ns "$A"; killall_ns "$B"
    start "$impl" "$A" a 100 100; start "$impl" "$B" b 90 100
    sleep 6
    c0=$(cpu "$A"); b0=$(cpu "$B"); sleep "$CPU_SECONDS"; c1=$(cpu "$A"); b1=$(cpu "$B")
    echo "CPU over ${CPU_SECONDS}s, 100 instances: master $(( (c1 - c0) * 10 )) ms, backup $(( (b1 - b0) * 10 )) ms"
    fi
    [[ " $STEPS " == *" jitter "* ]] || continue
    killall_ns "$A"; killall_ns "$B"
    start "$impl" "$A" a 100 100 scripts; start "$impl" "$B" b 90 100
    sleep 8
    # 100 adverts leave in one burst: a large kernel buffer and no
    # immediate mode, or tcpdump itself drops some of them.
    ip netns exec "$SW" tcpdump -B 16384 -i br0 -U -w "$W/j.pcap" vrrp >/dev/null 2>&1 &
    dump=$!
    sleep "$JITTER_SECONDS"
    kill -INT $dump; wait $dump 2>/dev/null || true
    echo "advert jitter, 100 instances + 100 scripts at interval 1 (one hung): $(jitter "$W/j.pcap")"
done
