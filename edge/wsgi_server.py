"""The HTTP server both services run under: waitress, with its own error answers in JSON.

waitress answers some requests itself, before the application sees them: a body over
``max_request_body_size`` (413), a malformed request line or header (400), headers too large
(431). Its answer is ``text/plain``; the services document every error as JSON
``{"error": {"code", "message"}}`` (``docs/reference/api.md``), so this channel writes those
answers in the same shape. Everything else is waitress unchanged.
"""
from __future__ import annotations

import json
import logging

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

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


def serve(app, **options) -> None:
    """Like ``waitress.serve``: bind, log where, serve until interrupted."""
    logging.basicConfig()  # as waitress.serve does; idempotent when logging is already set up
    server = create_json_error_server(app, **options)
    server.print_listen("Serving on http://{}:{}")
    server.run()
