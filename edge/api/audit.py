"""The audit trail, readable by admins, and the hook that audits every read of a clinical record."""
from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, request

from edge import audit
from edge.api.operations import ADMIN_ROLES, CLINICAL_ROLES, SAFE_METHODS, operation
from edge.schemas import AuditList, AuditQuery
from edge.store.database import write_transaction

blueprint = Blueprint("audit", __name__, url_prefix="/api/v1")

# Pages and API reads of a clinical account that show no patient data; every other successful
# GET by a nurse or clinician (API, bearer token or tablet page) is a read of clinical records.
# Reads that are POSTs so that a patient code travels in the body, not the URL.
# The tablet's patient search posts, then reads on the GET it redirects to (audited there, once).
READS_BY_POST = frozenset({"patients.search_patients"})
NOT_CLINICAL_RECORDS = frozenset({
    "auth.me", "auth.current_session", "devices.list_devices", "openapi.openapi_document", "ui.register_patient",
})


@operation(blueprint, "/audit", "GET", summary="Audit entries, newest first", roles=ADMIN_ROLES,
           query=AuditQuery, response=AuditList)
def list_audit(query: AuditQuery):
    db = current_app.extensions["ildscreen"].db()
    entries = audit.list_entries(
        db, entity=query.entity, entity_id=query.entity_id, before_id=query.before_id, limit=query.limit
    )
    return {"entries": entries}


def register_read_audit(app: Flask) -> None:
    """Audit each successful read of clinical records, whichever route or client made it.

    One hook rather than a line per view, so a new page or API read is audited without anyone
    remembering to. The entry names the route template and the record id, never the query
    string (it may hold a patient code). A read whose audit entry cannot be written fails.
    """

    @app.after_request
    def audit_clinical_read(response: Response) -> Response:
        actor = g.get("actor")
        is_read = request.method in SAFE_METHODS or request.endpoint in READS_BY_POST
        if (actor is None or actor.role not in CLINICAL_ROLES or not is_read
                or response.status_code >= 400 or request.endpoint in NOT_CLINICAL_RECORDS):
            return response
        ids = [(name[: -len("_id")], value) for name, value in (request.view_args or {}).items()
               if name.endswith("_id")]
        entity, entity_id = ids[0] if ids else ("record_list", None)
        db = current_app.extensions["ildscreen"].db()
        with write_transaction(db):
            audit.record(db, actor, "read", entity, entity_id, {"route": request.url_rule.rule})
        return response
