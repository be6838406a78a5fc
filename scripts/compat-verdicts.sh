#!/bin/bash
# keepalived 2.2.7's `-t` verdict on every compat/ file and every keepalived
# sample, against compat/expected.tsv, and rkeepalived's `-t` verdict against
# keepalived's (or the exception compat/DEVIATIONS.md lists for the file).
#
#   scripts/compat-verdicts.sh            check; fails on any drift
#   scripts/compat-verdicts.sh --record   rewrite compat/expected.tsv from keepalived
#
# Both run as root in a throw-away network namespace with the interfaces the
# files name (eth0..eth3, 10.0.0.1/24 and fd00::1/64 on eth0), each under
# `timeout 10`; a verdict of 124 is a hang. Samples come from
# $RKEEPALIVED_SAMPLES, else ../shared/keepalived-samples beside the checkout,
# else the ones Debian's keepalived package installs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
record=${1:-}
table=compat/expected.tsv

if [ "$(id -u)" != 0 ]; then
    echo "$0: run as root (network namespaces)" >&2
    exit 1
fi
command -v keepalived >/dev/null || { echo "$0: keepalived (Debian's 2.2.7) is not installed" >&2; exit 1; }

samples=${RKEEPALIVED_SAMPLES:-}
if [ -z "$samples" ]; then
    for d in "$root/../shared/keepalived-samples" /usr/share/doc/keepalived/samples; do
        if ls "$d"/keepalived.conf.* >/dev/null 2>&1; then samples=$d; break; fi
    done
fi
[ -n "$samples" ] || { echo "$0: no keepalived samples found (install keepalived or set RKEEPALIVED_SAMPLES)" >&2; exit 1; }

bin=$root/target/release/rkeepalived
[ -x "$bin" ] || bin=$root/target/debug/rkeepalived
[ -x "$bin" ] || { echo "$0: build rkeepalived first (cargo build --release)" >&2; exit 1; }

ns=rkverdict_$$
work=$(mktemp -d)
# keepalived -t creates a config_save_dir a file names, beside the file
# (root-only, mode 0600): the empty directories made during the run go.
trap 'ip netns del "$ns" 2>/dev/null || true; find compat -mindepth 1 -type d -empty -newer "$work" -delete; rm -rf "$work"' EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
for i in 0 1 2 3; do
    ip -n "$ns" link add "eth$i" type veth peer name "peer$i"
    ip -n "$ns" link set "eth$i" up
done
ip -n "$ns" addr add 10.0.0.1/24 dev eth0
ip -n "$ns" addr add fd00::1/64 dev eth0 nodad

# A sample may be gzipped (Debian compresses the larger ones).
sample_file() {
    local name=$1
    if [ -f "$samples/$name" ]; then echo "$samples/$name"; return; fi
    if [ -f "$samples/$name.gz" ]; then
        gunzip -c "$samples/$name.gz" >"$work/$name"
        echo "$work/$name"
    fi
}

path_of() {
    case $1 in
        samples/*) sample_file "${1#samples/}" ;;
        *) echo "compat/$1" ;;
    esac
}

verdict() { # IMPLEMENTATION FILE
    local rc=0
    if [ "$1" = keepalived ]; then
        timeout 10 ip netns exec "$ns" keepalived -t -f "$2" >/dev/null 2>&1 || rc=$?
    else
        timeout 10 ip netns exec "$ns" "$bin" -t -f "$2" >/dev/null 2>&1 || rc=$?
    fi
    echo "$rc"
}

if [ "$record" = --record ]; then
    {
        printf '# file\tkeepalived 2.2.7 -t exit status (124: still running after 10 s)\n'
        {
            find compat -name '*.conf' -not -path 'compat/valid/conf.d/*' | sed 's|^compat/||'
            for s in "$samples"/keepalived.conf.*; do
                n=$(basename "$s" .gz)
                echo "samples/$n"
            done
        } | LC_ALL=C sort -u | while read -r f; do
            printf '%s\t%s\n' "$f" "$(verdict keepalived "$(path_of "$f")")"
        done
    } >"$work/table"
    mv "$work/table" "$table"
    echo "recorded $(grep -vc '^#' "$table") verdicts in $table"
    exit 0
fi

# The exceptions: "| `FILE` | KEEPALIVED | RKEEPALIVED | why |" rows of
# DEVIATIONS.md's verdict-exception table.
declare -A exception
while IFS='|' read -r _ f _ rk _; do
    f=$(echo "$f" | tr -d ' `')
    exception[$f]=$(echo "$rk" | tr -d ' ')
done < <(awk '/^## `-t` verdict exceptions/{on=1; next} /^## /{on=0} on && /^\| `/' compat/DEVIATIONS.md)

fail=0
checked=0
listed=$(grep -v '^#' "$table" | cut -f1 | LC_ALL=C sort)
on_disk=$(find compat -name '*.conf' -not -path 'compat/valid/conf.d/*' | sed 's|^compat/||' | LC_ALL=C sort)
if [ "$(comm -13 <(echo "$listed") <(echo "$on_disk"))" != "" ]; then
    echo "compat files missing from $table (run $0 --record):"
    comm -13 <(echo "$listed") <(echo "$on_disk") | sed 's/^/  /'
    fail=1
fi
while IFS=$'\t' read -r f want; do
    case $f in '#'*|'') continue ;; esac
    p=$(path_of "$f")
    if [ -z "$p" ] || [ ! -f "$p" ]; then
        echo "MISSING  $f"
        fail=1
        continue
    fi
    k=$(verdict keepalived "$p")
    r=$(verdict rkeepalived "$p")
    expect_rk=${exception[$f]:-$want}
    checked=$((checked + 1))
    if [ "$k" != "$want" ]; then
        echo "DRIFT    $f: keepalived now says $k, the table $want"
        fail=1
    fi
    if [ "$r" != "$expect_rk" ]; then
        echo "VERDICT  $f: rkeepalived says $r, expected $expect_rk (keepalived $k)"
        fail=1
    fi
done <"$table"
[ "$checked" -gt 0 ] || { echo "no verdicts checked"; exit 1; }
echo "$checked files: keepalived matches $table, rkeepalived matches keepalived or the listed exception ($( [ $fail = 0 ] && echo ok || echo FAILED ))"
exit $fail
