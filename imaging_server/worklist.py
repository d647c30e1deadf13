"""The readers' worklist and referral page: why each patient was referred, in the clinic's words.

A hospital radiologist (reader token, :mod:`imaging_server.nodule_review`) sees every referral with
its priority, status and a short marker when it carries something a reader must not miss, and each
referral's reasons and notes (the ServiceRequest's ``reasonCode`` and ``note`` texts as the clinic sent
them: the advice, the anti-MDA5 / HRCT notes, disagreeing HRCT reads, a dated lymphopenia, the
guideline line, validation and model versions). Routes:

- ``GET /api/v1/reader/referrals`` and ``GET /api/v1/reader/referrals/<code>``: JSON; the worklist comes
  a page at a time (``limit``, and ``after``: the last referral code of the page before, a cursor that
  stays put as referrals arrive) and may be filtered by ``status``, ``priority`` (each repeatable) and
  ``clinic`` (:func:`worklist_query`; a bad or unknown parameter is 422 naming it);
- ``GET /reader/referrals`` and ``GET /reader/referrals/<code>``: the same as pages (English or
  Simplified Chinese, :mod:`imaging_server.programme_i18n`; ``GET /reader/language?to=..&next=..``
  switches every page of this server, the programme's too), for a reader's browser session or their
  bearer token (machines); a bad worklist parameter answers the page (422) naming it, not JSON; an unknown
  referral code answers a page saying so (404), and a referral whose stored bundle cannot be read a page of
  what the server stored beside it (:func:`stored_facts`, 500; the API: JSON ``referral_unreadable``);
  a revoked clinic's referrals are marked "access revoked" on their rows (JSON ``clinic_revoked``);
- ``GET /reader``: the sign-in form (the worklist once signed in); ``POST /reader/sign-in`` (name,
  password and the form's CSRF token) opens a session whose random id an HttpOnly, SameSite=Strict
  cookie limited to ``/reader`` carries; ``POST /reader/sign-out`` (the page's CSRF token) ends it.
  The rules are the programme view's (:mod:`imaging_server.browser_sign_in`, the reader door;
  :mod:`imaging_server.sign_in_pages`); without a session a page answers with the form (401), which
  carries the page as ``next``: a reader who opens a referral's link signed out lands on it once
  signed in (only a path under ``/reader``, :func:`common.http_security.safe_next`; else the worklist).

The notes come from outside: intake (:func:`imaging_server.referrals.validate_bundle`) refuses too many,
too long or ones holding control characters, and the pages show them as escaped text, never as HTML.
They are shown in the order sent with the advice first (the clinic sends it first; a note whose kind,
``urn:ildscreen:note-kind``, is ``advice`` is put first whatever its place). The Observations' notes (the
risk's validation note, a lab value the nurse confirmed as unusual) are checked alike and shown after
them, each with the name of its Observation, in the order sent.

A page of the worklist reads no bundle: the markers come from the priority and the note kinds intake
stored beside the referral (``referral_note_kinds``, store migration 9); those of a referral stored before
were read from its bundle once, by store migration 10 (:func:`fill_note_kinds`). The order and the
filters are SQL.

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

import functools
import json
import logging
import re
from dataclasses import dataclass
from typing import Optional

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for

from common.http_security import safe_next
from imaging_client.referral import LOCAL_OBSERVATION_SYSTEM
from imaging_server.browser_sign_in import DOORS
from imaging_server.errors import (AuthenticationError, NotFound, TooManyAttempts, UnreadableReferral,
                                   ValidationError)
from imaging_server.nodule_review import reader_for_token, review_api
from imaging_server.programme_i18n import CATALOG, page_context, remember_page_language
from imaging_server.referrals import (NOTE_KIND_PATTERN, PRIORITIES, REFERRAL_CODE_PATTERN, VIEW_STATUSES,
                                      note_kind)
from imaging_server.sign_in_pages import (SignInPage, check_sign_out, lockout_policy, refused_form, session_form_token,
                                          sign_in_form, sign_in_token_sent_back, signed_in, signed_out,
                                          too_many_attempts)
from imaging_server.store import CLINIC_NAME_PATTERN, REVOKED_PREFIX, Database, list_clinics, request_db

logger = logging.getLogger(__name__)

ADVICE_KIND = "advice"
MUST_NOT_MISS = ("urgent", "discordant_hrct_reads")
# Most urgent first: FHIR asap (this week), urgent (within 3 months), routine.
PRIORITY_ORDER = {priority: rank for rank, priority in enumerate(reversed(PRIORITIES))}
PRIORITY_RANK_SQL = ("CASE r.priority " + " ".join(f"WHEN '{priority}' THEN {rank}" for priority, rank
                                                   in PRIORITY_ORDER.items()) + f" ELSE {len(PRIORITIES)} END")
# A row as the worklist lists it, never its bundle: the note kinds intake stored (store migration 9; an older
# referral's were filled by migration 10, :func:`fill_note_kinds`), and whether the hospital revoked its clinic's
# token (``store.REVOKED_PREFIX``, a constant without LIKE's wildcards).
LISTED_COLUMNS = ("r.code, r.priority, r.status, r.created_at, c.name AS clinic, v.revoked_at, k.kinds, "
                  f"CASE WHEN c.token_hash LIKE '{REVOKED_PREFIX}%' THEN 1 ELSE 0 END AS clinic_revoked")
REFERRAL_FROM = ("FROM referrals r JOIN clinics c ON c.id = r.clinic_id "
                 "LEFT JOIN referral_revocations v ON v.referral_id = r.id "
                 "LEFT JOIN referral_note_kinds k ON k.referral_id = r.id")
REFERRAL_SELECT = f"SELECT r.id, r.bundle, r.updated_at, {LISTED_COLUMNS} {REFERRAL_FROM}"
WORKLIST_SELECT = f"SELECT {LISTED_COLUMNS}, {PRIORITY_RANK_SQL} AS priority_rank {REFERRAL_FROM}"
# Programme assumptions (not clinical numbers): a page of 50 referrals unless asked, at most 200, so that a
# page's cost stays bounded however many referrals wait.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
FILTERS = {"status": VIEW_STATUSES, "priority": PRIORITIES}
OBSERVATION_CODE_PATTERN = re.compile(r"^[a-z][a-z-]{0,39}$")  # the shape of the programme's codes: no markup
# What reading a stored bundle raises when it is not one intake took (a hand-edited or damaged row).
UNREADABLE_BUNDLE = (ValueError, TypeError, KeyError, StopIteration)
# Referrals whose bundles store migration 10 reads at a time: its memory stays bounded by this many bundles.
FILL_BATCH = 500

PAGES_PATH = "/reader"
DOOR = DOORS["reader"]
SESSION_COOKIE = "ildscreen_reader"
SIGN_IN_PAGE = SignInPage(title_key="title_reader_sign_in", heading_key="title_worklist",
                          intro_key="reader_sign_in_intro", sign_in_endpoint="reader_pages.sign_in",
                          path=PAGES_PATH, session_cookie=SESSION_COOKIE, form_cookie="ildscreen_reader_sign_in",
                          language_endpoint="reader_pages.switch_language")
OPEN_ENDPOINTS = ("reader_pages.sign_in_page", "reader_pages.sign_in", "reader_pages.switch_language")

reader_pages = Blueprint("reader_pages", __name__, url_prefix=PAGES_PATH)


def service_request(bundle: dict) -> dict:
    """The bundle's ServiceRequest (intake made sure there is exactly one)."""
    return next(entry["resource"] for entry in bundle["entry"]
                if entry["resource"]["resourceType"] == "ServiceRequest")


