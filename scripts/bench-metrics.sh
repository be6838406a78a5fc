#!/bin/bash
# What Prometheus scrapes cost the daemon, as root, beside keepalived 2.2.7
# doing the same job for keepalived-exporter:
#
#   scripts/bench-metrics.sh                 # figures for docs/benchmarks.md
#   INSTANCES=100 RATE=10 WINDOW=20 ROUNDS=3 scripts/bench-metrics.sh
#
# One host in a network namespace runs INSTANCES VRRP instances (all
# masters, advert_int 1, a VIP each). In alternating windows of WINDOW
# seconds the daemon's CPU (user+system of its processes, from
# /proc/PID/stat) is measured idle, then while a client in the namespace
# scrapes it RATE times a second:
# - rkeepalived: GET http://127.0.0.1:9165/metrics (metrics_listen) as
#   Prometheus sends it: on one kept-alive connection, asking for
#   OpenMetrics;
# - keepalived: what keepalived-exporter makes it do per scrape: SIGJSON
#   (keepalived --signum=JSON) to the daemon, then the client reads the
#   JSON dump it writes.
# The scrape's cost is the difference, in % of one core; the client's own
# CPU is not counted. Medians over ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/hosts.sh
INSTANCES=${INSTANCES:-100}
RATE=${RATE:-10}
WINDOW=${WINDOW:-20}
ROUNDS=${ROUNDS:-3}
cargo build --release --quiet
RK=$PWD/target/release/rkeepalived
H=rkbench_$$
W=$(mktemp -d)
cleanup() {
    remove_hosts "$H"
    rm -rf "$W"
}
trap cleanup EXIT
ip netns add "$H"
ip -n "$H" link set lo up
ip -n "$H" link add eth0 type veth peer name eth0p
ip -n "$H" addr add 10.97.0.1/24 dev eth0
ip -n "$H" link set eth0 up
ip -n "$H" link set eth0p up

conf() { # with metrics_listen: yes|no
    [ "$1" = yes ] && printf 'global_defs {\n    metrics_listen 127.0.0.1:9165\n}\n'
    for n in $(seq 1 "$INSTANCES"); do
        cat <<C
vrrp_instance VI_$n {
    state MASTER
    interface eth0
    virtual_router_id $n
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.97.$((n / 250 + 1)).$((n % 250 + 1))/32
    }
}
C
    done
}

cpu() { # jiffies of every process in the namespace
    local sum=0 p
    for p in $(ip netns pids "$H"); do
        # shellcheck disable=SC2046
        set -- $(cut -d' ' -f14,15 /proc/"$p"/stat 2>/dev/null || echo "0 0")
        sum=$((sum + $1 + $2))
    done
    echo "$sum"
}

