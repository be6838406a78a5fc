#!/bin/bash
# A thousand instances, rkeepalived beside Debian's keepalived 2.2.7, as
# root. Host A alone has four interfaces, each on its own bridge, with 250
# instances on each (VRIDs 1-250): eth0 and eth1 VRRPv2, eth2 and eth3
# VRRPv3, all at advert_int 1 with `state MASTER` and a VIP each; one
# vrrp_script per 10 instances (interval SCRIPT_INTERVAL, default 2 s;
# unweighted, as keepalived ignores weights in a sync group) and one
# vrrp_sync_group per 50. The daemons run in alternating windows, never
# both at once:
#
#   scripts/bench-thousand.sh                 # 3 rounds
#   ROUNDS=5 CPU_SECONDS=60 scripts/bench-thousand.sh
#
# Per window, from captures at the four switch ports:
# 1. start-up: from the daemon's launch to the first advert of the last of
#    the 1,000 instances to advertise;
# 2. steady CPU over CPU_SECONDS: user+system of the daemon's processes,
#    and with the scripts they ran (their children's time);
# 3. memory: PSS and anonymous memory (and RSS) from
#    /proc/PID/smaps_rollup, summed over the daemon's processes;
# 4. a reload (SIGHUP) after changing one instance's priority: time from
#    the signal to that instance's first advert at the new priority; for
#    the other 999, the longest advert gap around the reload, how many of
#    them had a gap over 1.5 advert_int, whether any other priority
#    changed, and how many VIPs were deleted (`ip monitor address`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
CPU_SECONDS=${CPU_SECONDS:-30}
SCRIPT_INTERVAL=${SCRIPT_INTERVAL:-2}
IMPLS=${IMPLS:-"rk ka"}
PER_IF=250
cargo build --release --quiet
RK=$PWD/target/release/rkeepalived
P=rkthou_$$
SW=${P}s; A=${P}a
# Under /var/tmp: keepalived's scripts run with a private /tmp.
W=$(mktemp -d /var/tmp/rkthou.XXXXXX)
. scripts/lib/hosts.sh
LAB_WORK=$W
LAB_NS=("$SW" "$A")
trap 'remove_hosts "${LAB_NS[@]}"; rm -rf /var/tmp/rkthou-last; cp -a "$LAB_WORK" /var/tmp/rkthou-last; rm -rf "$LAB_WORK"' EXIT
remove_hosts "${LAB_NS[@]}"
ip netns add "$SW"
ip netns add "$A"
ip -n "$A" link set lo up
for i in 0 1 2 3; do
    ip -n "$SW" link add "br$i" type bridge forward_delay 0
    ip -n "$SW" link set "br$i" up
    ip -n "$SW" link add "p$i" type veth peer name "eth$i" netns "$A"
    ip -n "$SW" link set "p$i" master "br$i" up
    ip -n "$A" addr add "10.96.$i.1/24" dev "eth$i"
    ip -n "$A" link set "eth$i" up
done
HZ=$(getconf CLK_TCK)
printf '#!/bin/sh\nexit 0\n' >"$W/chk.sh"
chmod 0755 "$W/chk.sh"