def referral_notes(request_resource: dict) -> list[dict]:
    """The notes as ``{"kind", "text"}`` in the order sent, the advice first (kind None when unnamed).

    A referral stored before intake checked notes may hold ones that are not text: they are left out."""
    return sorted(_notes_as_sent(request_resource), key=lambda note: note["kind"] != ADVICE_KIND)  # stable


def _notes_as_sent(request_resource: dict) -> list[dict]:
    return [{"kind": _valid_kind(note_kind(note)), "text": note["text"]} for note in _texts(request_resource, "note")]


def _texts(request_resource: dict, field: str) -> list[dict]:
    """The reasons or notes that hold text (``field``: ``reasonCode`` or ``note``)."""
    items = request_resource.get(field)
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("text"), str)]


def _valid_kind(kind) -> str | None:
    return kind if isinstance(kind, str) and NOTE_KIND_PATTERN.match(kind) else None


def observation_notes(bundle: dict) -> list[dict]:
    """The Observations' notes as ``{"observation", "code", "text"}`` in the order sent (``observation``:
    the Observation's name, its ``code.text``, None when it has none; ``code``: its code in the programme's
    own system, ``imaging_client.referral.LOCAL_OBSERVATION_SYSTEM``, e.g. ``ild-risk``, else None, so
    that a page may name it in its language); notes that are not text are left out."""
    notes = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource.get("resourceType") == "Observation":
            code = resource.get("code") if isinstance(resource.get("code"), dict) else {}
            name = code.get("text")
            notes += [{"observation": name if isinstance(name, str) else None, "code": _programme_code(code),
                       "text": note["text"]} for note in _texts(resource, "note")]
    return notes


