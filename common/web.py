"""Flask plumbing both servers share: the route template of a request, the request log and the
error handlers that turn every error into the one JSON body shape (``common.errors``)."""
from __future__ import annotations

import logging
import secrets
import time
import traceback
from typing import Callable, Optional

from flask import Flask, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from common.errors import DomainError


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


#: Characters of the id a 500 answer and its log line share (random: never derived from the request).
REQUEST_ID_HEX = 12


def register_error_handlers(app: Flask, logger: logging.Logger, *, domain_error: type[DomainError] = DomainError,
                            too_large: Optional[Callable[[], DomainError]] = None,
                            wants_json: Callable[[], bool] = lambda: True,
                            error_page: Optional[Callable[[str, str, int], ResponseReturnValue]] = None) -> None:
    """Answer every error as ``{"error": {"code", "message"}}`` JSON, never a traceback.

    Parameters
    ----------
    domain_error
        The server's own error base; its ``status`` and ``to_json()`` are the answer.
    too_large
        The domain error a body over ``MAX_CONTENT_LENGTH`` becomes (naming the server's limit);
        None: werkzeug's 413 ``request_entity_too_large``.
    wants_json, error_page
        For a server with pages: when ``wants_json()`` is false the answer is
        ``error_page(code, detail, status)`` (a page in the user's language) instead of JSON.
        ``code`` is the domain error's code, ``http_<status>`` otherwise.

    An unexpected exception is a 500 ``internal_error`` whose message carries a random request id,
    logged with the exception's type, route template and stack (:func:`stack_without_messages`):
    the admin finds the line from the id a user reports.
    """

    def page_wanted() -> bool:
        return error_page is not None and not wants_json()

    @app.errorhandler(domain_error)
    def on_domain_error(exc: DomainError):
        if page_wanted():
            return error_page(exc.code, exc.message, exc.status)
        return jsonify(exc.to_json()), exc.status

    if too_large is not None:
        @app.errorhandler(RequestEntityTooLarge)
        def on_too_large(_exc: RequestEntityTooLarge):
            return on_domain_error(too_large())

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException):
        # Keep the exception's own headers (a 405's Allow), not its content type.
        headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]
        if page_wanted():
            page, status = error_page(f"http_{exc.code}", exc.description or "", exc.code)[:2]
            return page, status, headers
        code = (exc.name or "error").lower().replace(" ", "_")
        return jsonify({"error": {"code": code, "message": exc.description}}), exc.code, headers

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception):
        request_id = secrets.token_hex(REQUEST_ID_HEX // 2)
        logger.error("unhandled %s in %s (request id %s)\n%s", type(exc).__name__, route_rule(), request_id,
                     stack_without_messages(exc))
        if page_wanted():
            return error_page("http_500", "", 500)
        message = f"internal error; see the service log (request id {request_id})"
        return jsonify({"error": {"code": "internal_error", "message": message}}), 500


def stack_without_messages(exc: BaseException) -> str:
    """``exc``'s traceback, and those of the exceptions it was raised from, with each exception's
    type but never its message: a message may quote a value of the request (a patient code, a
    name), and the service log must hold none."""
    parts = []
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append("".join(traceback.format_tb(exc.__traceback__)) + type(exc).__qualname__)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    # Oldest first, as Python prints a chain.
    return "\n-- which led to --\n".join(reversed(parts))
