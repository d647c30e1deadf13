"""The readers' worklist and referral page: why each patient was referred, in the clinic's words.

A hospital radiologist (reader token, :mod:`imaging_server.nodule_review`) sees every referral with
its priority, status and a short marker when it carries something a reader must not miss, and each
referral's reasons and notes (the ServiceRequest's ``reasonCode`` and ``note`` texts as the clinic sent
them: the advice, the anti-MDA5 / HRCT notes, disagreeing HRCT reads, a dated lymphopenia, the
guideline line, validation and model versions). Routes:

- ``GET /api/v1/reader/referrals`` and ``GET /api/v1/reader/referrals/<code>``: JSON;
- ``GET /reader/referrals`` and ``GET /reader/referrals/<code>``: the same as pages (English or
  Simplified Chinese, :mod:`imaging_server.programme_i18n`), with the reader's bearer token as the
  JSON routes (a reader's browser sign-in does not exist yet).

The notes come from outside: intake (:func:`imaging_server.referrals.validate_bundle`) refuses too many,
too long or ones holding control characters, and the pages show them as escaped text, never as HTML.
They are shown in the order sent with the advice first (the clinic sends it first; a note whose kind,
``urn:ildscreen:note-kind``, is ``advice`` is put first whatever its place).

Must-not-miss markers, decided from what the referral carries as data rather than from its words:

- ``urgent``: FHIR priority ``asap``, the triage's "urgent" (a red flag: anti-MDA5, rapidly worsening
  breathlessness; ``imaging_client.referral.FHIR_PRIORITY``): the HRCT is wanted this week;
- ``discordant_hrct_reads``: a note of that kind (the clinic's two HRCT reads disagree,
  ``edge.fusion.monitoring.discordant_hrct``): the radiologist should know before reading a third.

FHIR ``urgent`` (within 3 months) and the other notes (the HRCT that answered anti-MDA5, lymphopenia)
are shown but not marked: they change no step of the reader's. Nothing identifies the patient: the
server holds only the pseudonym, and these views leave even that out (a reader works by the referral
code, the PACS accession number).
"""
from __future__ import annotations

import json

from flask import Blueprint, g, jsonify, render_template, request

from imaging_server.errors import NotFound
from imaging_server.nodule_review import reader_for_token, review_api
from imaging_server.programme_i18n import CATALOG, page_context
from imaging_server.referrals import NOTE_KIND_PATTERN, PRIORITIES, REFERRAL_CODE_PATTERN, note_kind
from imaging_server.store import Database, request_db

ADVICE_KIND = "advice"
MUST_NOT_MISS = ("urgent", "discordant_hrct_reads")
# Most urgent first: FHIR asap (this week), urgent (within 3 months), routine.
PRIORITY_ORDER = {priority: rank for rank, priority in enumerate(reversed(PRIORITIES))}
REFERRAL_SELECT = ("SELECT r.code, r.bundle, r.priority, r.status, r.created_at, c.name AS clinic, v.revoked_at "
                   "FROM referrals r JOIN clinics c ON c.id = r.clinic_id "
                   "LEFT JOIN referral_revocations v ON v.referral_id = r.id")

reader_pages = Blueprint("reader_pages", __name__, url_prefix="/reader")


def service_request(bundle: dict) -> dict:
    """The bundle's ServiceRequest (intake made sure there is exactly one)."""
    return next(entry["resource"] for entry in bundle["entry"]
                if entry["resource"]["resourceType"] == "ServiceRequest")


def referral_notes(request_resource: dict) -> list[dict]:
    """The notes as ``{"kind", "text"}`` in the order sent, the advice first (kind None when unnamed).

    A referral stored before intake checked notes may hold ones that are not text: they are left out."""
    notes = [{"kind": _valid_kind(note_kind(note)), "text": note["text"]} for note in _texts(request_resource, "note")]
    return sorted(notes, key=lambda note: note["kind"] != ADVICE_KIND)  # stable: the rest keep their order


def _texts(request_resource: dict, field: str) -> list[dict]:
    """The reasons or notes that hold text (``field``: ``reasonCode`` or ``note``)."""
    items = request_resource.get(field)
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("text"), str)]


def _valid_kind(kind) -> str | None:
    return kind if isinstance(kind, str) and NOTE_KIND_PATTERN.match(kind) else None


def must_not_miss(priority: str, notes: list[dict]) -> list[str]:
    """The markers of a referral (module docstring), in ``MUST_NOT_MISS`` order."""
    found = {"urgent"} if priority == "asap" else set()
    found |= {note["kind"] for note in notes} & set(MUST_NOT_MISS)
    return [marker for marker in MUST_NOT_MISS if marker in found]


def referral_view(row: dict) -> dict:
    """One referral as a reader sees it: code, clinic, priority, status, when received, markers,
    reasons and notes."""
    request_resource = service_request(json.loads(row["bundle"]))
    notes = referral_notes(request_resource)
    return {"referral_code": row["code"], "clinic": row["clinic"], "priority": row["priority"],
            "status": "revoked" if row["revoked_at"] else row["status"], "received_at": row["created_at"],
            "must_not_miss": must_not_miss(row["priority"], notes),
            "reasons": [reason["text"] for reason in _texts(request_resource, "reasonCode")],
            "notes": notes}


def worklist(db: Database) -> list[dict]:
    """Every referral without its notes, most urgent first, then the longest waiting first."""
    views = [referral_view(row) for row in db.rows(REFERRAL_SELECT + " ORDER BY r.created_at, r.id")]
    return [{key: value for key, value in view.items() if key not in ("reasons", "notes")}
            for view in sorted(views, key=lambda view: PRIORITY_ORDER[view["priority"]])]


def referral_for_reader(db: Database, code: str) -> dict:
    """The referral with this code as a reader sees it.

    Raises
    ------
    NotFound
        No referral with this code.
    """
    row = None
    if REFERRAL_CODE_PATTERN.match(code):
        row = db.row(REFERRAL_SELECT + " WHERE r.code = :code", {"code": code})
    if row is None:
        raise NotFound("no referral with this code")
    return referral_view(row)


@review_api.get("/referrals")
def worklist_json():
    return jsonify({"referrals": worklist(request_db())})


@review_api.get("/referrals/<code>")
def referral_json(code: str):
    return jsonify(referral_for_reader(request_db(), code))


@reader_pages.before_request
def authenticate_reader():
    g.reader = reader_for_token(request_db(), request.headers.get("Authorization"))


@reader_pages.get("/referrals")
def worklist_page():
    return render_template("reader_worklist.html", referrals=worklist(request_db()), **page_context())


@reader_pages.get("/referrals/<code>")
def referral_page(code: str):
    context = page_context()
    t = context["t"]

    def note_label(kind) -> str:
        return t(f"note_kind_{kind}" if f"note_kind_{kind}" in CATALOG else "note_kind_note")

    return render_template("reader_referral.html", referral=referral_for_reader(request_db(), code),
                           note_label=note_label, **context)
