#!/bin/bash
# The load balancer at scale, rkeepalived beside Debian's keepalived 2.2.7,
# in the IPVS lab (scripts/ipvs-lab.sh boots it; run this on the host):
#
#   scripts/bench-lvs.sh                      # 100 virtual servers x 10 real servers
#   VS=20 CPU_SECONDS=10 scripts/bench-lvs.sh # shorter
#
# A director namespace and a server namespace on a veth pair; the server
# namespace holds one address per real server (10.50.V.R) and one asyncio
# process answers TCP on :80 and HTTP on :8080 for all of them. Half of the
# virtual servers use TCP_CHECK, half HTTP_GET (status and digest), all at
# delay_loop 1, retry 0. The daemons run one after the other, never both;
# for each, in the emulated guest (compare the two, not the absolute figures):
# 1. table load: from launch to all VS x 10 destinations in `ipvsadm -Ln`;
# 2. steady CPU over CPU_SECONDS: user+system of the daemon's processes;
# 3. memory: PSS and anonymous memory from /proc/PID/smaps_rollup, summed;
# 4. detection: DOWNS real servers are cut off one at a time (a `prohibit`
#    route on the director: connects fail at once) and the time until each
#    leaves the table is taken; median and p99 (with retry 0 the bound is
#    delay_loop plus the check itself).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${RK_IN_LAB:-}" ]; then
    cargo build --release --quiet
    exec scripts/ipvs-lab.sh env VS="${VS:-100}" CPU_SECONDS="${CPU_SECONDS:-20}" DOWNS="${DOWNS:-20}" \
        IMPLS="${IMPLS:-ka rk}" "$PWD/scripts/bench-lvs.sh"
fi
VS=${VS:-100}
CPU_SECONDS=${CPU_SECONDS:-20}
DOWNS=${DOWNS:-20}
IMPLS=${IMPLS:-"ka rk"}
RK=$PWD/target/release/rkeepalived
W=$(mktemp -d /tmp/rkbenchlvs.XXXXXX)
D=rkblvs_d; S=rkblvs_s
HZ=$(getconf CLK_TCK)
cleanup() {
    for ns in $D $S; do
        ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del $ns 2>/dev/null || true
    done
}
trap cleanup EXIT
cleanup
ip netns add $D; ip netns add $S
ip link add eth0 netns $D type veth peer name eth0 netns $S
for ns in $D $S; do ip -n $ns link set lo up; ip -n $ns link set eth0 up; done
ip -n $D addr add 10.50.255.1/16 dev eth0
ip -n $D addr add 10.49.0.1/16 dev eth0
ip netns exec $D sysctl -qw net.ipv4.ip_forward=1
ip netns exec $S sysctl -qw net.core.somaxconn=4096
for v in $(seq 0 $((VS - 1))); do
    for r in $(seq 1 10); do echo "addr add 10.50.$v.$r/16 dev eth0"; done
done >"$W/addrs"
ip -n $S -batch "$W/addrs"
echo ok >"$W/body"
DIGEST=$(md5sum <"$W/body" | cut -d' ' -f1)
cat >"$W/serve.py" <<'PY'
import asyncio, sys
body = open(sys.argv[1], "rb").read()
async def tcp(r, w):
    w.close()
async def http(r, w):
    try:
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await w.drain()
    except Exception:
        pass
    w.close()
async def main():
    a = await asyncio.start_server(tcp, "0.0.0.0", 80, backlog=4096)
    b = await asyncio.start_server(http, "0.0.0.0", 8080, backlog=4096)
    await asyncio.gather(a.serve_forever(), b.serve_forever())
asyncio.run(main())
PY
ip netns exec $S python3 "$W/serve.py" "$W/body" >/dev/null 2>&1 &
sleep 1