def _programme_code(code: dict) -> str | None:
    """The code of a CodeableConcept's coding in the programme's own observation system, when it is one."""
    codings = code.get("coding")
    for coding in codings if isinstance(codings, list) else []:
        if (isinstance(coding, dict) and coding.get("system") == LOCAL_OBSERVATION_SYSTEM
                and isinstance(coding.get("code"), str) and OBSERVATION_CODE_PATTERN.match(coding["code"])):
            return coding["code"]
    return None


def must_not_miss(priority: str, kinds: list) -> list[str]:
    """The markers of a referral (module docstring) from its priority and its notes' kinds, in
    ``MUST_NOT_MISS`` order."""
    found = {"urgent"} if priority == "asap" else set()
    found |= set(kinds) & set(MUST_NOT_MISS)
    return [marker for marker in MUST_NOT_MISS if marker in found]


def _listed(row: dict, kinds: list) -> dict:
    """A referral as the worklist lists it: code, clinic (and whether the hospital revoked its access),
    priority, status, when received, markers."""
    return {"referral_code": row["code"], "clinic": row["clinic"], "clinic_revoked": bool(row["clinic_revoked"]),
            "priority": row["priority"], "status": "revoked" if row["revoked_at"] else row["status"],
            "received_at": row["created_at"], "must_not_miss": must_not_miss(row["priority"], kinds)}


def referral_view(row: dict) -> dict:
    """One referral as a reader sees it: what the worklist lists, and the reasons, the notes and the
    Observations' notes.

    Raises
    ------
    UnreadableReferral
        Its stored bundle cannot be read (never one intake took: a hand-edited or damaged row); carries what
        the server stored beside it (:func:`stored_facts`); a warning names the referral by its row id.
    """
    try:
        bundle = json.loads(row["bundle"])
        request_resource = service_request(bundle)
        notes = referral_notes(request_resource)
        observations = observation_notes(bundle)
    except UNREADABLE_BUNDLE as exc:
        logger.warning("referral id %s: its stored bundle cannot be read (%s); shown without its content",
                       row["id"], type(exc).__name__)
        raise UnreadableReferral("the referral's stored content cannot be read: ask the hospital's administrator "
                                 "to restore it from a backup", stored=stored_facts(row)) from None
    return {**_listed(row, [note["kind"] for note in notes]),
            "reasons": [reason["text"] for reason in _texts(request_resource, "reasonCode")],
            "notes": notes, "observation_notes": observations}


def stored_facts(row: dict) -> dict:
    """What the server stored beside a referral's bundle: what the worklist lists, when it last changed and
    the note kinds intake stored (the worklist's, :func:`worklist`)."""
    kinds = _stored_kinds(row)
    return {**_listed(row, kinds), "updated_at": row["updated_at"], "note_kinds": kinds}


def _stored_kinds(row: dict) -> list[str]:
    """The note kinds stored beside a referral (none without a kinds row: none is missing after migration 10)."""
    return (row["kinds"] or "").split()


@dataclass(frozen=True)
class WorklistQuery:
    """Which page of the worklist, filtered how (empty filters: every referral)."""

    limit: int = DEFAULT_PAGE_SIZE
    after: str | None = None
    status: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    clinic: str | None = None

    def url_values(self, **changed) -> dict:
        """The query as URL parameters (for a link to another page of the same filters)."""
        values = {"limit": self.limit if self.limit != DEFAULT_PAGE_SIZE else None, "after": self.after,
                  "status": list(self.status), "priority": list(self.priority), "clinic": self.clinic, **changed}
        return {name: value for name, value in values.items() if value not in (None, [])}


