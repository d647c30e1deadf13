"""The OpenAPI 3.1 document, generated from the registered operations and their pydantic models."""
from __future__ import annotations

import re

from flask import Blueprint, Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from edge import __version__
from edge.api.api_page import render_html
from edge.api.operations import OPERATIONS, Operation, operation
from edge.schemas import ErrorResponse

blueprint = Blueprint("openapi", __name__, url_prefix="/api/v1")

PATH_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
CONVERTER_TYPES = {"int": "integer", "float": "number"}
REF_TEMPLATE = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _path_and_parameters(rule: str) -> tuple[str, list[dict]]:
    parameters = [
        {
            "name": match["name"],
            "in": "path",
            "required": True,
            "schema": {"type": CONVERTER_TYPES.get(match["converter"] or "", "string")},
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


def _operation_object(op: Operation) -> dict:
    path_params = _path_and_parameters(op.rule)[1]
    query_params = _query_parameters(op.query) if op.query else []
    entry: dict = {
        "operationId": op.endpoint.replace(".", "_"),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": path_params + query_params,
        "responses": {
            str(op.status): {
                "description": "Success",
                **({"content": {"application/json": {"schema": _ref(op.response)}}} if op.response else {}),
            },
            "4XX": {"description": "Client error", "content": {"application/json": {"schema": _ref(ErrorResponse)}}},
        },
    }
    if op.body is not None:
        entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    if op.form is not None:
        form_schema = {
            "allOf": [_ref(op.form), {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                                      "required": ["file"]}]
        }
        entry["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": form_schema}}}
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
    paths: dict = {}
    for op in OPERATIONS:
        path, _ = _path_and_parameters(op.rule)
        paths.setdefault(path, {})[op.method.lower()] = _operation_object(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ildscreen clinic service",
            "version": version,
            "description": "ILD screening at the clinic edge. Not for clinical use until validated.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
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
