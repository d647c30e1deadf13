"""The audit trail: who changed what, when. Written in the same transaction as the change."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import sqlite_utils

from edge.store.database import utc_now


@dataclass(frozen=True)
class Actor:
    """The authenticated user (or the local CLI operator) behind a change."""

    user_id: Optional[int]
    username: str
    role: str


CLI_OPERATOR = Actor(user_id=None, username="cli", role="admin")


def record(
    db: sqlite_utils.Database,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object = None,
    detail: Optional[dict] = None,
) -> None:
    """Append one audit entry. ``detail`` names changed fields; it never holds patient codes."""
    db.execute(
        "INSERT INTO audit_log (at, user_id, username, action, entity, entity_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            utc_now(),
            actor.user_id,
            actor.username,
            action,
            entity,
            None if entity_id is None else str(entity_id),
            json.dumps(detail, sort_keys=True) if detail else None,
        ],
    )


def list_entries(
    db: sqlite_utils.Database,
    *,
    entity: Optional[str] = None,
    entity_id: Optional[str] = None,
    before_id: Optional[int] = None,
    limit: int = 100,
) -> list[dict]:
    """Newest first, optionally filtered by entity and paged with ``before_id``."""
    clauses, params = [], []
    for column, value in (("entity", entity), ("entity_id", entity_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if before_id is not None:
        clauses.append("id < ?")
        params.append(before_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = db.execute_returning_dicts(
        f"SELECT * FROM audit_log {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    )
    for row in rows:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
    return rows
