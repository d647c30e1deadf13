"""Opening a server's listening socket before anything else happens, and serving on it.

``ildscreen serve`` and ``ildscreen imaging-server serve`` bind their port first: a second
service started on a busy port must stop with one line before it creates a data folder, prints
an admin password or touches the running service's pid file.
"""
from __future__ import annotations

import errno
import json
import logging
import socket

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

from common.errors import DomainError

# waitress's default listen backlog.
LISTEN_BACKLOG = 1024


class PortUnavailable(DomainError):
    """The address and port to serve on cannot be bound; ``message`` says which and why.

    Raised at start-up, before there is a server to answer over HTTP: a domain error so that both
    services' commands (``ildscreen serve``, ``ildscreen imaging-server serve``) print it as their
    other domain errors, in one line (``edge.commands.models.domain_errors``)."""

    status = 503
    code = "port_unavailable"


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


#: waitress's reasons -> the error codes the services use for the same condition.
ERROR_CODES = {413: "payload_too_large", 400: "malformed_request"}


class JsonErrorTask(ErrorTask):
    """waitress's own error response, as the services' JSON error body."""

    def execute(self):
        error = self.request.error
        code = ERROR_CODES.get(error.code, error.reason.lower().replace(" ", "_"))
        body = json.dumps({"error": {"code": code, "message": f"{error.reason}: {error.body}"}}).encode("utf-8")
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def create_json_error_server(app, **options):
    """``waitress.create_server`` whose own error answers are JSON (bound, not yet running)."""
    server = create_server(app, **options)
    server.channel_class = JsonErrorChannel
    return server


def serve_json_errors(app, **options) -> None:
    """Like ``waitress.serve`` (``sockets=[bind_listener(...)]`` or host and port), with waitress's
    own error answers (a body over ``max_request_body_size``: 413; a malformed request: 400)
    written as the services' JSON error ``{"error": {"code", "message"}}`` instead of text/plain."""
    logging.basicConfig()  # as waitress.serve does; idempotent when logging is already set up
    server = create_json_error_server(app, **options)
    server.print_listen("Serving on http://{}:{}")
    server.run()
