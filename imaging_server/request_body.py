"""Reading a JSON request body on the hospital server, before any route looks inside it.

Every route that takes JSON (referrals, programme figures, nodule reviews, ILD reads) reads it
here, so a body that is not JSON, nests deeper than any contract needs (``[`` x 5000 exhausts
the parser's stack), or holds a lone surrogate (``"\\ud800"``: valid JSON that cannot be stored
or hashed as UTF-8) is a 400/422 naming where, never a 500.
"""
from __future__ import annotations

import json

from flask import request

from imaging_server.errors import MalformedRequest, ValidationError
from tabular_models.text_formats import unsafe_json

#: Deepest nesting a body may have: a referral bundle needs 6 (Bundle > entry > item > resource
#: > code > coding), the figures 4.
MAX_BODY_DEPTH = 16


def json_body(*, empty=None) -> object:
    """The parsed body; ``empty`` stands for a body of no bytes when not None.

    Raises
    ------
    MalformedRequest
        Not JSON, or nested deeper than ``MAX_BODY_DEPTH``.
    ValidationError
        A string or key that is not valid Unicode, naming its field.
    """
    raw = request.get_data(cache=False)
    if not raw and empty is not None:
        return empty
    try:
        # NaN and Infinity parse: each route's validation names the field that holds one
        data = json.loads(raw)
    except RecursionError:
        raise MalformedRequest(f"request body nests deeper than {MAX_BODY_DEPTH} levels",
                               fields=[{"field": "body", "reason": "nested too deeply"}]) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest("request body is not valid JSON",
                               fields=[{"field": "body", "reason": "not JSON"}]) from exc
    problem = unsafe_json(data, max_depth=MAX_BODY_DEPTH)
    if problem is not None:
        field, reason = problem
        error = MalformedRequest if reason.startswith("nests") else ValidationError
        raise error(f"request body: {field} {reason}", fields=[{"field": field, "reason": reason}])
    return data


def json_object_body() -> dict:
    """A body that must be a JSON object (no bytes counts as ``{}``)."""
    body = json_body(empty={})
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", fields=[{"field": "body", "reason": "not an object"}])
    return body