start() { # rk|ka
    remove_hosts_pids
    rm -f "$W"/*.pid "$W"/keepalived.json
    if [ "$1" = rk ]; then
        conf yes >"$W/k.conf"
        ip netns exec "$H" "$RK" -n -l -f "$W/k.conf" -p "$W/k.pid" -r "$W/v.pid" -G \
            --control-socket "$W/c.sock" --state-dir "$W/state" >"$W/rk.log" 2>&1 &
    else
        conf no >"$W/k.conf"
        TMPDIR=$W ip netns exec "$H" keepalived -n -l -P -f "$W/k.conf" -p "$W/k.pid" -r "$W/v.pid" >"$W/ka.log" 2>&1 &
    fi
    disown
    # Settled: every instance MASTER (all VIPs on eth0), then a little more.
    for _ in $(seq 200); do
        [ "$(ip -n "$H" -4 addr show dev eth0 | grep -c 'inet 10\.97\.[1-9]')" -ge "$INSTANCES" ] && break
        sleep 0.1
    done
    sleep 2
}
remove_hosts_pids() {
    ip netns pids "$H" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    sleep 0.3
}

# The scraper runs in the namespace; prints how many scrapes succeeded.
scraper() { # rk|ka seconds
    ip netns exec "$H" python3 - "$1" "$2" "$RATE" "$W" "$INSTANCES" <<'PY'
import os, sys, time, http.client, json
impl, secs, rate, w, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
ok = 0
end = time.monotonic() + secs
nxt = time.monotonic()
pid = int(open(f"{w}/v.pid").read()) if impl == "ka" else 0
ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
conn = http.client.HTTPConnection("127.0.0.1", 9165, timeout=2) if impl == "rk" else None
while time.monotonic() < end:
    if impl == "rk":
        # As Prometheus 2.42 scrapes: one kept-alive connection, its Accept.
        conn.request("GET", "/metrics", headers={"Accept": ACCEPT})
        body = conn.getresponse().read().decode()
        ok += body.count("keepalived_vrrp_state{") == n and "keepalived_up 1" in body
    else:
        path = f"{w}/keepalived.json"
        before = os.stat(path).st_mtime_ns if os.path.exists(path) else 0
        os.kill(pid, 36)  # keepalived --signum=JSON
        for _ in range(200):
            if os.path.exists(path) and os.stat(path).st_mtime_ns != before:
                break
            time.sleep(0.001)
        try:
            ok += len(json.load(open(path))) == n
        except ValueError:
            pass  # half-written: the race keepalived-exporter hits
    nxt += 1 / rate
    time.sleep(max(0, nxt - time.monotonic()))
print(ok)
PY
}

window() { # rk|ka idle|scrape -> "% of a core" and scrapes done
    local c0 c1 done=0
    c0=$(cpu)
    if [ "$2" = scrape ]; then
        done=$(scraper "$1" "$WINDOW")
    else
        sleep "$WINDOW"
    fi
    c1=$(cpu)
    echo "$(echo "scale=3; ($c1 - $c0) * 100 / $(getconf CLK_TCK) / $WINDOW" | bc) $done"
}

median() { python3 -c "import sys,statistics as s; v=[float(x) for x in sys.stdin.read().split()]; print(f'{s.median(v):.3f}')"; }

echo "== $INSTANCES instances at advert_int 1, $RATE scrapes/s, windows of $WINDOW s, $ROUNDS rounds"
for impl in rk ka; do : >"$W/$impl.idle"; : >"$W/$impl.scrape"; : >"$W/$impl.cost"; done
for r in $(seq 1 "$ROUNDS"); do
    for impl in rk ka; do
        start "$impl"
        read -r idle _ <<<"$(window "$impl" idle)"
        read -r busy n <<<"$(window "$impl" scrape)"
        want=$(echo "$RATE * $WINDOW * 0.9" | bc | cut -d. -f1)
        if [ "$n" -lt "$want" ]; then
            echo "round $r $impl: only $n complete scrapes of $((RATE * WINDOW))" >&2
            [ "$impl" = rk ] && exit 1
        fi
        echo "$idle" >>"$W/$impl.idle"
        echo "$busy" >>"$W/$impl.scrape"
        echo "$busy - $idle" | bc >>"$W/$impl.cost"
        echo "round $r $impl: idle $idle %, scraped $busy % ($n complete scrapes)"
    done
done
remove_hosts_pids
for impl in rk ka; do
    name=rkeepalived
    [ "$impl" = ka ] && name="keepalived 2.2.7 (SIGJSON + dump, as keepalived-exporter)"
    printf '%-58s idle %s %%  scraped %s %%  scrape cost %s %% of a core\n' "$name" \
        "$(median <"$W/$impl.idle")" "$(median <"$W/$impl.scrape")" "$(median <"$W/$impl.cost")"
done
cost=$(median <"$W/rk.cost")
if [ "$(echo "$cost < 1" | bc)" != 1 ]; then
    echo "bench-metrics: rkeepalived's scrape cost $cost % is not under 1 % of a core" >&2
    exit 1
fi