def worklist_query(args) -> WorklistQuery:
    """The worklist's query from URL parameters (a ``MultiDict``); an empty filter is none (the page's "All").

    Raises
    ------
    ValidationError
        Naming each unknown, repeated or bad parameter (``fields``).
    """
    problems = [(name, "unknown parameter: use limit, after, status, priority or clinic")
                for name in args if name not in ("limit", "after", *FILTERS, "clinic")]
    values = {name: args.getlist(name) for name in ("limit", "after")}
    values |= {name: [value for value in args.getlist(name) if value != ""] for name in (*FILTERS, "clinic")}
    problems += [(name, "given more than once") for name in ("limit", "after", "clinic") if len(values[name]) > 1]
    limit, after, clinic = (values[name][0] if values[name] else None for name in ("limit", "after", "clinic"))
    page_size = DEFAULT_PAGE_SIZE
    if limit is not None:
        if len(limit) <= 3 and limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_PAGE_SIZE:
            page_size = int(limit)
        else:
            problems.append(("limit", f"must be a whole number from 1 to {MAX_PAGE_SIZE}, got {limit[:20]!r}"))
    if after is not None and not REFERRAL_CODE_PATTERN.match(after):
        problems.append(("after", "must be a referral code (the last one of the page before)"))
    if clinic is not None and not re.match(CLINIC_NAME_PATTERN, clinic):
        problems.append(("clinic", "must be a clinic's name"))
    for name, allowed in FILTERS.items():
        problems += [(name, f"{value[:40]!r} is not one of {', '.join(allowed)}")
                     for value in values[name] if value not in allowed]
    if problems:
        summary = "; ".join(f"{name}: {reason}" for name, reason in problems)
        raise ValidationError(f"invalid worklist query: {summary}",
                              fields=[{"field": name, "reason": reason} for name, reason in problems])
    return WorklistQuery(limit=page_size, after=after, status=tuple(dict.fromkeys(values["status"])),
                         priority=tuple(dict.fromkeys(values["priority"])), clinic=clinic)


def worklist(db: Database, query: WorklistQuery = WorklistQuery()) -> dict:
    """A page of the referrals without their notes, most urgent first, then the longest waiting first:
    ``{"referrals": [...], "next_after": <code to ask the next page after, None on the last page>}``.

    Raises
    ------
    ValidationError
        ``after`` names no referral.
    """
    where, params = [], {"limit": query.limit + 1}
    if query.after is not None:
        cursor = db.row(f"SELECT r.id, r.created_at, {PRIORITY_RANK_SQL} AS priority_rank FROM referrals r "
                        "WHERE r.code = :code", {"code": query.after})
        if cursor is None:
            raise ValidationError("invalid worklist query: after: no referral with this code",
                                  fields=[{"field": "after", "reason": "no referral with this code"}])
        where.append(f"({PRIORITY_RANK_SQL} > :rank OR ({PRIORITY_RANK_SQL} = :rank AND (r.created_at > :created "
                     "OR (r.created_at = :created AND r.id > :id))))")
        params.update(rank=cursor["priority_rank"], created=cursor["created_at"], id=cursor["id"])
    stored = [status for status in query.status if status != "revoked"]
    chosen = ([f"(v.revoked_at IS NULL AND r.status IN ({_placeholders('status', stored, params)}))"] if stored
              else []) + (["v.revoked_at IS NOT NULL"] if "revoked" in query.status else [])
    if chosen:
        where.append("(" + " OR ".join(chosen) + ")")
    if query.priority:
        where.append(f"r.priority IN ({_placeholders('priority', query.priority, params)})")
    if query.clinic is not None:
        where.append("c.name = :clinic")
        params["clinic"] = query.clinic
    rows = db.rows(WORKLIST_SELECT + (" WHERE " + " AND ".join(where) if where else "")
                   + " ORDER BY priority_rank, r.created_at, r.id LIMIT :limit", params)
    page = [_listed(row, _stored_kinds(row)) for row in rows[:query.limit]]
    return {"referrals": page, "next_after": page[-1]["referral_code"] if len(rows) > query.limit else None}


