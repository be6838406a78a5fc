#!/bin/bash
# A bounded soak, as root: a pair in network namespaces (A at priority 100,
# B at 90, VRRPv3 at advert_int 0.1, a tracked check script on each) takes
# random faults from the fault matrix, reloads and check flips for
# SOAK_SECONDS (default 1800; the full test command runs 180), then the
# simulated LAN's random schedules with more cases than `cargo test` runs.
#
#   scripts/soak.sh                 (30 minutes)
#   SOAK_SECONDS=180 scripts/soak.sh
#
# After every fault and its recovery it asserts that the run converges on
# A alone holding the VIP within Master_Down_Interval plus slack, and that
# it stays that way for a while (never two holders once converged). It
# records every transition in the daemons' logs. At the end it asserts that
# A's daemon (never killed; B takes the SIGKILLs) has the same number of
# file descriptors and threads as after the warm-up (the first
# WARMUP_SECONDS of faults, default a third of the run up to 60 s), and
# anonymous memory within 5 % of it. Exit status 0 when every invariant
# held.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/soak.sh: run as root (network namespaces)" >&2; exit 1; }
SOAK_SECONDS=${SOAK_SECONDS:-1800}
# The simulated LAN's schedules: 100 virtual seconds a step, 100 steps a
# case; 1,000 cases is 10^8 virtual seconds.
SIM_CASES=${SIM_CASES:-$((SOAK_SECONDS < 600 ? 300 : 1000))}
SEED=${SEED:-$RANDOM}
RANDOM=$SEED

cargo build --release -q
RK=$PWD/target/release/rkeepalived
P=rksoak_$$
SW=${P}_sw; A=${P}_a; B=${P}_b
VIP=10.97.0.100
W=$(mktemp -d)
. scripts/lib/hosts.sh
lab_up "$W" "$SW" 10.97.0 "$A" "$B"

printf '#!/bin/sh\n# fails while the flag file named by $1 exists\n[ ! -e "$1" ]\n' >"$W/chk.sh"
chmod 0755 "$W/chk.sh"
conf() { # name priority
    cat <<C
vrrp_script chk {
    script "$W/chk.sh $W/$1.fail"
    interval 0.2
    fall 1
    rise 1
}
vrrp_instance VI_1 {
    interface eth0
    version 3
    virtual_router_id 51
    priority $2
    advert_int 0.1
    virtual_ipaddress {
        $VIP/24
    }
    track_script {
        chk
    }
}
C
}
conf a 100 >"$W/a.conf"
conf b 90 >"$W/b.conf"

