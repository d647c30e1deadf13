"""Small helpers shared by both federated engines (the deployment runtime and the legacy one) for
the processes they start on this machine: a free loopback port and the end of a process's log.
Standard library only."""

import socket
from pathlib import Path

#: How much of a failed process's log an error message quotes.
LOG_TAIL_CHARS = 1500


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(path: Path) -> str:
    """The last :data:`LOG_TAIL_CHARS` characters of a log file, or ``"(no log)"``."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
    except OSError:
        return "(no log)"