def _placeholders(name: str, values, params: dict) -> str:
    """``:name_0, :name_1, ...`` for an IN list, the values added to ``params``."""
    params.update({f"{name}_{index}": value for index, value in enumerate(values)})
    return ", ".join(f":{name}_{index}" for index in range(len(values)))


def fill_note_kinds(db: Database) -> int:
    """Store the note kinds of every referral that has none (one stored before store migration 9), read once
    from its bundle as the referral's page reads its notes; return how many were filled. Store migration 10's
    data step, inside its transaction. A bundle that cannot be read (never one intake took: a hand-edited row)
    gets no kinds, and a warning names the referral by its row id.
    """
    filled, after = 0, 0
    while True:
        rows = db.rows("SELECT r.id, r.bundle FROM referrals r LEFT JOIN referral_note_kinds k ON k.referral_id = r.id "
                       "WHERE k.referral_id IS NULL AND r.id > :after ORDER BY r.id LIMIT :batch",
                       {"after": after, "batch": FILL_BATCH})
        for row in rows:
            try:
                kinds = [note["kind"] for note in _notes_as_sent(service_request(json.loads(row["bundle"])))
                         if note["kind"] is not None]
            except UNREADABLE_BUNDLE:
                logger.warning("referral id %s: its stored bundle cannot be read; stored with no note kinds", row["id"])
                kinds = []
            db.execute("INSERT INTO referral_note_kinds (referral_id, kinds) VALUES (:id, :kinds)",
                       {"id": row["id"], "kinds": " ".join(kinds)})
        filled += len(rows)
        if len(rows) < FILL_BATCH:
            break
        after = rows[-1]["id"]
    logger.info("filled the note kinds of %s referrals stored before store version 9", filled)
    return filled


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
    return jsonify(worklist(request_db(), worklist_query(request.args)))


@review_api.get("/referrals/<code>")
def referral_json(code: str):
    return jsonify(referral_for_reader(request_db(), code))


@reader_pages.before_request
def authenticate_reader():
    """A bearer header (machines) must hold a reader's token; else the browser's session cookie opens
    the pages, and without one the sign-in form answers (401). The sign-in routes open to anyone."""
    db = request_db()
    authorization = request.headers.get("Authorization")
    g.reader_session = None
    if authorization is not None:
        g.reader = reader_for_token(db, authorization)
        return None
    session_id = request.cookies.get(SESSION_COOKIE)
    g.reader = DOOR.session_holder(db, session_id)
    if g.reader is not None:
        g.reader_session = session_id
    elif request.endpoint not in OPEN_ENDPOINTS:
        # The page asked for is where the form leads once signed in (a sign-out's POST leads nowhere).
        return _sign_in_form(message_key="reader_session_needed",
                             next_path=request.path if request.method == "GET" else None)
    return None


def _sign_in_form(**form):
    return sign_in_form(SIGN_IN_PAGE, page_context(), **form)


def _landing(next_path: Optional[str]) -> str:
    """Where a reader goes once signed in: ``next_path`` if it is a reader page (never another host,
    scheme, ``//`` or a page outside ``/reader``), else the worklist."""
    return safe_next(next_path, under=PAGES_PATH, fallback=url_for("reader_pages.worklist_page"))


def _signed_in_context() -> dict:
    """The pages' words, and the signed-in reader's name and sign-out token (none for a bearer token)."""
    session_id = g.reader_session
    return {**page_context(), "reader_name": g.reader["name"] if session_id else None,
            "form_token": session_form_token(session_id) if session_id else None}


@reader_pages.get("")
def sign_in_page():
    """The sign-in form, or the worklist for a reader already signed in."""
    if g.reader is not None:
        return redirect(url_for("reader_pages.worklist_page"), code=303)
    return _sign_in_form(status=200)