ns_of() { [ "$1" = a ] && echo "$A" || echo "$B"; }
start() { # a|b
    local ns; ns=$(ns_of "$1")
    rm -f "$W/$1.pid"
    # SOAK_WRAP_A="valgrind --tool=massif ..." runs A's daemon under a tool
    # (with GLIBC_TUNABLES=glibc.malloc.tcache_count=0 in the environment,
    # as the daemon would re-exec itself out of the tool to get it).
    local wrap=()
    [ "$1" = a ] && [ -n "${SOAK_WRAP_A:-}" ] && read -r -a wrap <<<"$SOAK_WRAP_A"
    [ ${#wrap[@]} -gt 0 ] && wrap=(env GLIBC_TUNABLES=glibc.malloc.tcache_count=0 "${wrap[@]}")
    TMPDIR=$W ip netns exec "$ns" "${wrap[@]}" "$RK" -n -l -D -G -f "$W/$1.conf" -p "$W/$1.pid" -r "$W/$1.vrrp.pid" \
        --control-socket "$W/$1.sock" --state-dir "$W/$1.state" >>"$W/$1.log" 2>&1 &
    disown
    for _ in $(seq 100); do [ -s "$W/$1.pid" ] && return; sleep 0.05; done
    echo "FAIL: the daemon on $1 did not start" >&2
    cat "$W/$1.log" >&2
    exit 1
}
pid() { cat "$W/$1.pid"; }
port() { [ "$1" = a ] && echo p1 || echo p2; }
holder() {
    local out=""
    [[ "$(ip -n "$A" -4 addr show eth0)" == *" $VIP/"* ]] && out+="A"
    [[ "$(ip -n "$B" -4 addr show eth0)" == *" $VIP/"* ]] && out+="B"
    echo "${out:-nobody}"
}
now() { date +%s%N; }
fail() {
    echo "FAIL: $* (seed $SEED)" >&2
    for h in a b; do
        echo "--- $h (last 40 lines):" >&2
        tail -40 "$W/$h.log" >&2
    done
    exit 1
}
# Waits until the VIP is on A alone (Master_Down_Interval of A at 0.1 s is
# 0.36 s; the slack covers a recovery's own steps and a loaded machine),
# then watches it for a second: it must not move.
converge() { # what
    local t0; t0=$(now)
    until [ "$(holder)" = A ]; do
        [ $(($(now) - t0)) -gt 5000000000 ] && fail "$1: not recovered in 5 s (VIP on $(holder))"
        sleep 0.02
    done
    local end=$(($(now) + 1000000000))
    while [ "$(now)" -lt $end ]; do
        [ "$(holder)" = A ] || fail "$1: after converging, VIP on $(holder)"
        sleep 0.02
    done
}
# A's descriptors, threads and anonymous memory, after the blocking pool's
# idle threads are gone (tokio lets them go after 10 s); the least of five
# looks 0.1 s apart, so a check script running at that moment (its pipes)
# does not count.
sample() {
    sleep 11
    local p fds=999999 ths=999999 f t i
    p=$(pid a)
    for i in 1 2 3 4 5; do
        f=$(ls "/proc/$p/fd" | wc -l)
        t=$(awk '/^Threads:/{print $2}' "/proc/$p/status")
        [ "$f" -lt "$fds" ] && fds=$f
        [ "$t" -lt "$ths" ] && ths=$t
        sleep 0.1
    done
    echo "$fds $ths $(awk '/^Anonymous:/{print $2}' "/proc/$p/smaps_rollup")"
}

# --- the faults: each applies, waits, recovers ---------------------------
other() { [ "$1" = a ] && echo b || echo a; }
f_sigstop() { kill -STOP "$(pid "$1")"; sleep 0.6; kill -CONT "$(pid "$1")"; }
f_partition() { ip -n "$SW" link set "$(port "$1")" nomaster; sleep 0.8; ip -n "$SW" link set "$(port "$1")" master br0; }
f_link() { ip -n "$(ns_of "$1")" link set eth0 down; sleep 0.5; ip -n "$(ns_of "$1")" link set eth0 up; }
f_vip_deleted() { local h; h=$(holder); [ "$h" = A ] && ip -n "$A" addr del "$VIP/24" dev eth0 2>/dev/null || true; }
f_check_flip() { touch "$W/$1.fail"; sleep 0.8; rm -f "$W/$1.fail"; }
f_reload() { kill -HUP "$(pid "$1")"; }
f_reload_changed() { # a changed advert_int on both, and back: a reload that changes the instance
    sed -i 's/advert_int 0.1/advert_int 0.2/' "$W/a.conf" "$W/b.conf"
    kill -HUP "$(pid a)" "$(pid b)"; sleep 1
    sed -i 's/advert_int 0.2/advert_int 0.1/' "$W/a.conf" "$W/b.conf"
    kill -HUP "$(pid a)" "$(pid b)"
}
f_sigkill() { # B only: A's daemon lives through the run for the leak checks
    kill -9 "$(pid b)"; sleep 0.5
    ip -n "$B" addr del "$VIP/24" dev eth0 2>/dev/null || true
    start b
}
# SOAK_FAULTS="sigstop link" limits the run to those faults.
read -r -a FAULTS <<<"${SOAK_FAULTS:-sigstop partition link vip_deleted check_flip reload reload_changed sigkill}"
declare -A COUNT

start a
start b
converge "start-up"
# The first WARMUP_SECONDS of faults come before the baseline: the daemon's
# heap and stack reach their working size in the first minute of faults
# (observed on 2026-12-06: 708 kB of anonymous memory at start, 736 kB
# after a minute, then 732-744 kB for 30 minutes).
WARMUP_SECONDS=${WARMUP_SECONDS:-$((SOAK_SECONDS / 3 < 60 ? SOAK_SECONDS / 3 : 60))}
echo "== soak: ${SOAK_SECONDS} s of random faults on a pair, the first ${WARMUP_SECONDS} s before the baseline (seed $SEED)"
n=0
random_faults() { # seconds
    local deadline=$(($(date +%s) + $1)) f target
    while [ "$(date +%s)" -lt "$deadline" ]; do
        f=${FAULTS[$((RANDOM % ${#FAULTS[@]}))]}
        target=$([ $((RANDOM % 2)) = 0 ] && echo a || echo b)
        "f_$f" "$target"
        converge "$f on $target"
        COUNT[$f]=$((${COUNT[$f]:-0} + 1))
        n=$((n + 1))
        if [ "$(date +%s)" -ge "$next_look" ]; then
            series+=" $(awk '/^Anonymous:/{print $2}' "/proc/$(pid a)/smaps_rollup")"
            next_look=$((next_look + 60))
        fi
    done
}
next_look=$(($(date +%s) + 60))
series="$(awk '/^Anonymous:/{print $2}' "/proc/$(pid a)/smaps_rollup")"
# One of each first, then random ones.
for f in "${FAULTS[@]}"; do
    target=$([ $((RANDOM % 2)) = 0 ] && echo a || echo b)
    "f_$f" "$target"
    converge "$f on $target (warm-up)"
    COUNT[$f]=$((${COUNT[$f]:-0} + 1))
    n=$((n + 1))
done
random_faults "$WARMUP_SECONDS"
read -r fd0 th0 anon0 <<<"$(sample)"
[ -n "$fd0" ] && [ -n "$th0" ] && [ -n "$anon0" ] || fail "no baseline sample"
echo "   baseline of A's daemon after the warm-up: $fd0 fds, $th0 threads, $anon0 kB anonymous"
random_faults "$((SOAK_SECONDS - WARMUP_SECONDS))"
read -r fd1 th1 anon1 <<<"$(sample)"
grep -h "Entering .* STATE" "$W/a.log" | sed 's/^/A /' >"$W/transitions"
grep -h "Entering .* STATE" "$W/b.log" | sed 's/^/B /' >>"$W/transitions"
echo "   $n faults, every one recovered: $(for f in "${FAULTS[@]}"; do printf '%s %s, ' "$f" "${COUNT[$f]:-0}"; done)"
echo "   transitions recorded: $(wc -l <"$W/transitions") (A $(grep -c '^A' "$W/transitions"), B $(grep -c '^B' "$W/transitions"))"
echo "   A's daemon at the end: $fd1 fds, $th1 threads, $anon1 kB anonymous (kB each minute from the start: $series $anon1)"
[ "$fd1" = "$fd0" ] || fail "file descriptors: $fd0 after the warm-up, $fd1 at the end"
[ "$th1" = "$th0" ] || fail "threads: $th0 after the warm-up, $th1 at the end"
[ $((anon1 * 100)) -le $((anon0 * 105)) ] || fail "anonymous memory grew: $anon0 kB to $anon1 kB (over 5 %)"
grep -q "panicked" "$W/a.log" "$W/b.log" && fail "a daemon panicked"

echo "== the simulated LAN: $SIM_CASES random schedules of 10^4 virtual seconds"
PROPTEST_CASES=$SIM_CASES cargo test -q --lib vrrp::sim_tests::schedules::random_schedules
echo "== soak passed (seed $SEED)"
