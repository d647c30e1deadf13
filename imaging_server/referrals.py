"""Referrals: validating the clinic's FHIR bundle, idempotent creation, status and reports.

The bundle is checked against the wire contract (``imaging_server/README.md``) by hand rather
than with a FHIR library: the contract is narrower than FHIR, and each refusal must name the
offending field.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from typing import Any, Optional

from imaging_server import DISCLAIMER
from imaging_server.errors import Conflict, NotFound, NotReady, ValidationError
from imaging_server.store import Database, utc_now

logger = logging.getLogger(__name__)

REFERRAL_CODE_PATTERN = re.compile(r"^ILD-[A-Z2-7]{10}$")
REFERRAL_SYSTEM = "urn:ildscreen:referral"
PSEUDONYM_SYSTEM = "urn:ildscreen:pseudonym"
SNOMED = "http://snomed.info/sct"
HRCT_CODE = "241541005"
PRIORITIES = ("routine", "urgent", "asap")
FULL_URL = re.compile(r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
IDENTIFYING_PATIENT_FIELDS = ("name", "telecom", "address")
STATUSES = ("awaiting_images", "quantifying", "reported", "failed")
# The ServiceRequest's reasons and notes are shown to the hospital's readers (imaging_server.worklist):
# at most MAX_TEXTS of each, each at most MAX_TEXT_CHARS characters (programme limits, well above what
# the clinic sends: at most two reasons and six notes plus one per model, imaging_client.referral; the
# bundles of the clinic's referral tests held at most 5 notes, the longest 1,392 characters, 2026-12-06).
MAX_TEXTS = 20
MAX_TEXT_CHARS = 4000
NOTE_KIND_URL = "urn:ildscreen:note-kind"
NOTE_KIND_PATTERN = re.compile(r"^[a-z][a-z_]{0,39}$")
# Besides the control characters (tab and line breaks are text), the bidirectional embedding, override
# and isolate controls: they reorder how the text around them is shown, so a note could read otherwise.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# What a clinic may read as a referral's status: a stored status, or ``revoked`` once it withdrew it.
VIEW_STATUSES = (*STATUSES, "revoked")


def canonical_sha256(document: Any) -> str:
    """SHA-256 of the JSON with sorted keys and no whitespace: equal for equal bundles."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate_bundle(bundle: Any, idempotency_key: Optional[str]) -> dict:
    """Check a referral bundle against the contract; return the referral code, priority and the kinds
    its ServiceRequest's notes name (``note_kinds``, in the order sent).

    Raises
    ------
    ValidationError
        Naming every offending field (``fields``) and summarising them in the message.
    """
    problems: list[tuple[str, str]] = []

    def problem(field: str, reason: str) -> None:
        problems.append((field, reason))

    if not isinstance(bundle, dict):
        raise ValidationError("the body must be a FHIR Bundle object", fields=[{"field": "body", "reason": "not an object"}])
    if bundle.get("resourceType") != "Bundle":
        problem("resourceType", "must be 'Bundle'")
    if bundle.get("type") != "collection":
        problem("type", "must be 'collection'")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        problem("entry", "must be a non-empty list")
        entries = []
    resources: dict[str, list[tuple[int, dict, Any]]] = {}
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            problem(f"entry[{index}].resource", "missing")
            continue
        full_url = entry.get("fullUrl")
        if not isinstance(full_url, str) or not FULL_URL.match(full_url):
            problem(f"entry[{index}].fullUrl", "must be urn:uuid:<uuid>")
        kind = resource.get("resourceType")
        if kind not in ("ServiceRequest", "Patient", "Observation"):  # also refuses a list or an object
            problem(f"entry[{index}].resource.resourceType", f"unexpected {_shown(kind)}")
            continue
        resources.setdefault(kind, []).append((index, resource, full_url))
    for kind in ("ServiceRequest", "Patient"):
        if len(resources.get(kind, [])) != 1:
            problem("entry", f"must hold exactly one {kind}, found {len(resources.get(kind, []))}")
    code, priority = None, None
    if len(resources.get("Patient", [])) == 1:
        _check_patient(*resources["Patient"][0][:2], problem)
    if len(resources.get("ServiceRequest", [])) == 1 and len(resources.get("Patient", [])) == 1:
        index, request, _ = resources["ServiceRequest"][0]
        code, priority = _check_service_request(index, request, resources["Patient"][0][2], problem)
    for index, observation, _ in resources.get("Observation", []):
        _check_observation_texts(f"entry[{index}].resource", observation, problem)
    if code is not None and idempotency_key != code:
        problem("Idempotency-Key", "header must equal the ServiceRequest's referral code")
    if problems:
        summary = "; ".join(f"{field}: {reason}" for field, reason in problems)
        raise ValidationError(f"invalid referral bundle: {summary}",
                              fields=[{"field": field, "reason": reason} for field, reason in problems])
    request = resources["ServiceRequest"][0][1]
    return {"code": code, "priority": priority,
            "note_kinds": [kind for kind in map(note_kind, request.get("note", [])) if kind is not None]}


