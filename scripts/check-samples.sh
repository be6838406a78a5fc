#!/bin/bash
# Runs `-t` of Debian's keepalived 2.2.7 and of rkeepalived over keepalived's
# sample configurations, in a throw-away namespace with the interfaces they
# name (eth0..eth3). Every sample keepalived accepts (exit 0) must be
# accepted by rkeepalived (exit 0). Samples: $RKEEPALIVED_SAMPLES or
# ../shared/keepalived-samples beside the checkout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${RKEEPALIVED_SAMPLES:-$root/../shared/keepalived-samples}
if [ ! -d "$dir" ]; then
    echo "no sample directory at $dir; set RKEEPALIVED_SAMPLES to check keepalived's samples"
    exit 0
fi
bin=$root/target/release/rkeepalived
[ -x "$bin" ] || bin=$root/target/debug/rkeepalived
ns=rksamples_$$
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns add "$ns"
for i in 0 1 2 3; do
    ip -n "$ns" link add "eth$i" type veth peer name "peer$i"
    ip -n "$ns" link set "eth$i" up
done
fail=0
for f in "$dir"/keepalived.conf.*; do
    k=0; ip netns exec "$ns" keepalived -t -f "$f" >/dev/null 2>&1 || k=$?
    r=0; ip netns exec "$ns" "$bin" -t -f "$f" >/dev/null 2>&1 || r=$?
    mark=""
    if [ "$k" = 0 ] && [ "$r" != 0 ]; then mark="  <-- keepalived accepts it, rkeepalived does not"; fail=1; fi
    printf '%-45s keepalived %s  rkeepalived %s%s\n' "$(basename "$f")" "$k" "$r" "$mark"
done
exit $fail
