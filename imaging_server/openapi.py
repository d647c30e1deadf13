"""The hospital server's API contract as an OpenAPI 3.1 document (``GET /api/v1/openapi.json``).

Written out here rather than generated: the routes validate by hand (each refusal names its
field), so the document states what they accept and answer. ``tests/imaging_server/
test_imaging_api_contract_served.py`` runs schemathesis with every check against a real server to keep
the two in step. The HTML pages (``/programme``, its sign-in and sign-out forms, ``/reader``) are not API.
"""
from __future__ import annotations

from imaging_server import ALGORITHM_VERSION
from imaging_server.fhir_report import ILD_PATTERNS, ILD_STATUSES
from imaging_server.ild_read import MAX_COMMENT_CHARS
from imaging_server.programme_figures import Figures
from imaging_server.referrals import MAX_TEXT_CHARS, MAX_TEXTS, PRIORITIES, REFERRAL_CODE_PATTERN, VIEW_STATUSES
from imaging_server.store import CLINIC_NAME_PATTERN
from imaging_server.worklist import MAX_PAGE_SIZE, MUST_NOT_MISS

ERRORS = {
    400: "The body is not JSON, or nests too deeply",
    401: "No bearer token, or an unknown one",
    403: "A known token of another kind (clinic, reader, programme viewer)",
    404: "No such referral for this token, or no such nodule",
    409: "The referral's state does not allow it (no report yet), or an Idempotency-Key reused",
    413: "The body is larger than 1 MB",
    415: "The body is not JSON",
    422: "A field failed validation; error.fields names each one",
}
ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "object", "required": ["field", "reason"], "properties": {
            "field": {"type": "string"}, "reason": {"type": "string"}}}}}}},
}
CODE = {"name": "code", "in": "path", "required": True,
        "schema": {"type": "string", "pattern": REFERRAL_CODE_PATTERN.pattern}}
NUMBER = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
ANY_OBJECT = {"type": "object"}
REFERRAL_STATUS = {
    "type": "object", "required": ["referral_code", "status", "updated_at", "error"],
    "properties": {"referral_code": {"type": "string"}, "status": {"type": "string", "enum": list(VIEW_STATUSES)},
                   "updated_at": {"type": "string"}, "error": {"type": ["string", "null"]}},
}
WORKLIST_ITEM_PROPERTIES = {
    "referral_code": {"type": "string"}, "clinic": {"type": "string"},
    "clinic_revoked": {"type": "boolean", "description": "The hospital revoked the clinic's access; its referrals stay"},
    "priority": {"type": "string", "enum": list(PRIORITIES)},
    "status": {"type": "string", "enum": list(VIEW_STATUSES)}, "received_at": {"type": "string"},
    "must_not_miss": {"type": "array", "items": {"type": "string", "enum": list(MUST_NOT_MISS)}},
}
WORKLIST = {
    "type": "object", "required": ["referrals", "next_after"],
    "properties": {"referrals": {"type": "array", "maxItems": MAX_PAGE_SIZE, "items": {
        "type": "object", "required": list(WORKLIST_ITEM_PROPERTIES), "properties": WORKLIST_ITEM_PROPERTIES}},
        "next_after": {"type": ["string", "null"], "description": "Pass as after for the next page; null on the last"}},
}
WORKLIST_PARAMETERS = (
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
     "description": "Referrals per page (default 50)"},
    {"name": "after", "in": "query", "schema": {"type": "string", "pattern": REFERRAL_CODE_PATTERN.pattern},
     "description": "The last referral code of the page before (next_after)"},
    # An empty filter is none (the worklist page's "All").
    {"name": "status", "in": "query", "style": "form", "explode": True,
     "schema": {"type": "array", "items": {"type": "string", "enum": ["", *VIEW_STATUSES]}}},
    {"name": "priority", "in": "query", "style": "form", "explode": True,
     "schema": {"type": "array", "items": {"type": "string", "enum": ["", *PRIORITIES]}}},
    {"name": "clinic", "in": "query", "schema": {"type": "string", "pattern": f"^$|{CLINIC_NAME_PATTERN}"}},
)
CLINIC_TEXT = {"type": "string", "maxLength": MAX_TEXT_CHARS}
READER_REFERRAL = {
    "type": "object", "required": [*WORKLIST_ITEM_PROPERTIES, "reasons", "notes"],
    "properties": {
        **WORKLIST_ITEM_PROPERTIES,
        "reasons": {"type": "array", "maxItems": MAX_TEXTS, "items": CLINIC_TEXT},
        "notes": {"type": "array", "maxItems": MAX_TEXTS, "items": {
            "type": "object", "required": ["kind", "text"],
            "properties": {"kind": {"type": ["string", "null"]}, "text": CLINIC_TEXT}}},
        "observation_notes": {"type": "array", "items": {
            "type": "object", "required": ["observation", "code", "text"],
            "properties": {"observation": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]},
                           "text": CLINIC_TEXT}}},
    },
}
ILD_READ = {
    "type": "object", "required": ["ild"], "additionalProperties": False,
    "properties": {
        "ild": {"type": "string", "enum": list(ILD_STATUSES)},
        "pattern": {"enum": [*ILD_PATTERNS, None]},
        "extent_percent": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "comment": {"type": ["string", "null"], "maxLength": MAX_COMMENT_CHARS},
    },
}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _operation(summary: str, token: str, success: dict, errors: tuple[int, ...], *, body: dict | None = None,
               parameters: tuple[dict, ...] = ()) -> dict:
    responses = {str(status): answer for status, answer in success.items()}
    for status in sorted({401, 403, *errors}):
        responses[str(status)] = {"description": ERRORS[status], "content": _json({"$ref": "#/components/schemas/Error"})}
    operation = {"summary": f"{summary} ({token} token)", "security": [{"bearer": []}], "responses": responses}
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    return operation