def _check_patient(index: int, patient: dict, problem) -> None:
    where = f"entry[{index}].resource"
    for field in IDENTIFYING_PATIENT_FIELDS:
        if field in patient:
            problem(f"{where}.{field}", "the Patient must be pseudonymous: no name, telecom or address")
    identifier = _first(patient.get("identifier"))
    if not (isinstance(identifier, dict) and identifier.get("system") == PSEUDONYM_SYSTEM
            and isinstance(identifier.get("value"), str) and re.fullmatch(r"[0-9a-fA-F]{16,128}", identifier["value"])):
        problem(f"{where}.identifier[0]", f"must be a {PSEUDONYM_SYSTEM} pseudonym (hex HMAC)")
    if patient.get("gender") not in ("male", "female", "other", "unknown"):
        problem(f"{where}.gender", "must be male, female, other or unknown")
    birth_date = patient.get("birthDate")
    if birth_date is not None and not (isinstance(birth_date, str) and re.fullmatch(r"(18|19|20)\d\d", birth_date)):
        problem(f"{where}.birthDate", "must be a year only, e.g. '1952'")


def _check_service_request(index: int, request: dict, patient_url: Any, problem) -> tuple[Optional[str], Optional[str]]:
    where = f"entry[{index}].resource"
    identifier = _first(request.get("identifier"))
    code = None
    if not (isinstance(identifier, dict) and identifier.get("system") == REFERRAL_SYSTEM):
        problem(f"{where}.identifier[0].system", f"must be {REFERRAL_SYSTEM}")
    elif not (isinstance(identifier.get("value"), str) and REFERRAL_CODE_PATTERN.match(identifier["value"])):
        problem(f"{where}.identifier[0].value", "referral code must match ^ILD-[A-Z2-7]{10}$")
    else:
        code = identifier["value"]
    if request.get("status") != "active":
        problem(f"{where}.status", "must be 'active'")
    if request.get("intent") != "order":
        problem(f"{where}.intent", "must be 'order'")
    priority = request.get("priority")
    if priority not in PRIORITIES:
        problem(f"{where}.priority", f"must be one of {', '.join(PRIORITIES)}")
        priority = None
    coding = _first(_object(request.get("code")).get("coding"))
    if not (isinstance(coding, dict) and coding.get("system") == SNOMED and coding.get("code") == HRCT_CODE):
        problem(f"{where}.code.coding[0]", f"must be SNOMED CT {HRCT_CODE} (HRCT of lungs)")
    if _object(request.get("subject")).get("reference") != patient_url:
        problem(f"{where}.subject.reference", "must be the Patient entry's fullUrl")
    reason = _first(request.get("reasonCode"))
    if not (isinstance(reason, dict) and isinstance(reason.get("text"), str) and reason["text"].strip()):
        problem(f"{where}.reasonCode[0].text", "required")
    _check_texts(where, request, problem)
    return code, priority


def _check_texts(where: str, resource: dict, problem) -> None:
    """The reasons' (a ServiceRequest's) and notes' (a ServiceRequest's or an Observation's) texts a
    reader will see: how many, how long, no control characters; a note's text is required and its kind
    (``NOTE_KIND_URL``) a short code."""
    notes, reasons = resource.get("note", []), resource.get("reasonCode", [])
    if not isinstance(notes, list):
        problem(f"{where}.note", "must be a list of notes")
        notes = []
    for field, items in (("reasonCode", reasons if isinstance(reasons, list) else []), ("note", notes)):
        if len(items) > MAX_TEXTS:
            problem(f"{where}.{field}", f"{len(items)} items; at most {MAX_TEXTS}")
            continue
        for index, item in enumerate(map(_object, items)):
            text = item.get("text")
            if isinstance(text, str) and (reason := text_problem(text)):
                problem(f"{where}.{field}[{index}].text", reason)
            elif field == "note" and not (isinstance(text, str) and text.strip()):
                problem(f"{where}.note[{index}].text", "required: a note is text")
            kind = note_kind(item) if field == "note" else None
            if kind is not None and not (isinstance(kind, str) and NOTE_KIND_PATTERN.match(kind)):
                problem(f"{where}.note[{index}].extension",
                        f"the {NOTE_KIND_URL} valueCode must match {NOTE_KIND_PATTERN.pattern}")


