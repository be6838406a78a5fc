# shellcheck shell=bash
# remove_hosts NAMESPACE...: kills every process in them and deletes them.
remove_hosts() {
    local h
    for h in "$@"; do
        ip netns pids "$h" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$h" 2>/dev/null || true
    done
}

# make_hosts SWITCH NET HOST...: a bridge in namespace SWITCH and, for each
# HOST (a namespace name), a veth into it as eth0 with NET.<n>/24, n = 1, 2, …
make_hosts() {
    local sw=$1 net=$2 i=1 h
    shift 2
    ip netns add "$sw"
    ip -n "$sw" link add br0 type bridge forward_delay 0
    ip -n "$sw" link set br0 up
    for h in "$@"; do
        ip netns add "$h"
        ip -n "$sw" link add "p$i" type veth peer name eth0 netns "$h"
        ip -n "$sw" link set "p$i" master br0 up
        ip -n "$h" link set lo up
        ip -n "$h" addr add "$net.$i/24" dev eth0
        ip -n "$h" link set eth0 up
        i=$((i + 1))
    done
}

# lab_up WORKDIR SWITCH NET HOST...: the hosts of make_hosts (leftovers of
# an interrupted run removed first); when the script exits, they and
# WORKDIR are removed.
lab_up() {
    LAB_WORK=$1
    shift
    LAB_NS=("$1" "${@:3}")
    trap 'remove_hosts "${LAB_NS[@]}"; rm -rf "$LAB_WORK"' EXIT
    remove_hosts "${LAB_NS[@]}"
    make_hosts "$@"
}
