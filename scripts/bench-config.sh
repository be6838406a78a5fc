#!/bin/bash
# Times `-t` on a 1,000-instance configuration (the same text as
# benches/config.rs) for rkeepalived and for Debian's keepalived 2.2.7,
# both inside a throw-away network namespace with the interfaces it names.
# Run as root after `cargo build --release`. Prints milliseconds per run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-20}
ns=rkbench_$$
work=$(mktemp -d)
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"' EXIT
ip netns add "$ns"
for i in 0 1 2 3; do
    ip -n "$ns" link add "eth$i" type veth peer name "peer$i"
    ip -n "$ns" link set "eth$i" up
done
python3 - "$work/bench.conf" <<'PY'
import sys
out = ["global_defs {\n    router_id bench\n}\n"]
for i in range(1000):
    hi, lo, iface, vrid = i // 250, i % 250 + 1, i // 255, i % 255 + 1
    out.append(f"""vrrp_script chk_{i} {{
    script "/usr/bin/true {i}"
    interval 2
    weight -10
}}
vrrp_instance VI_{i} {{
    state BACKUP
    interface eth{iface}
    virtual_router_id {vrid}
    priority 100
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass pw{i}
    }}
    virtual_ipaddress {{
        10.{hi}.{lo}.1/24 dev eth{iface} label eth{iface}:{vrid}
        10.{hi}.{lo}.2
    }}
    track_script {{
        chk_{i}
    }}
}}
""")
open(sys.argv[1], "w").write("".join(out))
PY
time_runs() {
    local start end
    start=$(date +%s%N)
    for _ in $(seq "$runs"); do
        ip netns exec "$ns" "$@" -t -f "$work/bench.conf" >/dev/null 2>&1 || true
    done
    end=$(date +%s%N)
    echo $(( (end - start) / runs / 1000000 ))
}
echo "rkeepalived -t: $(time_runs "$root/target/release/rkeepalived") ms/run (1000 instances, $runs runs)"
if command -v keepalived >/dev/null; then
    echo "keepalived -t:  $(time_runs keepalived) ms/run (1000 instances, $runs runs)"
fi
