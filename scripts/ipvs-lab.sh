#!/bin/bash
# IPVS lab: runs a command inside a QEMU guest booted on Debian's stock
# kernel (which has IPVS; the machine's own kernel may not), with the
# host's root mounted read-only, a writable /tmp and /run, and every
# module the LVS tests use loaded. Prints the command's output and exits
# with its exit code.
#
#   scripts/ipvs-lab.sh CMD [ARG...]      (as root)
#   scripts/ipvs-lab.sh --check           exit 0 if the lab can run here
#
# Environment:
#   LAB_TIMEOUT  seconds before the guest is stopped (default 1200; exit 124)
#   LAB_MEM      guest memory in MiB (default 2048)
#   LAB_CPUS     guest CPUs (default: the host's, at most 4)
#   LAB_CACHE    where the kernel and initramfs are kept
#                (default /var/cache/rkeepalived-lab)
#
# Inside the guest the command runs as root in the host's file system
# (read-only: write under /tmp, /run or $LAB_OUT), with RK_IN_LAB=1 and
# the caller's working directory. Every test namespace is made by the
# command itself, as on the host.
#
# Exit codes: CMD's own; 125 the lab could not be set up or booted;
# 124 the time limit was reached.
set -uo pipefail

die() { echo "ipvs-lab: $*" >&2; exit 125; }
[ "$(id -u)" = 0 ] || die "run as root"
[ $# -gt 0 ] || die "usage: scripts/ipvs-lab.sh CMD [ARG...]"

CACHE=${LAB_CACHE:-/var/cache/rkeepalived-lab}
TIMEOUT=${LAB_TIMEOUT:-1200}
MEM=${LAB_MEM:-2048}
CPUS=${LAB_CPUS:-$(nproc)}
[ "$CPUS" -gt 4 ] && CPUS=4

# What the lab needs from Debian. A policy-rc.d that refuses every start
# keeps any service a package brings from starting on this machine.
ensure_packages() {
    local need=() p
    for p in qemu-system-x86 kmod busybox-static ipvsadm keepalived iproute2 procps; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    echo "ipvs-lab: installing ${need[*]}" >&2
    local policy=/usr/sbin/policy-rc.d ours=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 0755 "$policy"; ours=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    local rc=$?
    [ -n "$ours" ] && rm -f "$policy"
    return $rc
}

# Debian's stock kernel, unpacked (never installed: its postinst wants
# initramfs-tools), its modules where the guest's modprobe finds them.
ensure_kernel() {
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [ -z "$pkg" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    [ -n "$pkg" ] || return 1
    KVER=${pkg#linux-image-}
    local dir=$CACHE/$KVER
    if [ ! -f "$dir/vmlinuz" ]; then
        rm -rf "$dir" && mkdir -p "$dir/pkg" || return 1
        # apt's sandbox user cannot write into a root-only cache.
        (cd "$dir" && apt-get download -qq -o APT::Sandbox::User=root "$pkg") || return 1
        dpkg -x "$dir"/*.deb "$dir/pkg" || return 1
        cp "$dir/pkg/boot/vmlinuz-$KVER" "$dir/vmlinuz.tmp" && mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
    fi
    if [ ! -f "/lib/modules/$KVER/modules.dep" ] || [ ! -d "/lib/modules/$KVER/kernel/net/netfilter/ipvs" ]; then
        [ -d "$dir/pkg/lib/modules/$KVER" ] || { rm -f "$dir/vmlinuz"; return 1; }
        mkdir -p /lib/modules && cp -a "$dir/pkg/lib/modules/$KVER" /lib/modules/ && depmod "$KVER" || return 1
    fi
    rm -rf "$dir/pkg" "$dir"/*.deb
    VMLINUZ=$dir/vmlinuz
    INITRD=$dir/initrd.gz
    [ -f "$INITRD" ] || build_initrd "$dir" || return 1
}

# A busybox initramfs that loads virtio and 9p, mounts the host's root
# read-only and runs /lab/run in a chroot of it.
build_initrd() {
    local dir=$1 root m
    root=$(mktemp -d) || return 1
    mkdir -p "$root"/{bin,dev,proc,sys,newroot,modules}
    cp /bin/busybox "$root/bin/busybox" || return 1
    for m in $(for want in virtio_pci 9pnet_virtio 9p; do modprobe -S "$KVER" --show-depends "$want"; done | awk '$1 == "insmod" {print $2}'); do
        [ -f "$root/modules/$(basename "$m")" ] && continue
        cp "$m" "$root/modules/" || return 1
        basename "$m" >>"$root/modules/order"
    done
    cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /newroot || { echo LAB-NO-ROOT; poweroff -f; }
for d in proc sys dev; do mount --rbind /$d /newroot/$d; done
mount -t tmpfs tmp /newroot/tmp; mount -t tmpfs run /newroot/run
mkdir -p /newroot/run/lab
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 lab /newroot/run/lab || { echo LAB-NO-SHARE; poweroff -f; }
chroot /newroot /bin/bash /run/lab/run
poweroff -f
INIT
    chmod 0755 "$root/init"
    (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$dir/initrd.tmp") || return 1
    mv "$dir/initrd.tmp" "$INITRD"
    rm -rf "$root"
}

# Probes: can this machine boot the lab at all?
lab_ready() {
    ensure_packages || { echo "the lab's Debian packages could not be installed" >&2; return 1; }
    command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 is missing" >&2; return 1; }
    ensure_kernel || { echo "Debian's stock kernel (linux-image-amd64) could not be fetched or unpacked" >&2; return 1; }
}

if [ "$1" = "--check" ]; then
    lab_ready
    exit $?
fi
lab_ready || die "the lab cannot run on this machine"

JOB=$(mktemp -d /var/tmp/rklab.XXXXXX) || die "no job directory"
trap 'rm -rf "$JOB"' EXIT
{
    echo '#!/bin/bash'
    echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root RK_IN_LAB=1 LAB_OUT=/run/lab/out'
    # The caller's environment that a test run needs (cargo, rust, CI).
    for v in CI RUST_BACKTRACE RUST_LOG RK_LAB_FILTER CARGO_TARGET_DIR TMPDIR_KEEP; do
        [ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
    done
    echo 'mkdir -p /run/lab/out'
    # devtmpfs has no /dev/fd (udev makes it): bash's <(...) needs it.
    echo '[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd'
    # Everything the LVS tests use: nothing loads on demand in the guest.
    echo 'for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh ip_vs_twos ip_vs_ftp veth bridge dummy macvlan ipip ip6_tunnel tunnel4 tunnel6 nf_conntrack xt_mark af_packet; do modprobe -q $m 2>/dev/null; done'
    echo 'sysctl -qw net.ipv4.ip_forward=1 kernel.panic_on_oops=1 >/dev/null 2>&1'
    echo 'ip link set lo up'
    printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
    printf '%q ' "$@"
    echo '>/run/lab/output 2>&1 </dev/null'
    echo 'echo $? >/run/lab/rc'
    echo 'sync'
} >"$JOB/run"

start=$(date +%s)
timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -m "$MEM" -smp "$CPUS" \
    -kernel "$VMLINUZ" -initrd "$INITRD" \
    -append 'console=ttyS0 panic=-1 loglevel=3 quiet' \
    -nographic -no-reboot -nic none \
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
    -virtfs local,path="$JOB",mount_tag=lab,security_model=none,multidevs=remap \
    </dev/null >"$JOB/console" 2>&1
qrc=$?
[ -f "$JOB/output" ] && cat "$JOB/output"
if [ -f "$JOB/rc" ]; then
    rc=$(cat "$JOB/rc")
    echo "ipvs-lab: guest ${KVER} ran for $(($(date +%s) - start)) s, exit $rc" >&2
    exit "$rc"
fi
if [ $qrc -eq 124 ]; then
    echo "ipvs-lab: time limit of ${TIMEOUT} s reached" >&2
    tail -20 "$JOB/console" >&2
    exit 124
fi
echo "ipvs-lab: the guest ended without an exit code (qemu $qrc); its console:" >&2
tail -40 "$JOB/console" >&2
exit 125
