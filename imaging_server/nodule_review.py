"""A radiologist's review of a report's nodules: confirm, edit, add or reject, over the API.

Readers (hospital radiologists) have their own bearer tokens (``ildscreen imaging-server readers
add NAME``; only the SHA-256 is kept), separate from the referring clinics' tokens. Routes, all
under ``/api/v1/reader`` with ``Authorization: Bearer <reader token>``:

- ``GET  /referrals/<code>/nodules``: the report's nodules and the rejected ones;
- ``POST /referrals/<code>/nodules``: add a nodule the method missed (``type``,
  ``mean_diameter_mm``, ``solid_component_mm``, ``center_mm``, optional ``volume_mm3`` and flags);
- ``PATCH /referrals/<code>/nodules/<n>``: edit nodule n (1-based) -- any of those fields and the
  Lung-RADS flags ``juxtapleural_benign``, ``benign_calcification``, ``suspicious_features``;
- ``POST /referrals/<code>/nodules/<n>/confirm`` and ``/reject``.

Masses (lesions of 30 mm or more) are entries of the same list (``"lesion": "mass"``) and are
reviewed the same way, as are regions of 30 mm or more that the consolidation volume counts
(``"lesion": "consolidation"``: one region, one finding; a regraded line keeps that name). The
consolidation's volume has its own routes:

- ``GET /referrals/<code>/consolidation``;
- ``PATCH /referrals/<code>/consolidation``: the reader's ``volume_ml`` (and optionally
  ``zones``: ``{"upper", "middle", "lower"}`` in ml, adding up to it);
- ``POST /referrals/<code>/consolidation/confirm`` and ``/reject`` (rejected: 0 ml, the
  method's figure kept under ``review``).

Each change recomputes both guidelines for every nodule (their multiplicity may change), the
exam's Lung-RADS category and the FHIR DiagnosticReport, stores them on the report that the
clinic reads, and appends a row to ``nodule_reviews`` (who, what, when). Bad input is a 422
naming the field; nothing stored changes then.
"""
from __future__ import annotations

import json
import logging
import math
from typing import Any

from flask import Blueprint, g, jsonify, request

from imaging_server.errors import AuthenticationError, NotFound, NotReady, ValidationError
from imaging_server.nodule_guidelines import (NODULE_TYPES, GuidelineInputError, NoduleDescription, exam_lung_rads,
                                              fleischner_group)
from imaging_server.request_body import json_object_body
from imaging_server.store import Database, add_token_holder, request_db, token_holder, utc_now

logger = logging.getLogger(__name__)

READER_TOKEN_PREFIX = "ildrd_"
FLAGS = ("juxtapleural_benign", "benign_calcification", "suspicious_features")
EDITABLE = ("type", "mean_diameter_mm", "solid_component_mm", "center_mm", "volume_mm3", *FLAGS)
review_api = Blueprint("nodule_review", __name__, url_prefix="/api/v1/reader")


def add_reader(db: Database, name: str) -> str:
    """Register a radiologist and return their bearer token (:func:`store.add_token_holder`)."""
    return add_token_holder(db, "reader", name, READER_TOKEN_PREFIX)


def reader_for_token(db: Database, authorization: str | None) -> dict:
    reader = token_holder(db, "reader", authorization)
    if reader is None:
        raise AuthenticationError("unknown reader token")
    return reader


@review_api.before_request
def authenticate_reader():
    g.reader = reader_for_token(request_db(), request.headers.get("Authorization"))


@review_api.get("/referrals/<code>/nodules")
def list_nodules(code: str):
    metrics, _ = _report(request_db(), code)
    return jsonify(_view(code, metrics))


@review_api.post("/referrals/<code>/nodules")
def add_nodule(code: str):
    body = json_object_body()
    return jsonify(_change(code, "add", None, body)), 201


@review_api.patch("/referrals/<code>/nodules/<int:number>")
def edit_nodule(code: str, number: int):
    return jsonify(_change(code, "edit", number, json_object_body()))


