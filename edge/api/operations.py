"""Declaring an API operation once: route, auth, validation, response shape and OpenAPI entry.

Each view is wrapped so that, before it runs, the caller is authenticated (session cookie with
CSRF token, or bearer token), the role is checked, and the JSON body and query string are
validated against pydantic models; its return value is validated against the response model,
so the OpenAPI document cannot drift from what the API sends.
"""
from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Callable, Optional

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError as PydanticValidationError
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from edge import auth
from edge.audit import Actor
from edge.errors import (
    AuthenticationError,
    MalformedRequest,
    PasswordChangeRequired,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationError,
)
from edge.schemas import MAX_ID
from tabular_models.text_formats import json_depth
from edge.store.database import write_transaction

logger = logging.getLogger(__name__)

SESSION_COOKIE = "ildscreen_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_JSON_BYTES = 1024 * 1024
# Deeper JSON is refused with a 400 before it is validated or stored: nothing the clinic sends
# nests beyond a FHIR Bundle's ~7 levels, and a deeply nested value broke every later read.
MAX_JSON_DEPTH = 20
CLINICAL_ROLES = ("nurse", "clinician")
ADMIN_ROLES = ("admin",)
ANY_ROLE = ("nurse", "clinician", "admin")


class IdConverter(IntegerConverter):
    """``<int:...>`` path parameters: an id beyond SQLite's integers names no record (404)."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            # Raised while routing: Flask answers it like any 404 (not a 405 for the other routes).
            raise NotFound(f"no record with id {value}")
        return number


@dataclass
class Operation:
    """One documented API operation."""

    rule: str
    method: str
    endpoint: str
    summary: str
    tag: str
    roles: Optional[tuple[str, ...]]
    body: Optional[type[BaseModel]] = None
    form: Optional[type[BaseModel]] = None
    query: Optional[type[BaseModel]] = None
    response: Optional[type[BaseModel]] = None
    status: int = 200
    path_params: list[str] = field(default_factory=list)
    unavailable: Optional[str] = None
    errors: tuple[int, ...] = ()
    never_answers: tuple[int, ...] = ()
    produces: tuple[str, ...] = ()
    replay: Optional[str] = None


OPERATIONS: list[Operation] = []


@dataclass(frozen=True)
class Replayed:
    """A view's answer to a request that repeats one already done (a double tap, a re-send after
    a timeout): the record stored the first time (or, for a discard, what was discarded), sent with
    200 instead of the operation's 201 (or 204), as the hospital server answers a replayed referral.
    Only for operations declared with ``replay``."""

    record: dict


def validation_error(exc: PydanticValidationError, *, prefix: str = "") -> ValidationError:
    """Turn pydantic's errors into one naming each field and its reason."""
    fields = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "body"
        reason = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        if error["type"] == "literal_error":
            reason = f"unknown value {error['input']!r}; {reason[0].lower()}{reason[1:]}"
        if reason.startswith("Value error, "):
            reason = reason[len("Value error, "):]
        fields.append({"field": prefix + name, "reason": reason})
    summary = "; ".join(f"{item['field']}: {item['reason']}" for item in fields)
    return ValidationError(f"invalid request: {summary}", fields=fields)


def parse_model(model: type[BaseModel], data: object, *, prefix: str = "") -> BaseModel:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise validation_error(exc, prefix=prefix) from exc


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def json_body(model: type[BaseModel]) -> BaseModel:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BYTES} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BYTES} bytes")
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        raise MalformedRequest("request body is not valid JSON") from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise MalformedRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(data, dict):
        raise MalformedRequest(f"request body must be a JSON object, got {type(data).__name__}")
    return parse_model(model, data)


