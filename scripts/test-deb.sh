#!/bin/bash
# The Debian package, as a user gets it: builds it with cargo-deb, installs
# it with dpkg beside Debian's keepalived, runs the installed binary (-v,
# and -t on an installed example inside a namespace that has its
# interface), checks the unit is neither enabled nor started, then purges
# it. Run as root by scripts/test-all.sh.
#
# An /usr/sbin/rkeepalived that this package did not install (a hand
# install, say) is never overwritten: the install step is skipped, said so.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "test-deb: FAIL: $*" >&2
    exit 1
}

if ! command -v cargo-deb >/dev/null; then
    echo "== installing cargo-deb (cargo install cargo-deb --locked)"
    cargo install cargo-deb --locked
fi

echo "== cargo deb"
cargo deb --quiet >/dev/null
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
deb=target/debian/rkeepalived_${version}_amd64.deb
[ -s "$deb" ] || fail "no $deb"

# What the package holds: every path is ours, none is keepalived's.
contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$')
[ -n "$contents" ] || fail "empty package"
for want in /usr/sbin/rkeepalived /usr/share/man/man8/rkeepalived.8.gz \
    /usr/share/man/man5/rkeepalived.conf.5.gz /lib/systemd/system/rkeepalived.service \
    /usr/share/man/man8/rkeepalived-switchover.8.gz \
    /usr/share/doc/rkeepalived/examples/dual-master/host-a-check_mysql.conf; do
    grep -qx "$want" <<<"$contents" || fail "$deb lacks $want"
done
grep -qE '^/usr/share/doc/rkeepalived/docs/operations\.md(\.gz)?$' <<<"$contents" || fail "$deb lacks docs/"

if dpkg -s keepalived >/dev/null 2>&1; then
    theirs=$(dpkg -L keepalived | sort)
    [ -n "$theirs" ] || fail "dpkg -L keepalived is empty"
    clash=$(comm -12 <(sort <<<"$contents") <(grep -v '^/\.$' <<<"$theirs") || true)
    # Directories both ship (/usr/sbin, /usr/share/man/man8 …) are not files.
    clash=$(for f in $clash; do [ -d "$f" ] || echo "$f"; done)
    [ -z "$clash" ] || fail "files keepalived also ships: $clash"
fi

if [ -e /usr/sbin/rkeepalived ] && ! dpkg -S /usr/sbin/rkeepalived 2>/dev/null | grep -q '^rkeepalived:'; then
    echo "test-deb: /usr/sbin/rkeepalived exists and was not installed by the rkeepalived package;"
    echo "test-deb: skipping the install step rather than overwrite it (package built: $deb)"
    exit 0
fi

ns=rkdeb_$$
cleanup() {
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    dpkg --purge rkeepalived >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== dpkg -i $deb"
dpkg -i "$deb" >/dev/null
dpkg -s rkeepalived | grep -q '^Status: install ok installed' || fail "not installed"

# Installed, but not enabled and not started.
for wants in /etc/systemd/system/*.wants/rkeepalived.service; do
    [ -e "$wants" ] && fail "the unit was enabled: $wants"
done
for pid in $(pgrep -x rkeepalived || true); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/rkeepalived ] && fail "the install started rkeepalived (pid $pid)"
done

out=$(/usr/sbin/rkeepalived -v 2>&1)
grep -q "$version" <<<"$out" || fail "rkeepalived -v says: $out"
echo "$out" | head -1

# -t on the installed example, inside a namespace with its interface.
example=/usr/share/doc/rkeepalived/examples/dual-master/host-a-check_mysql.conf
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add ens32 type veth peer name ens32p
ip -n "$ns" link set ens32 up
ip -n "$ns" addr add 172.16.10.30/24 dev ens32
if ! out=$(ip netns exec "$ns" /usr/sbin/rkeepalived -t -f "$example" 2>&1); then
    fail "rkeepalived -t $example: $out"
fi
# And -t must be able to fail: the same file without its interface.
ip -n "$ns" link del ens32
if ip netns exec "$ns" /usr/sbin/rkeepalived -t -f "$example" >/dev/null 2>&1; then
    fail "-t accepted $example with no ens32"
fi

echo "== dpkg --purge rkeepalived"
dpkg --purge rkeepalived >/dev/null
[ ! -e /usr/sbin/rkeepalived ] || fail "/usr/sbin/rkeepalived left after purge"
[ ! -e /lib/systemd/system/rkeepalived.service ] || fail "unit left after purge"
if dpkg -s keepalived >/dev/null 2>&1; then
    [ -x /usr/sbin/keepalived ] || fail "keepalived's binary is gone"
fi
echo "== the package installs, runs and purges"