conf() { # the priority of eth0's VRID 1 (the one a reload changes)
    printf 'global_defs {\n    script_user root\n    enable_script_security\n}\n'
    local i v n
    for n in $(seq 0 99); do
        printf 'vrrp_script chk_%s {\n    script "%s"\n    interval %s\n    weight 0\n}\n' "$n" "$W/chk.sh" "$SCRIPT_INTERVAL"
    done
    for i in 0 1 2 3; do
        for v in $(seq 1 $PER_IF); do
            n=$((i * PER_IF + v - 1))
            local prio=100
            [ "$n" = 0 ] && prio=$1
            cat <<C
vrrp_instance VI_${i}_$v {
    interface eth$i
    state MASTER
    version $((i < 2 ? 2 : 3))
    virtual_router_id $v
    priority $prio
    advert_int 1
    virtual_ipaddress {
        10.$((100 + i)).$((v / 200)).$((v % 200 + 1))/32
    }
    track_script {
        chk_$((n / 10))
    }
}
C
        done
    done
    for n in $(seq 0 19); do
        printf 'vrrp_sync_group SG_%s {\n    group {\n' "$n"
        for k in $(seq 0 49); do
            local m=$((n * 50 + k))
            printf '        VI_%s_%s\n' $((m / PER_IF)) $((m % PER_IF + 1))
        done
        printf '    }\n}\n'
    done
}
start() { # impl
    rm -f "$W/a.pid" "$W/a.vrrp.pid"
    local bin=$RK extra=(-G -l --control-socket "$W/a.sock" --state-dir "$W/a.state")
    [ "$1" = ka ] && bin=keepalived && extra=(-P -l)
    TMPDIR=$W ip netns exec "$A" "$bin" -n -f "$W/a.conf" -p "$W/a.pid" -r "$W/a.vrrp.pid" "${extra[@]}" >"$W/a.log" 2>&1 &
    disown
}
stop_all() {
    ip netns pids "$A" | xargs -r kill 2>/dev/null || true
    for _ in $(seq 200); do [ -z "$(ip netns pids "$A")" ] && return; sleep 0.05; done
    ip netns pids "$A" | xargs -r kill -9 2>/dev/null || true
}
daemon_pids() { # the daemon's own processes, not the scripts it runs
    local p
    for p in $(ip netns pids "$A"); do
        [[ "$(readlink "/proc/$p/exe" 2>/dev/null)" == *keepalived* ]] && echo "$p"
    done
}
ticks() { # own | with-children
    local t=0 p
    for p in $(daemon_pids); do
        if [ "$1" = own ]; then
            t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
        else
            t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat")))
        fi
    done
    echo "$t"
}
memory() { # PSS anonymous RSS, kB over the daemon's processes
    local p pss=0 anon=0 rss=0 a b c
    for p in $(daemon_pids); do
        read -r a b c < <(awk '/^Pss:/{p=$2} /^Anonymous:/{a=$2} /^Rss:/{r=$2} END{print p, a, r}' "/proc/$p/smaps_rollup")
        pss=$((pss + a)); anon=$((anon + b)); rss=$((rss + c))
    done
    echo "$pss $anon $rss"
}
capture() { # tag: one capture per switch port
    local i
    CAPS=()
    for i in 0 1 2 3; do
        ip netns exec "$SW" tcpdump -i "p$i" -s 64 -B 65536 -nn -w "$W/$1.$i.pcap" 'ip proto 112' 2>"$W/$1.$i.err" &
        CAPS+=($!)
    done
    for i in 0 1 2 3; do
        for _ in $(seq 100); do grep -q "listening on" "$W/$1.$i.err" && break; sleep 0.05; done
    done
}
capture_end() { # tag -> packets dropped by the kernel, summed over the ports
    local c d=0 i x
    for c in "${CAPS[@]}"; do kill -INT "$c"; wait "$c" || true; done
    for i in 0 1 2 3; do
        x=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$W/$1.$i.err")
        d=$((d + ${x:-1000000}))
    done
    echo "$d"
}

# The analysis of one window's captures: analyse TAG MODE ARGS...
analyse() {
    python3 - "$W" "$@" <<'PY'
import struct, sys
w, tag, mode = sys.argv[1:4]
args = [float(a) for a in sys.argv[4:]]
def adverts(i):
    data = open(f"{w}/{tag}.{i}.pcap", 'rb').read()
    end = '<' if data[:4] == b'\xd4\xc3\xb2\xa1' else '>'
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack(end + 'IIII', data[off:off + 16])
        frame = data[off + 16: off + 16 + incl]
        off += 16 + incl
        if len(frame) < 14 + 20 + 3 or frame[12:14] != b'\x08\x00':
            continue
        ihl = (frame[14] & 0x0f) * 4
        yield sec + usec / 1e6, (i, frame[14 + ihl + 1]), frame[14 + ihl + 2]
seen = {}
for i in range(4):
    for t, key, prio in adverts(i):
        seen.setdefault(key, []).append((t, prio))
if mode == 'startup':
    (launch,) = args
    firsts = [v[0][0] for v in seen.values()]
    last = max(firsts) - launch if firsts else float('nan')
    print(f"instances={len(seen)} startup={last:.3f}")
else:
    (hup, new_prio) = args
    changed = seen.get((0, 1), [])
    at_new = [t for t, p in changed if p == int(new_prio) and t >= hup]
    took = (at_new[0] - hup) if at_new else float('nan')
    worst, late, others_changed = 0.0, 0, 0
    for key, ads in seen.items():
        if key == (0, 1):
            continue
        gaps = [b[0] - a[0] for a, b in zip(ads, ads[1:])]
        g = max(gaps) if gaps else float('inf')
        worst = max(worst, g)
        late += g > 1.5
        others_changed += len({p for _, p in ads}) > 1
    print(f"instances_reload={len(seen)} reload={took:.3f} worst_gap={worst:.3f} late={late} other_prio_changed={others_changed}")
PY
}

