"""Opening a server's listening socket before anything else happens.

``ildscreen serve`` and ``ildscreen imaging-server serve`` bind their port first: a second
service started on a busy port must stop with one line before it creates a data folder, prints
an admin password or touches the running service's pid file.
"""
from __future__ import annotations

import errno
import socket

# waitress's default listen backlog.
LISTEN_BACKLOG = 1024


class PortUnavailable(Exception):
    """The address and port to serve on cannot be bound; ``message`` says which and why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``, for ``waitress.serve(app, sockets=[...])``.

    Raises
    ------
    PortUnavailable
        The port is in use, the address is not this machine's, or binding is not allowed.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        # create_server sets SO_REUSEADDR (a restart is not refused over TIME_WAIT connections),
        # which on Linux still refuses a port another socket listens on.
        return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(f"port {port} on {host} is already in use (another ildscreen serve?); "
                                  "nothing was started") from exc
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}; nothing was started") from exc
