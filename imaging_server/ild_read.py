"""A radiologist's ILD read of a referral's CT: present / absent / indeterminate, pattern, extent.

Route (reader token, next to the nodule review in :mod:`imaging_server.nodule_review`):

- ``POST /api/v1/reader/referrals/<code>/ild-read`` with ``{"ild": "present" | "absent" |
  "indeterminate", "pattern"?: one of ``ILD_PATTERNS``, "extent_percent"?: 0-100,
  "comment"?: text}``; 201 with the read.
- ``GET /api/v1/reader/referrals/<code>/ild-read``: the current read and the earlier ones.

Each read is a new row of ``ild_reads`` (who, what, when): the latest is the referral's read,
the earlier ones stay as its history. The stored automated report is never rewritten by a read;
:func:`served_report` composes what the clinic gets: ``final`` after the first read, ``amended``
after a second read or a nodule review made after the first read. Bad input is a 422 naming the
field, and nothing is stored then.
"""
from __future__ import annotations

import logging
import math
from typing import Optional

from flask import g, jsonify

from imaging_server.errors import NotFound, NotReady, ValidationError
from imaging_server.fhir_report import ILD_PATTERNS, ILD_STATUSES, with_ild_read
from imaging_server.nodule_review import review_api
from imaging_server.request_body import json_object_body
from imaging_server.store import Database, request_db, utc_now

logger = logging.getLogger(__name__)

FIELDS = ("ild", "pattern", "extent_percent", "comment")
MAX_COMMENT_CHARS = 2000


@review_api.post("/referrals/<code>/ild-read")
def post_ild_read(code: str):
    read = validated_read(json_object_body())
    db = request_db()
    with db.write():
        referral = _reported_referral(db, code)
        db.insert("ild_reads", {"referral_id": referral["id"], "reader_id": g.reader["id"], **read,
                                "created_at": utc_now()})
    logger.info("ILD read recorded by reader=%s", g.reader["id"])
    return jsonify(read_view(db, code)), 201


@review_api.get("/referrals/<code>/ild-read")
def get_ild_read(code: str):
    db = request_db()
    _reported_referral(db, code)
    return jsonify(read_view(db, code))


def validated_read(body: dict) -> dict:
    """The read's fields, checked; a 422 naming every bad field."""
    problems = [{"field": key, "reason": "not a field of an ILD read"} for key in body if key not in FIELDS]
    ild, pattern, extent = body.get("ild"), body.get("pattern"), body.get("extent_percent")
    comment = body.get("comment")
    if ild not in ILD_STATUSES:
        problems.append({"field": "ild", "reason": "required: present, absent or indeterminate"})
    if pattern is not None and pattern not in ILD_PATTERNS:
        problems.append({"field": "pattern", "reason": f"must be one of {', '.join(ILD_PATTERNS)}"})
    elif pattern is not None and ild == "absent":
        problems.append({"field": "pattern", "reason": "an ILD read as absent has no pattern"})
    if extent is not None:
        if isinstance(extent, bool) or not isinstance(extent, (int, float)) or not math.isfinite(extent) \
                or not 0 <= extent <= 100:
            problems.append({"field": "extent_percent", "reason": "must be a number from 0 to 100"})
        elif ild == "absent" and extent > 0:
            problems.append({"field": "extent_percent", "reason": "an ILD read as absent has no extent above 0"})
    if comment is not None and not (isinstance(comment, str) and len(comment) <= MAX_COMMENT_CHARS):
        problems.append({"field": "comment", "reason": f"must be text of at most {MAX_COMMENT_CHARS} characters"})
    if problems:
        raise ValidationError("invalid ILD read: " + "; ".join(f"{p['field']}: {p['reason']}" for p in problems),
                              fields=problems)
    return {"ild": ild, "pattern": pattern, "extent_percent": None if extent is None else float(extent),
            "comment": (comment or "").strip()}


def _reported_referral(db: Database, code: str) -> dict:
    referral = db.row(
        "SELECT r.id, r.status, p.referral_id AS has_report FROM referrals r "
        "LEFT JOIN reports p ON p.referral_id = r.id WHERE r.code = :code", {"code": code})
    if referral is None:
        raise NotFound(f"no referral {code}")
    if referral["has_report"] is None:
        raise NotReady(f"referral {code} has no report to read yet (status {referral['status']})")
    return referral


def _reads(db: Database, referral_id: int) -> list[dict]:
    return db.rows(
        "SELECT i.ild, i.pattern, i.extent_percent, i.comment, d.name AS reader, i.created_at AS read_at "
        "FROM ild_reads i JOIN readers d ON d.id = i.reader_id WHERE i.referral_id = :id ORDER BY i.id",
        {"id": referral_id})


def read_view(db: Database, code: str) -> dict:
    referral = _reported_referral(db, code)
    reads = _reads(db, referral["id"])
    return {"referral_code": code, "ild_read": reads[-1] if reads else None, "earlier_reads": reads[:-1][::-1]}


def served_report(db: Database, referral_id: int, automated: dict) -> tuple[dict, Optional[dict]]:
    """The DiagnosticReport the clinic gets and the current read (None before any read).

    ``automated`` is the stored report (preliminary). With a read it becomes ``final``;
    ``amended`` when the read was changed, or the nodules reviewed, after the first read.
    """
    reads = _reads(db, referral_id)
    if not reads:
        return automated, None
    first_at = reads[0]["read_at"]
    reviewed_later = db.row("SELECT 1 AS found FROM nodule_reviews WHERE referral_id = :id AND created_at > :at LIMIT 1",
                            {"id": referral_id, "at": first_at})
    amended = len(reads) > 1 or reviewed_later is not None
    return with_ild_read(automated, reads[-1], amended=amended), reads[-1]
