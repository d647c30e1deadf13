"""The audit trail, readable by admins."""
from __future__ import annotations

from flask import Blueprint, current_app

from edge import audit
from edge.api.operations import ADMIN_ROLES, operation
from edge.schemas import AuditList, AuditQuery

blueprint = Blueprint("audit", __name__, url_prefix="/api/v1")


@operation(blueprint, "/audit", "GET", summary="Audit entries, newest first", roles=ADMIN_ROLES,
           query=AuditQuery, response=AuditList)
def list_audit(query: AuditQuery):
    db = current_app.extensions["ildscreen"].db()
    entries = audit.list_entries(
        db, entity=query.entity, entity_id=query.entity_id, before_id=query.before_id, limit=query.limit
    )
    return {"entries": entries}