@review_api.post("/referrals/<code>/nodules/<int:number>/<any(confirm, reject):action>")
def confirm_or_reject(code: str, number: int, action: str):
    return jsonify(_change(code, action, number, {}))


@review_api.get("/referrals/<code>/consolidation")
def show_consolidation(code: str):
    metrics, _ = _report(request_db(), code)
    return jsonify(_consolidation_view(code, metrics))


@review_api.patch("/referrals/<code>/consolidation")
def edit_consolidation(code: str):
    return jsonify(_change_consolidation(code, "edit", json_object_body()))


@review_api.post("/referrals/<code>/consolidation/<any(confirm, reject):action>")
def confirm_or_reject_consolidation(code: str, action: str):
    return jsonify(_change_consolidation(code, action, {}))


def _report(db: Database, code: str) -> tuple[dict, dict]:
    # Inside a review's transaction the referral row is locked (PostgreSQL; SQLite holds the write
    # lock), so two reviews of one report apply one after the other.
    referral = db.row(
        "SELECT r.id, r.status, p.metrics FROM referrals r LEFT JOIN reports p ON p.referral_id = r.id "
        "WHERE r.code = :code" + db.for_update(of="r"), {"code": code})
    if referral is None:
        raise NotFound(f"no referral {code}")
    if referral["metrics"] is None:
        raise NotReady(f"referral {code} has no report yet (status {referral['status']})")
    return json.loads(referral["metrics"]), referral


def _view(code: str, metrics: dict) -> dict:
    return {"referral_code": code, "nodules": metrics.get("nodules", []),
            "rejected_nodules": metrics.get("rejected_nodules", []),
            "nodule_guideline": metrics.get("nodule_guideline")}


def _change(code: str, action: str, number: int | None, body: dict) -> dict:
    """Apply one review action in one transaction and return the new nodule view."""
    db = request_db()
    with db.write():
        metrics, referral = _report(db, code)
        nodules = list(metrics.get("nodules", []))
        if number is not None and not 1 <= number <= len(nodules):
            raise NotFound(f"no nodule {number} in the report of {code} ({len(nodules)} nodules)")
        reviewed = {"state": {"add": "added", "edit": "edited", "confirm": "confirmed", "reject": "rejected"}[action],
                    "reader": g.reader["name"], "at": utc_now()}
        if action == "reject":
            rejected = {**nodules.pop(number - 1), "review": reviewed}
            metrics["rejected_nodules"] = [*metrics.get("rejected_nodules", []), rejected]
        elif action == "confirm":
            nodules[number - 1] = {**nodules[number - 1], "review": reviewed}
        else:
            base = nodules[number - 1] if action == "edit" else {"status": "baseline", "method": "radiologist"}
            nodules_entry = _validated(body, base, require_all=action == "add")
            entry = {**base, **nodules_entry, "review": reviewed}
            if action == "add":
                nodules.append(entry)
            else:
                nodules[number - 1] = entry
        metrics["nodules"] = regrade(nodules)
        metrics["nodule_guideline"] = {**metrics["nodule_guideline"], "lung_rads_exam_category": exam_lung_rads(
            [n["lung_rads"]["category"] for n in metrics["nodules"]])}
        _save(db, code, referral, metrics, action, number, body)
    logger.info("nodule review: %s by reader=%s", action, g.reader["id"])
    return _view(code, metrics)