def _ok(description: str, schema: dict = ANY_OBJECT) -> dict:
    return {"description": description, "content": _json(schema)}


BODY_ERRORS = (400, 413, 415, 422)


def openapi_document() -> dict:
    """The OpenAPI 3.1 document of every JSON route."""
    created = {"type": "object", "required": ["referral_code", "status", "accession_number"],
               "properties": {"referral_code": {"type": "string"}, "status": {"type": "string"},
                              "accession_number": {"type": "string"}}}
    idempotency = {"name": "Idempotency-Key", "in": "header", "required": True,
                   "schema": {"type": "string", "pattern": REFERRAL_CODE_PATTERN.pattern},
                   "description": "The ServiceRequest's referral code: a replay is answered 200, not a second referral"}
    reader = (CODE,)
    paths = {
        "/api/v1/referrals": {"post": _operation(
            "Create a referral from a FHIR R4 Bundle (idempotent)", "clinic",
            {201: _ok("Created", created), 200: _ok("A replay of the same bundle", created)}, (*BODY_ERRORS, 409),
            body={"type": "object", "description": "FHIR R4 Bundle: imaging_server/README.md"},
            parameters=(idempotency,))},
        "/api/v1/referrals/{code}": {"get": _operation(
            "A referral's status", "clinic", {200: _ok("Status", REFERRAL_STATUS)}, (404,), parameters=(CODE,))},
        "/api/v1/referrals/{code}/revoke": {"post": _operation(
            "Revoke a referral the clinic withdrew (its ServiceRequest becomes revoked; again is 200 too)", "clinic",
            {200: _ok("Revoked", REFERRAL_STATUS)}, (404, 409), parameters=(CODE,))},
        "/api/v1/referrals/{code}/report": {"get": _operation(
            "The report: metrics, FHIR DiagnosticReport, algorithm", "clinic", {200: _ok("Report")}, (404, 409),
            parameters=(CODE,))},
        "/api/v1/programme/figures": {"post": _operation(
            "A clinic's monthly programme figures (aggregates only)", "clinic",
            {201: _ok("Stored"), 200: _ok("A replay of the same figures")}, (*BODY_ERRORS, 409),
            body={"$ref": "#/components/schemas/Figures"})},
        "/api/v1/programme/dashboard": {"get": _operation(
            "The programme view's figures", "programme viewer", {200: _ok("Dashboard")}, ())},
        "/api/v1/reader/referrals": {"get": _operation(
            "The worklist a page at a time, most urgent first, with its must-not-miss markers", "reader",
            {200: _ok("Worklist", WORKLIST)}, (422,), parameters=WORKLIST_PARAMETERS)},
        "/api/v1/reader/referrals/{code}": {"get": _operation(
            "A referral with the clinic's reasons and notes (the advice first)", "reader",
            {200: _ok("Referral", READER_REFERRAL)}, (404,), parameters=reader)},
        "/api/v1/reader/referrals/{code}/nodules": {
            "get": _operation("A report's nodules", "reader", {200: _ok("Nodules")}, (404, 409), parameters=reader),
            "post": _operation("Add a nodule the algorithm missed", "reader", {201: _ok("Added")},
                               (*BODY_ERRORS, 404, 409), body=ANY_OBJECT, parameters=reader)},
        "/api/v1/reader/referrals/{code}/nodules/{number}": {"patch": _operation(
            "Edit a nodule", "reader", {200: _ok("Edited")}, (*BODY_ERRORS, 404, 409), body=ANY_OBJECT,
            parameters=(CODE, NUMBER))},
        "/api/v1/reader/referrals/{code}/nodules/{number}/{action}": {"post": _operation(
            "Confirm or reject a nodule", "reader", {200: _ok("Done")}, (404, 409),
            parameters=(CODE, NUMBER, {"name": "action", "in": "path", "required": True,
                                       "schema": {"type": "string", "enum": ["confirm", "reject"]}}))},
        "/api/v1/reader/referrals/{code}/consolidation": {
            "get": _operation("A report's consolidation finding", "reader", {200: _ok("Consolidation")}, (404, 409),
                              parameters=reader),
            "patch": _operation("Edit the consolidation finding", "reader", {200: _ok("Edited")},
                                (*BODY_ERRORS, 404, 409), body=ANY_OBJECT, parameters=reader)},
        "/api/v1/reader/referrals/{code}/consolidation/{action}": {"post": _operation(
            "Confirm or reject the consolidation finding", "reader", {200: _ok("Done")}, (404, 409),
            parameters=(CODE, {"name": "action", "in": "path", "required": True,
                               "schema": {"type": "string", "enum": ["confirm", "reject"]}}))},
        "/api/v1/reader/referrals/{code}/ild-read": {
            "get": _operation("The radiologist's ILD read", "reader", {200: _ok("Read")}, (404, 409),
                              parameters=reader),
            "post": _operation("Record an ILD read (amends the report)", "reader", {201: _ok("Recorded")},
                               (*BODY_ERRORS, 404, 409), body=ILD_READ, parameters=reader)},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "ildscreen hospital CT service", "version": ALGORITHM_VERSION},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR, **_component_schemas(Figures)},
        },
    }


def _component_schemas(model) -> dict:
    """A pydantic model's JSON Schema and its definitions, as components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {**definitions, model.__name__: schema}