def _check_observation_texts(where: str, observation: dict, problem) -> None:
    """An Observation's notes (the risk's validation note, a lab value confirmed as unusual) and the name
    that labels them on the referral page (``code.text``), checked as the ServiceRequest's notes are."""
    _check_texts(where, {"note": observation.get("note", [])}, problem)
    name = _object(observation.get("code")).get("text")
    if name is not None and not isinstance(name, str):
        problem(f"{where}.code.text", "must be text")
    elif isinstance(name, str) and (reason := text_problem(name)):
        problem(f"{where}.code.text", reason)


def text_problem(text: str) -> Optional[str]:
    """Why a reason's or note's text is refused (too long, a control character), or None.

    >>> text_problem("HRCT plus PFTs.\\n") is None, text_problem("tier\\x07")
    (True, 'holds the control character U+0007 at character 5 (only tab and line breaks are allowed)')
    """
    if len(text) > MAX_TEXT_CHARS:
        return f"{len(text)} characters; at most {MAX_TEXT_CHARS}"
    for position, character in enumerate(text, start=1):
        if character in BIDI_CONTROLS or (unicodedata.category(character) == "Cc" and character not in "\t\n\r"):
            return (f"holds the control character U+{ord(character):04X} at character {position} (only tab and "
                    "line breaks are allowed)")
    return None


def note_kind(note: dict) -> Any:
    """The kind a note names in its ``NOTE_KIND_URL`` extension (the clinic's
    ``imaging_client.referral.NOTE_KINDS``), None when it names none; intake refuses a malformed one."""
    extensions = note.get("extension")
    for extension in extensions if isinstance(extensions, list) else []:
        if isinstance(extension, dict) and extension.get("url") == NOTE_KIND_URL:
            return extension.get("valueCode")
    return None


def create_referral(db: Database, clinic: dict, bundle: dict, idempotency_key: Optional[str]
                    ) -> tuple[dict, bool]:
    """Create the referral, or recognise a replay of the same bundle.

    Returns
    -------
    (body, created)
        ``created`` is False when the same key was replayed with the same bundle.

    Raises
    ------
    ValidationError
        Invalid bundle or idempotency key.
    Conflict
        The key was used before with a different bundle (or by another clinic).
    """
    checked = validate_bundle(bundle, idempotency_key)
    code, digest = checked["code"], canonical_sha256(bundle)
    now = utc_now()
    with db.write():
        # The unique code decides: on PostgreSQL a racing insert of the same code waits for the
        # first one's commit and then inserts nothing, so each key creates exactly one referral.
        created = db.execute(
            "INSERT INTO referrals (code, clinic_id, bundle_sha256, bundle, priority, status, error, created_at, "
            "updated_at) VALUES (:code, :clinic_id, :digest, :bundle, :priority, 'awaiting_images', NULL, :now, :now) "
            "ON CONFLICT (code) DO NOTHING RETURNING id",
            {"code": code, "clinic_id": clinic["id"], "digest": digest, "bundle": json.dumps(bundle, sort_keys=True),
             "priority": checked["priority"], "now": now}).scalar_one_or_none()
        if created is not None:  # the worklist reads the markers' note kinds here, not in the bundle
            db.execute("INSERT INTO referral_note_kinds (referral_id, kinds) VALUES (:id, :kinds)",
                       {"id": created, "kinds": " ".join(checked["note_kinds"])})
        else:
            existing = _find(db, code)
            if existing["clinic_id"] != clinic["id"] or existing["bundle_sha256"] != digest:
                raise Conflict("this Idempotency-Key was already used with a different referral bundle")
    if created is not None:
        logger.info("referral created for clinic %s", clinic["name"])
    return {"referral_code": code, "status": "awaiting_images", "accession_number": code}, created is not None


def _first(value: Any) -> Any:
    """The first item of a FHIR list element; None when the element is not a non-empty list
    (``identifier: 5`` is then reported as a missing identifier, not a crash)."""
    return value[0] if isinstance(value, list) and value else None


def _object(value: Any) -> dict:
    """A FHIR complex element, or {} when the sender put anything else there (``code: "x"``)."""
    return value if isinstance(value, dict) else {}


def _shown(value: Any) -> str:
    """A sender's value for an error message: short, and a type name for lists and objects."""
    return repr(value)[:40] if isinstance(value, (str, int, float, type(None))) else f"a JSON {type(value).__name__}"


def patient_pseudonym(bundle: dict) -> Optional[str]:
    """The pseudonym (``urn:ildscreen:pseudonym`` identifier) of the bundle's Patient, if any."""
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            for identifier in resource.get("identifier") or []:
                if isinstance(identifier, dict) and identifier.get("system") == PSEUDONYM_SYSTEM:
                    return identifier.get("value")
    return None