echo "== 1,000 instances on 4 interfaces (2 x VRRPv2, 2 x VRRPv3), a script per 10, a sync group per 50; $ROUNDS rounds of: $IMPLS"
: >"$W/results"
for round in $(seq 1 "$ROUNDS"); do
    for impl in $IMPLS; do
        conf 100 >"$W/a.conf"
        capture start
        launch=$(date +%s.%N)
        start "$impl"
        # Until every VIP is up (all 1,000 MASTER), then a second more.
        for _ in $(seq 600); do
            [ "$(ip -n "$A" -4 addr show | grep -c ' 10\.10[0-3]\.')" = 1000 ] && break
            sleep 0.1
        done
        sleep 1.5
        dropped=$(capture_end start)
        up=$(analyse start startup "$launch")
        sleep 2
        t0=$(ticks own); c0=$(ticks all)
        sleep "$CPU_SECONDS"
        t1=$(ticks own); c1=$(ticks all)
        read -r pss anon rss <<<"$(memory)"
        # The reload: one instance's priority changes.
        conf 110 >"$W/a.conf"
        ip -n "$A" monitor address >"$W/addr.mon" 2>&1 &
        mon=$!
        capture reload
        sleep 2
        hup=$(date +%s.%N)
        kill -HUP "$(cat "$W/a.pid")"
        sleep 6
        dropped=$((dropped + $(capture_end reload)))
        kill "$mon"; wait "$mon" 2>/dev/null || true
        deleted=$(grep -c '^Deleted' "$W/addr.mon" || true)
        re=$(analyse reload reload "$hup" 110)
        vips=$(ip -n "$A" -4 addr show | grep -c ' 10\.10[0-3]\.' || true)
        stop_all
        echo "$impl $round $up $re vip_deleted=$deleted vips_after=$vips cpu=$(((t1 - t0) * 100 / HZ)) cpu_all=$(((c1 - c0) * 100 / HZ)) pss=$pss anon=$anon rss=$rss dropped=$dropped" | tee -a "$W/results"
    done
done

echo
echo "== medians over the rounds that count (every instance seen, 0 packets dropped by the kernel)"
python3 - "$W/results" "$CPU_SECONDS" <<'PY'
import sys
sys.path.insert(0, 'scripts/lib')
import rounds
rows = rounds.read(sys.argv[1], lambda kv: (kv['dropped'] != '0' or kv['instances'] != '1000' or kv['instances_reload'] != '1000')
                   and f"{kv['dropped']} dropped, {kv['instances']} instances seen")
med = lambda k, key: rounds.median(rows, k, key)
mx = lambda k, key: max(float(r[key]) for r in rows[k])
print(rounds.header(rows))
print("| start-up to all 1,000 advertising | " + " | ".join(f"{med(k, 'startup'):.2f} s" for k in rows) + " |")
print(f"| steady CPU over {sys.argv[2]} s: daemon / with its scripts | " + " | ".join(
    f"{med(k, 'cpu') / 100:.2f} s / {med(k, 'cpu_all') / 100:.2f} s" for k in rows) + " |")
print("| PSS / anonymous / RSS | " + " | ".join(
    f"{med(k, 'pss') / 1024:.1f} / {med(k, 'anon') / 1024:.1f} / {med(k, 'rss') / 1024:.1f} MiB" for k in rows) + " |")
print("| reload changing one instance: to its new priority on the wire | " + " | ".join(f"{med(k, 'reload'):.2f} s" for k in rows) + " |")
print("| the other 999 during the reload: longest advert gap (worst round) | " + " | ".join(f"{mx(k, 'worst_gap'):.2f} s" for k in rows) + " |")
print("| the other 999: instances with a gap over 1.5 s / priority changed / VIPs deleted (worst round) | " + " | ".join(
    f"{mx(k, 'late'):.0f} / {mx(k, 'other_prio_changed'):.0f} / {mx(k, 'vip_deleted'):.0f}" for k in rows) + " |")
print("| windows counted | " + " | ".join(str(len(rows[k])) for k in rows) + " |")
PY
