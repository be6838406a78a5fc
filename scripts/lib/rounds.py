"""The benchmarks' results files: one line per window, `IMPL ROUND key=value ...`.

Imported by the Python the bench scripts run (`sys.path` gets scripts/lib).
"""
import statistics

NAMES = {'rk': 'rkeepalived', 'ka': 'keepalived 2.2.7', 'base': 'rkeepalived (RK_BASE)'}


def read(path, discard=None):
    """The windows of PATH by implementation, in the order first seen.

    DISCARD(fields) returns a reason to leave a window out, printed, or None.
    """
    rows = {}
    for line in open(path):
        f = line.split()
        kv = dict(x.split('=', 1) for x in f[2:] if '=' in x)
        why = discard(kv) if discard else None
        if why:
            print(f"  ({f[0]} round {f[1]} discarded: {why})")
            continue
        rows.setdefault(f[0], []).append(kv)
    return rows


def median(rows, impl, key):
    return statistics.median(float(r[key]) for r in rows[impl])


def header(rows, first=''):
    """A markdown table's header: FIRST, then one column per implementation."""
    return f"| {first} | " + " | ".join(NAMES[k] for k in rows) + " |\n|---|" + "---|" * len(rows)
