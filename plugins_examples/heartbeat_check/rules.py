"""Pure logic of heartbeat_check, importable and testable without the engine."""


def silent_hosts(rows, now_ns, silence_s):
    """Hosts whose last heartbeat is older than `silence_s` seconds at `now_ns`."""
    limit = silence_s * 1_000_000_000
    return {row["host"] for row in rows if now_ns - row["last_seen"] > limit}


def changes(previous, current):
    """(host, "silent" | "back") for every host whose state changed, sorted by host."""
    gone = [(host, "silent") for host in current - previous]
    back = [(host, "back") for host in previous - current]
    return sorted(gone + back)
