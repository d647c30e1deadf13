"""Flask plumbing both servers share: the route template of a request and the request log."""
from __future__ import annotations

import logging
import time
from typing import Callable

from flask import Flask, g, request


def route_rule() -> str:
    """The route template of this request, never its raw path or query string (they may carry
    patient codes or referral data)."""
    return request.url_rule.rule if request.url_rule else "<no route>"


def register_request_log(app: Flask, logger: logging.Logger, caller: Callable[[], str]) -> None:
    """Log one line per request: method, route template, status, milliseconds and ``caller()``
    (who asked, e.g. ``user=3``; an id or a clinic's name, never a patient's data)."""

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response):
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        logger.info("%s %s %s %.0fms %s", request.method, route_rule(), response.status_code, elapsed_ms, caller())
        return response
