#!/usr/bin/env python3
"""Floods a LAN with VRRPv2 adverts for one VRID, each breaking one receive
rule of RFC 3768 section 7.1 in turn, all with a priority above every router.

    ip netns exec HOST python3 scripts/flood.py --src 10.99.0.3 --vip 10.99.0.100 \
        --rate 10000 --seconds 10

Run inside a test namespace only. Prints one JSON object: the packets sent
of each kind (the names are rkeepalived's drop reasons in `status --json`).
Used by tests/e2e_flood.rs and scripts/bench-flood.sh.
"""
import argparse
import json
import socket
import struct
import time

KINDS = [
    "ttl",            # TTL 64, not 255
    "version",        # VRRP version 3 in a version 2 LAN
    "checksum",       # a wrong checksum
    "type",           # type 2, not ADVERTISEMENT
    "auth_type",      # authentication type 5 (unknown)
    "auth_mismatch",  # simple-text authentication where none is configured
    "interval",       # an advertisement interval not the configured one
    "address_list",   # a virtual address that is not the configured one
    "length",         # cut short: the address and authentication data missing
]


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def advert(kind: str, vrid: int, priority: int, vip: str, interval: int) -> bytes:
    version_type, auth, adver_int = 0x21, 0, interval
    addr, auth_data = socket.inet_aton(vip), b"\0" * 8
    if kind == "version":
        version_type = 0x31
    elif kind == "type":
        version_type = 0x22
    elif kind == "auth_type":
        auth = 5
    elif kind == "auth_mismatch":
        auth, auth_data = 1, b"secret\0\0"
    elif kind == "interval":
        adver_int = interval + 1
    elif kind == "address_list":
        addr = socket.inet_aton("192.0.2.1")
    body = struct.pack("!BBBBBBH", version_type, vrid, priority, 1, auth, adver_int, 0) + addr + auth_data
    if kind == "length":
        body = body[:8]
    c = checksum(body)
    if kind == "checksum":
        c = (c + 1) & 0xFFFF
    return body[:6] + struct.pack("!H", c) + body[8:]


def ip_packet(src: str, dst: str, ttl: int, payload: bytes) -> bytes:
    # The kernel fills in the total length and the header checksum.
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 0, 0, 0, ttl, 112, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header + payload


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--src", required=True)
    p.add_argument("--vip", required=True)
    p.add_argument("--vrid", type=int, default=51)
    p.add_argument("--priority", type=int, default=254)
    p.add_argument("--interval", type=int, default=1)
    p.add_argument("--rate", type=int, default=10000)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--dev", default="eth0")
    p.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, in turn")
    a = p.parse_args()

    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a.dev.encode())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    dst = "224.0.0.18"
    frames = []
    kinds = a.kinds.split(",")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        p.error(f"unknown kinds {unknown}; known: {KINDS}")
    for kind in kinds:
        ttl = 64 if kind == "ttl" else 255
        frames.append((kind, ip_packet(a.src, dst, ttl, advert(kind, a.vrid, a.priority, a.vip, a.interval))))
    sent = {k: 0 for k in kinds}
    total = int(a.rate * a.seconds)
    start = time.monotonic()
    n = 0
    while n < total:
        # Paced per millisecond: rate / 1000 packets, then wait for the next.
        due = min(total, int((time.monotonic() - start) * a.rate) + 1)
        while n < due:
            kind, frame = frames[n % len(frames)]
            try:
                s.sendto(frame, (dst, 0))
                sent[kind] += 1
            except OSError:  # ENOBUFS: not sent, not counted
                pass
            n += 1
        time.sleep(0.0005)
    print(json.dumps({"sent": sent, "seconds": round(time.monotonic() - start, 3)}))


if __name__ == "__main__":
    main()