{
    for v in $(seq 0 $((VS - 1))); do
        cat <<EOF
virtual_server 10.49.0.$((v % 250 + 1)) $((1000 + v)) {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
EOF
        for r in $(seq 1 10); do
            if [ $((v % 2)) = 0 ]; then
                cat <<EOF
    real_server 10.50.$v.$r 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
EOF
            else
                cat <<EOF
    real_server 10.50.$v.$r 8080 {
        HTTP_GET {
            url {
                path /
                digest $DIGEST
            }
            connect_timeout 1
            retry 0
        }
    }
EOF
            fi
        done
        echo "}"
    done
} >"$W/lvs.conf"
WANT=$((VS * 10))

dests() { ip netns exec $D ipvsadm -Ln 2>/dev/null | grep -c -- '->  *10\.50\.' || true; }
pids_of() { ip netns pids $D | while read -r p; do
    case $(cat /proc/$p/comm 2>/dev/null) in keepalived|rkeepalived) echo "$p" ;; esac
done; }
# user and system ticks of the daemon's processes, summed
ticks() { local u=0 s=0 p a b; for p in $(pids_of); do
    read -r a b < <(awk '{print $14, $15}' /proc/$p/stat 2>/dev/null || echo 0 0)
    u=$((u + a)); s=$((s + b))
done; echo "$u $s"; }
mem() { local p pss=0 anon=0 a b; for p in $(pids_of); do
    read -r a b < <(awk '/^Pss:/{p=$2} /^Anonymous:/{a=$2} END{print p+0, a+0}' /proc/$p/smaps_rollup 2>/dev/null || echo 0 0)
    pss=$((pss + a)); anon=$((anon + b))
done; echo "$pss $anon"; }
now() { date +%s.%N; }

for impl in $IMPLS; do
    ip netns exec $D ipvsadm -C
    case $impl in
        ka) ip netns exec $D keepalived -n -l -C -f "$W/lvs.conf" -p "$W/ka.pid" -c "$W/kac.pid" >"$W/ka.log" 2>&1 & ;;
        rk) ip netns exec $D "$RK" -n -l -f "$W/lvs.conf" -p "$W/rk.pid" -r "$W/rkv.pid" --control-socket "$W/rk.sock" --state-dir "$W/state" >"$W/rk.log" 2>&1 & ;;
    esac
    t0=$(now)
    until [ "$(dests)" -ge "$WANT" ]; do
        sleep 0.05
        if [ "$(echo "$(now) - $t0 > 120" | bc)" = 1 ]; then echo "$impl: table never full ($(dests)/$WANT)"; tail "$W/$impl.log"; exit 1; fi
    done
    load=$(echo "$(now) - $t0" | bc)
    sleep 5 # every checker past its warmup
    read -r u0 s0 < <(ticks); sleep "$CPU_SECONDS"; read -r u1 s1 < <(ticks)
    cpu=$(echo "scale=2; ($u1 - $u0 + $s1 - $s0) / $HZ" | bc)
    usr=$(echo "scale=2; ($u1 - $u0) / $HZ" | bc)
    read -r pss anon < <(mem)
    : >"$W/$impl.det"
    for k in $(seq 1 "$DOWNS"); do
        v=$(((k * 7) % VS)); r=$(((k % 10) + 1))
        addr=10.50.$v.$r
        ip -n $D route add prohibit "$addr/32"
        t=$(now)
        until ! ip netns exec $D ipvsadm -Ln | grep -q -- "-> $addr:"; do
            sleep 0.02
            if [ "$(echo "$(now) - $t > 10" | bc)" = 1 ]; then break; fi
        done
        echo "$(now) - $t" | bc >>"$W/$impl.det"
        ip -n $D route del prohibit "$addr/32"
    done
    read -r med p99 < <(sort -n "$W/$impl.det" | awk '{a[NR]=$1} END {i=int(NR*0.99+0.999); if (i<1) i=1; printf "%.3f %.3f\n", a[int((NR+1)/2)], a[i]}')
    printf '%s: %d destinations loaded in %.2f s; CPU %s s (user %s) per %s s; PSS %s kB, anon %s kB; detection median %s s, p99 %s s (%s downs)\n' \
        "$impl" "$WANT" "$load" "$cpu" "$usr" "$CPU_SECONDS" "$pss" "$anon" "$med" "$p99" "$DOWNS"
    for p in $(pids_of); do kill -TERM "$p" 2>/dev/null || true; done
    sleep 3
done
