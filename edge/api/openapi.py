"""The OpenAPI 3.1 document, generated from the registered operations and their pydantic models.

Request schemas are the pydantic models that validate the requests, so the document cannot
promise more or less than the service accepts; every status an operation can answer is listed.
"""
from __future__ import annotations

import re

from flask import Blueprint, Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from edge import __version__
from edge.api.api_page import render_html
from edge.api.operations import OPERATIONS, Operation, operation
from edge.schemas import AS_SENT_RULE, MAX_ID, ErrorResponse

blueprint = Blueprint("openapi", __name__, url_prefix="/api/v1")

PATH_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
CONVERTER_SCHEMAS = {"int": {"type": "integer", "minimum": 0, "maximum": MAX_ID}, "float": {"type": "number"}}
REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_DESCRIPTIONS = {
    400: "The body is not JSON, or nests too deeply",
    401: "Not logged in: no valid session cookie or bearer token, or the session is locked on the tablet (session_locked)",
    403: "The role may not do this, the CSRF token is missing, or the password must be changed first",
    404: "No such record",
    409: "The record's state does not allow it (e.g. a closed visit, a code already registered)",
    413: "The body or the recording is larger than the configured limits",
    415: "Wrong Content-Type",
    422: "A field failed validation; error.fields names each one",
    423: "The account is locked",
    503: "A model or device it needs is unavailable (see /readyz)",
}


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _path_and_parameters(rule: str) -> tuple[str, list[dict]]:
    parameters = [
        {
            "name": match["name"],
            "in": "path",
            "required": True,
            "schema": dict(CONVERTER_SCHEMAS.get(match["converter"] or "", {"type": "string"})),
        }
        for match in PATH_PARAMETER.finditer(rule)
    ]
    return PATH_PARAMETER.sub(lambda match: "{" + match["name"] + "}", rule), parameters


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def error_statuses(op: Operation) -> list[int]:
    """Every error status the operation can answer, from what it declares: a write may conflict
    (409) unless it declares that it never does (``never_answers``)."""
    statuses = set(op.errors)
    if op.roles is not None:
        statuses |= {401, 403}
        if op.method != "GET":
            statuses.add(409)
    if PATH_PARAMETER.search(op.rule):
        statuses.add(404)
    if op.body is not None:
        statuses |= {400, 413, 415, 422}
    if op.form is not None:
        statuses |= {413, 415, 422}
    if op.query is not None:
        statuses.add(422)
    if op.unavailable:
        statuses.add(503)
    return sorted(statuses - set(op.never_answers))


def _multipart_schema(form_schema: dict) -> dict:
    """The form model's fields plus the ``file`` part, as one object: what a client must send."""
    return {
        "type": "object",
        "properties": {**form_schema.get("properties", {}), "file": {"type": "string", "format": "binary"}},
        "required": [*form_schema.get("required", []), "file"],
        "additionalProperties": False,
    }


def _success(op: Operation, status: int) -> dict:
    if status == 204:  # no content; a response model is what the operation's replay (200) sends
        return {"description": "Success"}
    if op.produces:
        content = {media: {"schema": {"type": "string", "format": "binary"}} for media in op.produces}
        return {"description": "Success", "content": content}
    if op.response is not None:
        success = {"description": "Success", "content": {"application/json": {"schema": _ref(op.response)}}}
        if status == 202:  # accepted jobs say where to follow them
            success["description"] = "Accepted: the job runs in the background"
            success["headers"] = {"Location": {"description": "URL of the job", "schema": {"type": "string"}}}
        return success
    return {"description": "Success"}


def _operation_object(op: Operation, definitions: dict) -> dict:
    path_params = _path_and_parameters(op.rule)[1]
    query_params = _query_parameters(op.query) if op.query else []
    error = {"application/json": {"schema": _ref(ErrorResponse)}}
    responses = {str(op.status): _success(op, op.status)}
    if op.replay:
        responses["200"] = {**_success(op, 200), "description": op.replay}
    for status in error_statuses(op):
        description = ERROR_DESCRIPTIONS[status]
        if status == 503:
            description = f"{description}: {op.unavailable}"
        responses[str(status)] = {"description": description, "content": error}
    entry: dict = {
        "operationId": op.endpoint.replace(".", "_"),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": path_params + query_params,
        "responses": responses,
    }
    if op.body is not None:
        entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    if op.form is not None:
        schema = _multipart_schema(definitions[op.form.__name__])
        entry["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    if op.roles is None:
        entry["security"] = []
    else:
        entry["description"] = f"Roles: {', '.join(op.roles)}."
    return entry


def build_document(version: str) -> dict:
    """The whole OpenAPI document for the operations registered so far."""
    models = {ErrorResponse}
    for op in OPERATIONS:
        models.update(model for model in (op.body, op.form, op.query, op.response) if model is not None)
    _, definitions = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)], ref_template=REF_TEMPLATE
    )
    schemas = definitions.get("$defs", {})
    paths: dict = {}
    for op in OPERATIONS:
        path, _ = _path_and_parameters(op.rule)
        paths.setdefault(path, {})[op.method.lower()] = _operation_object(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ildscreen clinic service",
            "version": version,
            "description": f"ILD screening at the clinic edge. Not for clinical use until validated. {AS_SENT_RULE}",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "ildscreen_session"},
                "bearerAuth": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"cookieAuth": []}, {"bearerAuth": []}],
    }


@operation(blueprint, "/openapi.json", "GET", summary="This document", roles=None)
def openapi_document():
    return build_document(__version__)


@operation(blueprint, "/docs", "GET", summary="This document as a readable HTML page (no scripts, nothing fetched)",
           roles=None)
def openapi_page():
    return Response(render_html(build_document(__version__)), mimetype="text/html")