def _save(db: Database, code: str, referral: dict, metrics: dict, action: str, number: int | None,
          detail: dict) -> None:
    """Store reviewed metrics with a rebuilt FHIR report, and the review's row (inside the transaction)."""
    from imaging_server.fhir_report import build_diagnostic_report

    stored = db.row("SELECT diagnostic_report FROM reports WHERE referral_id = :id", {"id": referral["id"]})
    previous = json.loads(stored["diagnostic_report"])
    segmenter = previous["performer"][0]["display"].split("lung mask: ", 1)[-1].rstrip(")")
    report = build_diagnostic_report(code, metrics, metrics["ild_extent"]["percent"], issued=utc_now(),
                                     segmenter=segmenter)
    first, rest = report["conclusion"].split(". ", 1)
    reviewed = [name for name, key in (("Nodules", "nodules"), ("Consolidation", "consolidation"))
                if _was_reviewed(metrics, key)]
    report["conclusion"] = f"{first}. {' and '.join(reviewed)} reviewed by a radiologist. {rest}"
    db.execute("UPDATE reports SET metrics = :metrics, diagnostic_report = :report WHERE referral_id = :id",
               {"metrics": json.dumps(metrics), "report": json.dumps(report), "id": referral["id"]})
    db.insert("nodule_reviews", {"referral_id": referral["id"], "reader_id": g.reader["id"], "action": action,
                                 "nodule_number": number, "detail": json.dumps(detail), "created_at": utc_now()})


def _was_reviewed(metrics: dict, key: str) -> bool:
    if key == "nodules":
        return any("review" in n for n in [*metrics.get("nodules", []), *metrics.get("rejected_nodules", [])])
    return "review" in (metrics.get(key) or {})


def _consolidation_view(code: str, metrics: dict) -> dict:
    return {"referral_code": code, "consolidation": metrics.get("consolidation")}


def _change_consolidation(code: str, action: str, body: dict) -> dict:
    """Confirm, edit or reject the report's consolidation in one transaction; return the new view."""
    from imaging_server.consolidation import consolidation_statement

    db = request_db()
    with db.write():
        metrics, referral = _report(db, code)
        consolidation = dict(metrics.get("consolidation") or {})
        if not consolidation:
            raise NotFound(f"the report of {code} has no consolidation finding")
        original = consolidation.get("review", {}).get("method_volume_ml", consolidation["volume_ml"])
        reviewed = {"state": {"edit": "edited", "confirm": "confirmed", "reject": "rejected"}[action],
                    "reader": g.reader["name"], "at": utc_now(), "method_volume_ml": original}
        if action != "confirm":
            volume, zones = (0.0, {name: 0.0 for name in consolidation["zones"]}) if action == "reject" \
                else _validated_consolidation(body, consolidation)
            lung_ml = metrics["lung_volume_ml"]
            consolidation["volume_ml"] = round(volume, 1)
            consolidation["percent"] = round(100.0 * volume / lung_ml, 2) if lung_ml else 0.0
            if zones is not None:
                consolidation["zones"] = {
                    name: {"volume_ml": round(value, 1),
                           "percent": round(100.0 * value / metrics["zones"][name]["lung_volume_ml"], 2)
                           if metrics["zones"][name]["lung_volume_ml"] else 0.0}
                    for name, value in zones.items()}
            consolidation["incidental"], consolidation["statement"] = consolidation_statement(
                consolidation["volume_ml"], consolidation["percent"], consolidation["report_threshold_ml"])
        consolidation["review"] = reviewed
        metrics["consolidation"] = consolidation
        _save(db, code, referral, metrics, action, None, {"finding": "consolidation", **body})
    logger.info("consolidation review: %s by reader=%s", action, g.reader["id"])
    return _consolidation_view(code, metrics)


def _validated_consolidation(body: dict, consolidation: dict) -> tuple[float, dict | None]:
    """The reader's volume (ml) and zone volumes, checked; a 422 naming each bad field."""
    problems = [{"field": key, "reason": "not an editable field"} for key in body if key not in ("volume_ml", "zones")]
    volume = body.get("volume_ml")
    if volume is None:
        problems.append({"field": "volume_ml", "reason": "required"})
    elif isinstance(volume, bool) or not isinstance(volume, (int, float)) or not 0 <= volume <= 10000:
        problems.append({"field": "volume_ml", "reason": "must be a number of ml within 0-10000"})
    zones = body.get("zones")
    if zones is not None:
        names = set(consolidation["zones"])
        if not (isinstance(zones, dict) and set(zones) == names
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in zones.values())):
            problems.append({"field": "zones", "reason": f"must give {', '.join(sorted(names))} in ml (>= 0)"})
        elif isinstance(volume, (int, float)) and abs(sum(zones.values()) - volume) > 0.15:
            problems.append({"field": "zones", "reason": f"must add up to volume_ml ({volume})"})
    if problems:
        raise ValidationError("; ".join(f"{p['field']}: {p['reason']}" for p in problems), fields=problems)
    return float(volume), ({name: float(value) for name, value in zones.items()} if zones is not None else None)