def _find(db: Database, code: str) -> Optional[dict]:
    """The referral with this code and, when its clinic revoked it, ``revoked_at`` (else None)."""
    return db.row("SELECT r.*, v.revoked_at FROM referrals r LEFT JOIN referral_revocations v ON v.referral_id = r.id "
                  "WHERE r.code = :code", {"code": code})


def referral_for_clinic(db: Database, clinic: dict, code: str) -> dict:
    """The clinic's referral with this code; another clinic's referral is reported as unknown."""
    referral = _find(db, code) if REFERRAL_CODE_PATTERN.match(code) else None
    if referral is None or referral["clinic_id"] != clinic["id"]:
        raise NotFound("no referral with this code for this clinic")
    return referral


def status_view(referral: dict) -> dict:
    """The status a clinic sees: ``revoked`` once the clinic withdrew the referral."""
    status = "revoked" if referral.get("revoked_at") else referral["status"]
    return {"referral_code": referral["code"], "status": status, "updated_at": referral["updated_at"],
            "error": referral["error"]}


def revoke_referral(db: Database, clinic: dict, code: str) -> dict:
    """The clinic withdrew a delivered referral: its ServiceRequest becomes ``revoked`` and the
    PACS watcher stops waiting for its images. Revoking twice is accepted (the outbox may retry).

    Raises
    ------
    NotFound
        Unknown code, or another clinic's.
    Conflict
        The CT is already being quantified or reported: the result stands.
    """
    referral_for_clinic(db, clinic, code)
    now = utc_now()
    with db.write():
        referral = db.row("SELECT * FROM referrals WHERE code = :code" + db.for_update(), {"code": code})
        revoked = db.row("SELECT revoked_at FROM referral_revocations WHERE referral_id = :id", {"id": referral["id"]})
        if revoked:
            referral = {**referral, "revoked_at": revoked["revoked_at"]}
        else:
            if referral["status"] not in ("awaiting_images", "failed"):
                raise Conflict(f"the referral is {referral['status']}: it can no longer be revoked")
            bundle = json.loads(referral["bundle"])
            for entry in bundle.get("entry", []):
                if entry.get("resource", {}).get("resourceType") == "ServiceRequest":
                    entry["resource"]["status"] = "revoked"
            # bundle_sha256 stays the digest of what the clinic sent, so a replayed POST is still a replay.
            db.execute("UPDATE referrals SET updated_at = :now, bundle = :bundle WHERE id = :id",
                       {"now": now, "id": referral["id"], "bundle": json.dumps(bundle, sort_keys=True)})
            db.execute("INSERT INTO referral_revocations (referral_id, revoked_at) VALUES (:id, :now)",
                       {"id": referral["id"], "now": now})
            referral = {**referral, "revoked_at": now, "updated_at": now}
    logger.info("referral revoked by clinic %s", clinic["name"])
    return status_view(referral)


def report_view(db: Database, referral: dict) -> dict:
    """The report body of a reported referral: ``report_status`` is the DiagnosticReport's
    (``preliminary`` until a radiologist's read, then ``final`` / ``amended``), ``ild_read`` the
    current read or None.

    Raises
    ------
    NotReady
        While the referral is not reported (waiting, quantifying or failed).
    """
    if referral["status"] != "reported":
        reason = f" ({referral['error']})" if referral["error"] else ""
        raise NotReady(f"no report yet: the referral is {referral['status']}{reason}")
    from imaging_server.ild_read import served_report

    report = db.row("SELECT * FROM reports WHERE referral_id = :id", {"id": referral["id"]})
    diagnostic_report, read = served_report(db, referral["id"], json.loads(report["diagnostic_report"]))
    return {
        "referral_code": referral["code"],
        "status": "reported",
        "report_status": diagnostic_report["status"],
        "ild_read": read,
        "metrics": json.loads(report["metrics"]),
        "diagnostic_report": diagnostic_report,
        "algorithm": json.loads(report["algorithm"]),
        "disclaimer": DISCLAIMER,
    }


def set_status(db: Database, code: str, status: str, *, error: Optional[str] = None, **columns) -> None:
    """Move a referral to ``status`` (one of ``STATUSES``), recording the reason of a failure."""
    if status not in STATUSES:
        raise ValueError(f"unknown referral status {status!r}")
    with db.write():
        db.execute("UPDATE referrals SET status = :status, error = :error, updated_at = :now"
                   + "".join(f", {name} = :{name}" for name in columns) + " WHERE code = :code",
                   {**columns, "status": status, "error": error, "now": utc_now(), "code": code})