def form_fields(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("send the upload as multipart/form-data")
    return parse_model(model, request.form.to_dict())


def set_session_cookie(response: Response, grant: auth.SessionGrant, settings) -> Response:
    """The browser session cookie, the same for the API's and the tablet UI's login."""
    response.set_cookie(SESSION_COOKIE, grant.token, max_age=int(settings.session_hours * 3600), httponly=True,
                        samesite="Lax", secure=settings.secure_cookies, path="/")
    return response


def authenticate(roles: tuple[str, ...], *, allow_pending_password: bool = False) -> Actor:
    """Identify the caller and check the role; sets ``g.actor`` and ``g.user``."""
    db = current_app.extensions["ildscreen"].db()
    header = request.headers.get("Authorization", "")
    g.token_hash = None
    if header.startswith("Bearer "):
        user = auth.token_user(db, header[len("Bearer "):].strip())
        g.token_hash = auth.hash_token(header[len("Bearer "):].strip())
    elif request.cookies.get(SESSION_COOKIE):
        user, session = auth.session_user(db, request.cookies[SESSION_COOKIE])
        if request.method not in SAFE_METHODS:
            auth.check_csrf(session, request.headers.get(CSRF_HEADER))
    else:
        raise AuthenticationError("log in first: no session cookie or bearer token")
    if user["must_change_password"] and not allow_pending_password:
        raise PasswordChangeRequired("change the one-time password first (POST /api/v1/auth/password)")
    if user["role"] not in roles:
        raise PermissionDenied(f"the {user['role']} role cannot do this; it needs one of: {', '.join(roles)}")
    g.user = user
    g.actor = Actor(user["id"], user["username"], user["role"])
    return g.actor


def operation(
    blueprint: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    roles: Optional[tuple[str, ...]],
    body: Optional[type[BaseModel]] = None,
    form: Optional[type[BaseModel]] = None,
    query: Optional[type[BaseModel]] = None,
    response: Optional[type[BaseModel]] = None,
    status: int = 200,
    allow_pending_password: bool = False,
    unavailable: Optional[str] = None,
    errors: tuple[int, ...] = (),
    never_answers: tuple[int, ...] = (),
    produces: tuple[str, ...] = (),
    atomic: bool = False,
    replay: Optional[str] = None,
) -> Callable:
    """Register ``view`` on ``blueprint`` and in the OpenAPI registry.

    The view receives path parameters plus ``body``, ``form`` and ``query`` (validated models)
    when declared, and returns a dict (validated against ``response``) or None (204).
    ``roles=None`` makes the operation public. For the document: ``unavailable`` says when it
    answers 503 (a model or a device it needs is unavailable), ``errors`` lists error statuses
    beyond those its declaration implies (see ``edge.api.openapi``), ``never_answers`` those its
    declaration implies that it never answers (a write that cannot conflict), ``produces`` the media
    types of a binary response, ``replay`` what makes a request the same one again (the 200's
    description in the document): the view may then answer :class:`Replayed` (200, validated
    against ``response``) instead of ``status``. A 204 operation's ``response`` is its replay's body.

    ``atomic`` runs the view and the validation of its response in one transaction, so a write
    that fails after writing leaves nothing written. Not for uploads and device captures (they
    decode and score outside the write lock, then store in one short transaction) nor for
    logins (a failed one must still count towards the lockout).
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(**path_args):
            if roles is not None:
                authenticate(roles, allow_pending_password=allow_pending_password)
            kwargs = dict(path_args)
            if body is not None:
                kwargs["body"] = json_body(body)
            if form is not None:
                kwargs["form"] = form_fields(form)
            if query is not None:
                kwargs["query"] = parse_model(query, request.args.to_dict(), prefix="query.")
            if not atomic:
                return _respond(view(**kwargs))
            with write_transaction(current_app.extensions["ildscreen"].db()):
                return _respond(view(**kwargs))

        def _respond(result):
            answered = status
            if isinstance(result, Replayed):
                if replay is None:
                    raise TypeError(f"{view.__name__} answered Replayed but declares no replay")
                result, answered = result.record, 200
            if result is None:
                return "", 204
            if isinstance(result, Response):  # views that set cookies build their own response
                return result
            if response is not None:
                result = response.model_validate(result).model_dump(mode="json")
            return jsonify(result), answered

        blueprint.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=[method])
        prefix = blueprint.url_prefix or ""
        OPERATIONS.append(
            Operation(
                rule=prefix + rule,
                method=method,
                endpoint=f"{blueprint.name}.{view.__name__}",
                summary=summary,
                tag=blueprint.name,
                roles=roles,
                body=body,
                form=form,
                query=query,
                response=response,
                status=status,
                unavailable=unavailable,
                errors=errors,
                never_answers=never_answers,
                produces=produces,
                replay=replay,
            )
        )
        return wrapper

    return decorator