def _validated(body: dict, base: dict, *, require_all: bool) -> dict:
    """The editable fields of ``body``, checked; a 422 naming each bad field."""
    problems = [{"field": key, "reason": "not an editable field"} for key in body if key not in EDITABLE]
    required = ("type", "mean_diameter_mm", "center_mm") if require_all else ()
    problems += [{"field": key, "reason": "required"} for key in required if key not in body]
    values: dict[str, Any] = {key: body[key] for key in EDITABLE if key in body}
    center = values.get("center_mm", base.get("center_mm"))
    if "center_mm" in values and not (isinstance(center, list) and len(center) == 3
                                      and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in center)):
        problems.append({"field": "center_mm", "reason": "must be three numbers [x, y, z] in mm"})
    for key in ("mean_diameter_mm", "solid_component_mm", "volume_mm3"):
        if key in values and (isinstance(values[key], bool) or not isinstance(values[key], (int, float))):
            problems.append({"field": key, "reason": "must be a number"})
    for key in FLAGS:
        if key in values and not isinstance(values[key], bool):
            problems.append({"field": key, "reason": "must be true or false"})
    if "type" in values and values["type"] not in NODULE_TYPES:
        problems.append({"field": "type", "reason": f"must be one of {', '.join(NODULE_TYPES)}"})
    if not problems:
        merged = {**base, **values}
        if merged["type"] == "solid" and "solid_component_mm" not in values:
            values["solid_component_mm"] = merged["solid_component_mm"] = merged["mean_diameter_mm"]
        if merged["type"] == "ground_glass" and "solid_component_mm" not in values:
            values["solid_component_mm"] = merged["solid_component_mm"] = 0.0
        try:
            _description(merged)
        except GuidelineInputError as exc:
            problems.append({"field": "nodule", "reason": str(exc)})
    if problems:
        raise ValidationError("; ".join(f"{p['field']}: {p['reason']}" for p in problems), fields=problems)
    if "volume_mm3" not in values and "mean_diameter_mm" in values:
        values["volume_mm3"] = round(math.pi / 6 * float(values["mean_diameter_mm"]) ** 3, 1)
    return values


def _description(nodule: dict) -> NoduleDescription:
    return NoduleDescription(nodule["type"], float(nodule["mean_diameter_mm"]),
                             float(nodule.get("solid_component_mm", 0.0)), nodule.get("status", "baseline"),
                             prior_category=nodule.get("prior_category"),
                             **{flag: bool(nodule.get(flag, False)) for flag in FLAGS})


def regrade(nodules: list[dict]) -> list[dict]:
    """Every nodule's Lung-RADS and Fleischner advice again, from its (possibly edited) description."""
    from imaging_server.findings import nodule_line

    groups = [fleischner_group(n["type"]) for n in nodules]
    regraded = []
    for nodule, group in zip(nodules, groups):
        line = nodule_line(_description(nodule), volume_mm3=nodule.get("volume_mm3"), center_mm=nodule["center_mm"],
                           multiple=groups.count(group) > 1, method=nodule.get("method", "radiologist"),
                           prior_mean_diameter_mm=nodule.get("prior_mean_diameter_mm"),
                           consolidation=nodule.get("lesion") == "consolidation")
        regraded.append({**nodule, **line})
    return regraded