@reader_pages.post("/sign-in")
def sign_in():
    """A reader's sign-in: name and password, with the form's CSRF token; an HttpOnly, SameSite=Strict
    cookie limited to ``/reader`` then carries a random session id (:mod:`imaging_server.sign_in_pages`),
    and the reader lands on the form's ``next`` (:func:`_landing`); a form shown again keeps it."""
    landing = _landing(request.form.get("next"))
    show_form = functools.partial(_sign_in_form, next_path=landing)
    if not sign_in_token_sent_back(SIGN_IN_PAGE):
        return show_form(message_key="form_expired", status=403)  # checked first: nothing counted or stored
    settings = current_app.extensions["imaging_server"]
    try:
        session_id = DOOR.sign_in(request_db(), request.form.get("name") or "", request.form.get("password") or "",
                                  lockout=lockout_policy(settings), client=request.remote_addr,
                                  audit_retention_days=settings.sign_in_audit_retention_days)
    except TooManyAttempts as exc:
        return too_many_attempts(exc, show_form)
    except AuthenticationError:
        return show_form(message_key="wrong_credentials")
    except ValidationError as exc:
        return refused_form(exc, show_form)
    return signed_in(SIGN_IN_PAGE, redirect(landing, code=303), session_id)


@reader_pages.post("/sign-out")
def sign_out():
    """End the reader's session; the form's token must be the session's (else 403, the session kept)."""
    check_sign_out(SIGN_IN_PAGE, g.reader_session)
    DOOR.sign_out(request_db(), g.reader_session)
    return signed_out(SIGN_IN_PAGE, redirect(url_for("reader_pages.sign_in_page"), code=303))


@reader_pages.get("/language")
def switch_language():
    """The language switch: the language of every page of this server, the programme's too
    (:func:`imaging_server.programme_i18n.remember_page_language`; an unknown language sets none), then back to
    the page it was on (``next``, a reader page, :func:`_landing`)."""
    return remember_page_language(redirect(_landing(request.args.get("next")), code=303), request.args.get("to"))


@reader_pages.get("/referrals")
def worklist_page():
    """The worklist's page; a bad parameter answers this page (422) naming it above an empty filter form
    (JSON stays for the API)."""
    db = request_db()
    try:
        query = worklist_query(request.args)
        page, problems = worklist(db, query), []
    except ValidationError as exc:
        query, page, problems = WorklistQuery(), {"referrals": [], "next_after": None}, exc.fields
    return render_template("reader_worklist.html", referrals=page["referrals"], next_after=page["next_after"],
                           query=query, problems=problems, clinics=clinic_choices(db, query.clinic),
                           statuses=VIEW_STATUSES, priorities=tuple(PRIORITY_ORDER),
                           **_signed_in_context()), 422 if problems else 200


def clinic_choices(db: Database, chosen: Optional[str] = None) -> dict:
    """The clinic filter's choices: ``active`` (every clinic whose token works) and ``revoked`` (a clinic
    whose token the hospital revoked, only when it has referrals or is ``chosen``): a revoked clinic's
    referrals still wait for their HRCT, so they stay listed and filterable, under a plain mark."""
    clinics = list_clinics(db)
    with_referrals = {row["name"] for row in db.rows(
        "SELECT c.name FROM clinics c WHERE EXISTS (SELECT 1 FROM referrals r WHERE r.clinic_id = c.id)")}
    return {"active": [clinic["name"] for clinic in clinics if not clinic["revoked"]],
            "revoked": [clinic["name"] for clinic in clinics
                        if clinic["revoked"] and (clinic["name"] in with_referrals or clinic["name"] == chosen)]}


@reader_pages.get("/referrals/<code>")
def referral_page(code: str):
    """A referral's page; an unknown code answers a page saying so (404), and a referral whose stored bundle
    cannot be read answers what the server stored beside it and what to do (500); JSON stays for the API."""
    context = _signed_in_context()
    t = context["t"]

    def note_label(kind) -> str:
        return t(f"note_kind_{kind}" if f"note_kind_{kind}" in CATALOG else "note_kind_note")

    def observation_label(note: dict) -> str | None:
        """The page's words for an Observation the programme names by its code; None: show the clinic's name."""
        key = f"observation_{note['code']}"
        return t(key) if note["code"] and key in CATALOG else None

    try:
        referral = referral_for_reader(request_db(), code)
    except NotFound:
        return render_template("reader_referral.html", referral=None, **context), 404
    except UnreadableReferral as exc:
        return render_template("reader_referral.html", referral=exc.stored, unreadable=True, note_label=note_label,
                               **context), exc.status
    return render_template("reader_referral.html", referral=referral, note_label=note_label,
                           observation_label=observation_label, **context)
