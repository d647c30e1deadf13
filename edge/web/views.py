"""Pages of the tablet UI. Forms post to these routes (they work without JavaScript); the
scripts enhance them: microphone recording, waveform and spectrogram, drafts, progress."""
from __future__ import annotations

import datetime as dt
import functools
import io
import json
import logging
from typing import Callable, Optional

import qrcode
import qrcode.image.svg
from werkzeug.datastructures import MultiDict
from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request, url_for
from pydantic import ValidationError as PydanticValidationError
from markupsafe import Markup

from common.http_security import LoginFormToken, safe_next
from common.i18n import remember_language
from common.passwords import MAX_PASSWORD_LENGTH
from edge import (auscultation, auth, breath, form_drafts, freshness, labs, monitoring_ends, outbox, outcomes, patients,
                  recordings, screening)
from edge.api.operations import SESSION_COOKIE, set_session_cookie
from edge.audit import Actor
from edge.errors import (AuthenticationError, Conflict, EditConflict, IldscreenError, PasswordTooLong, SmokingContradiction,
                         ValidationError,
                         WrongPin)
from edge.fusion.evidence import ValidationRule
from edge.modalities import ServedCrackleModel, served_crackle_model
from edge.schemas import PatientCreate, PatientUpdate
from edge.store.database import write_transaction
from edge.users import (MIN_PASSWORD_LENGTH, PIN_LENGTHS, check_password_policy, check_pin_policy, clear_pin,
                        normalize_pin, set_password, set_pin)
from edge.vocabulary import AUTOANTIBODIES, CTD_DIAGNOSES, MONITORING_END_NOTE_MAX, MONITORING_END_REASONS, SYMPTOMS
from tabular_models.lab_catalogue import ANALYTES
from edge.web import clinic_time, presenters
from edge.web.i18n import (CATALOG, LANGUAGES, bracketed, join_list, join_sentences, negotiate_language, quality_issue,
                           separators, translate)

logger = logging.getLogger(__name__)
blueprint = Blueprint("ui", __name__)
# Spellings a nurse would not pick from a list (caret and shorthand variants stay accepted in files).
HIDDEN_UNITS = {"K/uL", "M/uL", "/nL", "/pL", "10*3/mm3", "10*6/mm3", "/mm3", "um3", "1", "[IU]/L", "meq/L"}


def _form_units(analyte) -> list[str]:
    """The UCUM codes the lab form offers for ``analyte``, SI unit first, each as the nurse reads it once: two
    spellings of one unit (``mm/h`` and ``mm/[hr]``, ``U/mL`` and ``[U]/mL``) are one option, the first kept."""
    shown = {}
    for unit in [analyte.si_unit, *analyte.units]:
        if "^" not in unit and unit not in HIDDEN_UNITS:
            shown.setdefault(presenters.readable_unit(unit), unit)
    return list(shown.values())


# The lab form: the core CBC + CMP and the optional markers, in catalogue order, SI unit first.
LAB_FORM_ANALYTES = [{"key": a.key, "display": a.display, "si_unit": a.si_unit, "units": _form_units(a)}
                     for a in ANALYTES if not a.key.endswith("_pct")]
# The login form's CSRF token (the form has no session yet): a cookie for the whole site, as before.
LOGIN_FORM_TOKEN = LoginFormToken(cookie="ildscreen_login_csrf")
CLINICAL = ("nurse", "clinician")


def _resources():
    return current_app.extensions["ildscreen"]


@blueprint.before_request
def identify():
    g.lang = negotiate_language()
    g.ui_user, g.ui_session, g.ui_locked = None, None, False
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            g.ui_user, g.ui_session = auth.session_user(_resources().db(), token, allow_locked=True)
        except IldscreenError:
            pass  # an expired session is the same as none: the page asks to log in
        else:
            g.ui_locked = bool(g.ui_session["locked_at"])


@blueprint.app_context_processor
def template_helpers():
    lang = g.get("lang") or negotiate_language()
    settings = _resources().settings
    zone = settings.clinic_zone
    return {
        "t": lambda key, **values: translate(key, lang, **values),
        "join_list": lambda items: join_list(items, lang),
        "bracketed": lambda name, words: bracketed(name, words, lang),
        # What stands between two things a page shows side by side (sentences, pieces of a line): a template never
        # writes a bare space between two phrases, which Chinese has none of.
        "gap": separators(lang),
        # The result's lung-sound lines, worded for the visit's status (a closed visit's is its record) and their
        # reader (presenters.LUNG_SOUND_READERS: the referral letter's states facts only).
        "not_heard_text": lambda sounds, status, reader: presenters.not_heard_text(sounds, lang, visit_status=status,
                                                                                   reader=reader),
        "exam_incomplete_text": lambda sounds, status, reader: presenters.exam_incomplete_text(
            sounds, lang, visit_status=status, reader=reader),
        "not_counted_text": lambda modality, code, status, reader="nurse": presenters.not_counted_text(
            modality, code, lang, visit_status=status, reader=reader),
        "local_date": lambda stamp: clinic_time.local_date(stamp, zone),
        "local_time": lambda stamp: clinic_time.local_time(stamp, zone),
        "local_datetime": lambda stamp: clinic_time.local_datetime(stamp, zone),
        "readable_unit": presenters.readable_unit,
        "idle_seconds": int(settings.idle_logout_minutes * 60),
        "typed_max_chars": MAX_TYPED_CHARS,
        # Each limited input's maxlength is the server's own limit: the browser stops typing where the
        # server would refuse (the lab and lung-function values' is the visit page's, VALUE_MAX_CHARS).
        "max_chars": {"password": MAX_PASSWORD_LENGTH, "pin": PIN_LENGTHS.stop - 1, "reason": outbox.MAX_REASON_CHARS,
                      "monitoring_note": MONITORING_END_NOTE_MAX, "draft": patients.DRAFT_MAX_VALUE},
        # What was wrong with a take or reading; what to do about it only where something can still be recorded.
        "quality_issue": lambda issue, kind, advise=True: quality_issue(issue, kind, lang, advise=advise),
        # A take's or reading's issues said together: each a sentence of its own, joined as the language joins them.
        "quality_issues": lambda issues, kind, advise=True: join_sentences(
            [quality_issue(issue, kind, lang, advise=advise) for issue in issues], lang),
        "lang": lang,
        "catalog": CATALOG,
        "other_lang": "zh-CN" if lang == "en" else "en",
        # A locked session's page (the lock screen) gets no user menu and no idle timer.
        "user": None if g.get("ui_locked") else g.get("ui_user"),
        "csrf_token": g.ui_session["csrf_token"] if g.get("ui_session") else "",
        "draft_owner": _draft_owner(),
        "draft_adopt": _draft_adopt(),
    }


def _draft_owner() -> Optional[str]:
    """Whose session a page is, for static/app.js's offline drafts: the session's opaque owner
    value (also on the lock screen: the PIN reopens that session, whose drafts wait), "" without
    a session, None where nobody looked (an error page outside these routes says nothing)."""
    if "ui_session" not in g:
        return None
    return form_drafts.tablet_draft_owner(g.ui_session) if g.ui_session else ""


def _draft_adopt() -> list[str]:
    """The owner values of offline drafts this session's pages take over: those of the same nurse's
    sessions that her idle lock ended while still valid (:func:`form_drafts.adoptable_tablet_draft_owners`);
    none on the lock screen."""
    if not g.get("ui_session") or g.get("ui_locked"):
        return []
    return form_drafts.adoptable_tablet_draft_owners(_resources().db(), g.ui_user["id"])


def sign_in_or_unlock():
    """Where a page of a signed-in account sends a request that has no unlocked session: the login
    page when nobody is signed in, the lock screen while the session is locked. None when the page
    may go on, once a POST's CSRF token is checked (a wrong one raises)."""
    if g.ui_user is None:
        return redirect(url_for("ui.login", next=request.path))
    if g.ui_locked:
        return to_lock_screen()
    if request.method == "POST":
        auth.check_csrf(g.ui_session, request.form.get("csrf_token") or request.headers.get("X-CSRF-Token"))
    return None


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(**kwargs):
        if (elsewhere := sign_in_or_unlock()) is not None:
            return elsewhere
        if g.ui_user["must_change_password"]:
            return redirect(url_for("ui.change_password", next=request.path))
        if g.ui_user["role"] not in CLINICAL:
            abort(403, translate("err_role", g.lang))
        g.actor = Actor(g.ui_user["id"], g.ui_user["username"], g.ui_user["role"])
        return view(**kwargs)

    return wrapper


def _safe_next(target: Optional[str]) -> str:
    """Only same-origin relative paths, however percent-encoded: never an open redirect."""
    return safe_next(target, fallback=url_for("ui.home"))


@blueprint.route("/lang/<code>")
def switch_language(code: str):
    if code not in LANGUAGES:
        abort(404, f"unknown language {code!r}")
    return remember_language(redirect(_safe_next(request.args.get("next"))), code)


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        if not LOGIN_FORM_TOKEN.sent_back():
            abort(403, "login form expired: reload the page")
        resources = _resources()
        try:
            user = auth.verify_login(resources.db(), request.form.get("username", ""),
                                     request.form.get("password", ""), resources.lockout_policy)
        except PasswordTooLong:
            error, status = translate("err_password_too_long", g.lang, max=MAX_PASSWORD_LENGTH), 422
        except AuthenticationError:
            error, status = translate("wrong_credentials", g.lang), 401
        else:
            if request.cookies.get(SESSION_COOKIE):
                # Someone else logging in on a locked tablet: the session left behind ends now.
                auth.end_session(resources.db(), request.cookies[SESSION_COOKIE])
            grant = auth.start_session(resources.db(), user, hours=resources.settings.session_hours)
            form_drafts.adopt_after_login(resources.db(), user["id"], grant.token)
            form_drafts.sweep_ended_sessions(resources.db())  # the tablet changes hands: a natural moment
            # The session's own CSRF token takes over: the login form's cookie goes, as at the hospital's doors.
            return LOGIN_FORM_TOKEN.clear(set_session_cookie(redirect(_safe_next(request.args.get("next"))), grant,
                                                             resources.settings))
    locked = request.args.get("locked") == "1"
    # After the idle lock of a nurse without a PIN the page says nothing about whose drafts the tablet
    # holds, so it leaves the offline queue alone: her next login takes it over, anyone else's drops it
    # (_draft_adopt). Any other way here (logout, "Switch user", an expired session) drops it.
    return LOGIN_FORM_TOKEN.issue(lambda login_csrf: make_response(render_template(
        "login.html", error=error, login_csrf=login_csrf, locked=locked, **({"draft_owner": None} if locked else {})),
        status))


def signed_in(view: Callable) -> Callable:
    """Any logged-in account, also one that must still change its one-time password."""
    @functools.wraps(view)
    def wrapper(**kwargs):
        if (elsewhere := sign_in_or_unlock()) is not None:
            return elsewhere
        g.actor = Actor(g.ui_user["id"], g.ui_user["username"], g.ui_user["role"])
        return view(**kwargs)

    return wrapper


def to_lock_screen():
    """A locked session sees only the lock screen: a page script's fetch gets a 401 JSON, a page
    the lock screen (which returns to this page once unlocked, GET only: a form is not re-posted)."""
    if request.headers.get("X-Requested-With") == "fetch":
        return {"error": {"code": "session_locked", "message": translate("session_locked", g.lang)}}, 401
    return redirect(url_for("ui.unlock", next=request.path if request.method == "GET" else None))


def _end_session(target: str, *, keep_form_draft: bool = False):
    auth.end_session(_resources().db(), request.cookies[SESSION_COOKIE], keep_form_draft=keep_form_draft)
    response = redirect(target)
    response.delete_cookie(SESSION_COOKIE)
    return response


@blueprint.post("/logout")
@signed_in
def logout():
    return _end_session(url_for("ui.login"))


@blueprint.post("/lock")
@signed_in
def lock():
    """The idle lock of a shared tablet (static/app.js posts here after the idle time).

    A nurse with a PIN: the session stays but is locked server-side (every page and API call
    with it is refused) until her PIN unlocks it, and the same page opens again. Without a PIN
    the session ends, and the same page opens again after the password is entered.
    Either way, what the page had typed and not saved (the form field ``typed``) comes back there.
    """
    target = _safe_next(request.form.get("next"))
    _keep_typed(request.form.get("typed", ""))
    if not g.ui_user["pin_hash"]:
        return _end_session(url_for("ui.login", next=target, locked=1), keep_form_draft=True)
    auth.lock_session(_resources().db(), request.cookies[SESSION_COOKIE])
    return redirect(url_for("ui.unlock", next=target))


# The most the lock form's typed values may weigh: a full lab panel with units is a few kB. Form
# encoding turns a Chinese character into 9 bytes, and 32,000 of them stay under Flask's 500 kB
# MAX_FORM_MEMORY_SIZE: a bigger body would be refused, and the lock with it.
MAX_TYPED_CHARS = 32_000


def _keep_typed(raw: str) -> None:
    """Keep what static/app.js found typed and unsaved when the tablet locked: a visit form's
    fields in the visit's draft, the patient form's with the session (:mod:`edge.form_drafts`).

    ``raw`` is JSON ``{"visit": {"id", "fields": {key: text}}, "patient_form": {"path", "fields":
    {name: [texts]}}}``, each part optional. Locking is the safety property: a part that cannot
    be kept (malformed, too big, a closed visit) is dropped, logged by kind only (no value, no id),
    and the lock goes on; the nurse then finds that form as it was last saved.
    """
    if not raw:
        return
    try:
        if len(raw) > MAX_TYPED_CHARS:
            raise ValidationError(f"typed values of {len(raw)} characters, at most {MAX_TYPED_CHARS}")
        typed = json.loads(raw)
        if not isinstance(typed, dict):
            raise ValidationError("typed values must be an object")
    except (ValueError, ValidationError) as exc:
        logger.warning("typed values not kept at the lock: %s", type(exc).__name__)
        return
    db = _resources().db()
    visit, form = typed.get("visit"), typed.get("patient_form")
    if isinstance(visit, dict) and g.ui_user["role"] in CLINICAL and not g.ui_user["must_change_password"]:
        try:
            if not str(visit.get("id", "")).isdigit():
                raise ValidationError("the visit id must be a number")
            patients.merge_draft(db, g.actor, int(visit["id"]), visit.get("fields"))
        except IldscreenError as exc:
            logger.warning("a visit's typed values not kept at the lock: %s", type(exc).__name__)
    if isinstance(form, dict):
        try:
            form_drafts.keep_patient_form(db, request.cookies[SESSION_COOKIE], form.get("path"), form.get("fields"))
        except IldscreenError as exc:
            logger.warning("the patient form's typed values not kept at the lock: %s", type(exc).__name__)


def _kept_patient_form(path: str) -> Optional[dict]:
    """The patient form kept for ``path`` at the idle lock, as form values (shown once), or None."""
    kept = form_drafts.take_patient_form(_resources().db(), request.cookies.get(SESSION_COOKIE, ""), path)
    if kept is None:
        return None
    form = MultiDict([(name, value) for name, values in kept.items() for value in values])
    return {**_patient_form_values(form), "visit_id": form.get("visit", ""), "version": form.get("version", "")}


def _forget_patient_form() -> None:
    form_drafts.forget_patient_form(_resources().db(), request.cookies.get(SESSION_COOKIE, ""))


@blueprint.route("/unlock", methods=["GET", "POST"])
def unlock():
    """The lock screen: whose session this is (the user name, no patient data) and her PIN.

    The right PIN reopens the same session at the page it locked on; the setting
    ``pin_max_attempts``-th wrong one ends the session (password login). Without a session, or
    one that is not locked, there is nothing to unlock: the login or the page follows.
    """
    target = _safe_next(request.args.get("next"))
    if g.ui_user is None:
        return redirect(url_for("ui.login", next=target))
    if not g.ui_locked:
        return redirect(target)
    if not g.ui_user["pin_hash"]:  # the PIN was removed meanwhile (another tablet): the password it is
        return _end_session(url_for("ui.login", next=target, locked=1))
    error, status = None, 200
    if request.method == "POST":
        auth.check_csrf(g.ui_session, request.form.get("csrf_token"))
        resources = _resources()
        try:
            auth.unlock_session(resources.db(), request.cookies[SESSION_COOKIE], request.form.get("pin", ""),
                                max_attempts=resources.settings.pin_max_attempts)
        except WrongPin as exc:
            error, status = translate("err_pin_wrong", g.lang, left=exc.attempts_left), 401
        except AuthenticationError:
            response = redirect(url_for("ui.login", pin_ended=1))
            response.delete_cookie(SESSION_COOKIE)
            return response
        else:
            return redirect(target)
    return render_template("unlock.html", owner=g.ui_user["username"], error=error,
                           csrf_token=g.ui_session["csrf_token"], next_path=target), status


@blueprint.post("/unlock/switch")
def switch_user():
    """"Not you?": the locked session ends and the login page follows."""
    if g.ui_user is None:
        return redirect(url_for("ui.login"))
    auth.check_csrf(g.ui_session, request.form.get("csrf_token"))
    return _end_session(url_for("ui.login"))


@blueprint.route("/account/password", methods=["GET", "POST"])
@signed_in
def change_password():
    """Change one's password; forced before anything else after a one-time password."""
    errors = {}
    if request.method == "POST":
        resources = _resources()
        current, new = request.form.get("current_password", ""), request.form.get("new_password", "")
        if new != request.form.get("repeat_password", ""):
            errors["repeat_password"] = translate("err_password_repeat", g.lang)
        try:
            auth.verify_login(resources.db(), g.ui_user["username"], current, resources.lockout_policy)
        except PasswordTooLong:
            errors["current_password"] = translate("err_password_too_long", g.lang, max=MAX_PASSWORD_LENGTH)
        except AuthenticationError:
            errors["current_password"] = translate("err_password_current", g.lang)
        try:
            check_password_policy(new, username=g.ui_user["username"])
        except PasswordTooLong:
            errors["new_password"] = translate("err_password_too_long", g.lang, max=MAX_PASSWORD_LENGTH)
        except ValidationError:
            errors["new_password"] = translate("err_password_policy", g.lang, length=MIN_PASSWORD_LENGTH)
        if new == current:
            errors["new_password"] = translate("err_password_same", g.lang)
        if not errors:
            # This tablet session stays open; every other session and token of the account ends.
            session_token = request.cookies.get(SESSION_COOKIE)
            set_password(resources.db(), g.actor, g.ui_user["id"], new,
                         keep_session_hash=auth.hash_token(session_token) if session_token else None)
            return redirect(_safe_next(request.args.get("next")))
    return _account_page(errors=errors, pin_saved=request.args.get("pin", "") if request.method == "GET" else "")


def _account_page(*, errors: Optional[dict] = None, pin_errors: Optional[dict] = None, pin_saved: str = ""):
    failed = errors or pin_errors
    return render_template("password.html", errors=errors or {}, pin_errors=pin_errors or {}, pin_saved=pin_saved,
                           forced=bool(g.ui_user["must_change_password"]), has_pin=bool(g.ui_user["pin_hash"]),
                           min_length=MIN_PASSWORD_LENGTH, pin_lengths=PIN_LENGTHS), 422 if failed else 200


@blueprint.post("/account/pin")
@signed_in
def account_pin():
    """Set, change or remove one's tablet PIN; the current password is required for each."""
    if g.ui_user["must_change_password"]:
        return redirect(url_for("ui.change_password"))
    resources = _resources()
    errors = {}
    remove = request.form.get("action") == "remove"
    pin = request.form.get("pin", "")
    try:
        auth.verify_login(resources.db(), g.ui_user["username"], request.form.get("pin_password", ""),
                          resources.lockout_policy)
    except PasswordTooLong:
        errors["pin_password"] = translate("err_password_too_long", g.lang, max=MAX_PASSWORD_LENGTH)
    except AuthenticationError:
        errors["pin_password"] = translate("err_password_current", g.lang)
    if not remove:
        try:
            check_pin_policy(pin)
        except ValidationError:
            errors["pin"] = translate("err_pin_policy", g.lang, low=PIN_LENGTHS.start, high=PIN_LENGTHS.stop - 1)
        if normalize_pin(pin) != normalize_pin(request.form.get("repeat_pin", "")):
            errors["repeat_pin"] = translate("err_pin_repeat", g.lang)
    if errors:
        return _account_page(pin_errors=errors)
    if remove:
        clear_pin(resources.db(), g.actor, g.ui_user["id"])
    else:
        set_pin(resources.db(), g.actor, g.ui_user["id"], pin)
    return redirect(url_for("ui.change_password", pin="removed" if remove else "saved"))


@blueprint.route("/", methods=["GET", "POST"])
@login_required
def home():
    """Today's worklist and the patient search. The search is a POST form so that the patient
    code never appears in a URL (history, proxy logs, Referer); the query is kept with the
    server-side session and the POST redirects to a GET (POST-redirect-GET), so Back and reload
    never ask to resubmit a form."""
    db = _resources().db()
    token_hash = auth.hash_token(request.cookies.get(SESSION_COOKIE, ""))
    if request.method == "POST":
        query = request.form.get("code", "").strip()[:64]
        with write_transaction(db):
            db.execute("UPDATE sessions SET last_search = ? WHERE token_hash = ?", [query or None, token_hash])
        return redirect(url_for("ui.home", searched=1) + "#search-results" if query else url_for("ui.home"))
    query = ""
    if request.args.get("searched") == "1":
        row = db.execute("SELECT last_search FROM sessions WHERE token_hash = ?", [token_hash]).fetchone()
        query = (row[0] or "") if row else ""
    found = []
    if query:
        found, _ = patients.list_patients(db, code_prefix="".join(ch for ch in query if ch.isalnum() or ch == "-"))
    return render_template("home.html", visits=worklist(db), query=query, found=found,
                           boards=_resources().devices.statuses())


def worklist(db) -> list[dict]:
    """Today's visits (the clinic's day, not the server's), with status, tier and missing steps."""
    zone = _resources().settings.clinic_zone
    start, end = clinic_time.day_bounds_utc(clinic_time.clinic_today(zone), zone)
    rows = db.execute_returning_dicts(
        "SELECT v.id FROM visits v WHERE v.started_at >= ? AND v.started_at < ? ORDER BY v.started_at DESC",
        [start, end])
    crackle_model = served_crackle_model()  # one reading for the whole list
    return [visit_summary(db, row["id"], crackle_model=crackle_model) for row in rows]


def heard_rule(crackle_model: Optional[ServedCrackleModel] = None) -> dict:
    """Which takes make their chest site heard, as the next assessment will decide it (keyword
    arguments of :func:`edge.web.presenters.makes_its_site_heard`): the served crackle model's
    threshold (None when it is not available), the pieces that cannot clear
    (``evidence_chest_pieces_cannot_clear``) and whether only a validated stethoscope counts
    (``evidence_require_validated_stethoscope``). The checklist and the chest map use it; a stored
    result reads its own (:func:`edge.web.presenters.assessment_heard_rule`). ``crackle_model``:
    the served model as the page already read it (:func:`edge.modalities.served_crackle_model`),
    so one page judges every take by one reading; None reads it now."""
    threshold = (crackle_model or served_crackle_model()).threshold
    settings = _resources().settings
    return {"threshold": threshold, "cannot_clear": settings.evidence_chest_pieces_cannot_clear,
            "require_validated_stethoscope": settings.evidence_require_validated_stethoscope}


def validation_rule() -> ValidationRule:
    """The programme's validation rule (``evidence_validation_rule``), which also judges each take by its
    device's own figures (:func:`edge.auscultation.stethoscope_validation`): the pages read takes under it,
    as the next assessment will."""
    return _resources().settings.evidence_options.validation_rule


def crackle_validation(assessment: dict, crackle_model: Optional[ServedCrackleModel] = None) -> Optional[dict]:
    """The crackle model note's figures (:func:`edge.auscultation.adult_validation`), with their population's
    per device: those the assessment kept (``crackle_model_by_device``; one kept before it did has them only
    when its figures are over all the population's devices, whose block carries them), else (one stored
    before it kept any) the served model's (``crackle_model`` as the page read it; None reads it now)."""
    if "crackle_model_adults" in assessment:
        adults = assessment["crackle_model_adults"]
        by_device = assessment.get("crackle_model_by_device") or auscultation.population_by_device(adults, None)
    else:
        served = crackle_model or served_crackle_model()
        adults = served.counted_figures(None)
        by_device = auscultation.population_by_device(adults, served.populations)
    return auscultation.adult_validation(adults, by_device)


def crackle_caveats(assessment: dict) -> Optional[list[str]]:
    """The crackle model's caveats in the reader's language as ``assessment`` kept its validation status
    (:func:`edge.web.presenters.crackle_model_caveats`; None: show the model's English statement instead)."""
    kept = ((assessment.get("validation") or {}).get("models") or {}).get("auscultation")
    return presenters.crackle_model_caveats(kept, g.lang)


def programme_settings_today() -> dict[str, dict]:
    """Today's settings of the evidence model and triage, as an assessment keeps them
    (:func:`edge.freshness.settings_in_force`)."""
    return freshness.settings_in_force(_resources().settings)


def visit_summary(db, visit_id: int, *, crackle_model: Optional[ServedCrackleModel] = None) -> dict:
    """One visit with its patient, latest assessment and checklist (``crackle_model``: as for
    :func:`heard_rule`)."""
    visit = patients.get_visit(db, visit_id)
    patient = patients.get_patient(db, visit["patient_id"])
    steps = presenters.checklist(
        visit, recordings=recordings.list_recordings(db, visit_id, rule=validation_rule()),
        breath_readings=breath.list_breath_readings(db, visit_id),
        lab_results=labs.list_lab_results(db, visit_id), patient=patient, **heard_rule(crackle_model))
    return {"visit": visit, "patient": patient, "assessment": screening.latest_assessment(db, visit_id),
            "steps": steps, "missing": [step for step, state in steps.items() if state == "pending"],
            # A clinician's end of monitoring in force now: shown instead of the result's PFT due dates.
            "monitoring_end": monitoring_ends.end_in_force(db, patient["id"])}


def _field_errors(exc: PydanticValidationError, lang: str) -> dict[str, str]:
    errors = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        if error["type"] == "missing":
            key = "err_required"
        elif field in ("code", "birth_year", "medications"):
            key = f"err_{field}"
        else:
            key = "err_invalid"
        this_year = dt.date.today().year
        errors[field] = translate(key, lang, low=this_year - 120, high=this_year - 16)
    return errors


def _smoking_errors(lang: str) -> dict:
    """The patient form's message for a never-smoker with pack-years (edge.patients.check_smoking), under the
    pack-years input: either that or the smoking choice is the one to correct."""
    return {"pack_years": translate("err_pack_years_never", lang, former=translate("smoking_former", lang),
                                    current=translate("smoking_current", lang))}


@blueprint.route("/patients/new", methods=["GET", "POST"])
@login_required
def register_patient():
    errors, values = {}, {}
    kept = _kept_patient_form(request.path) if request.method == "GET" else None
    if kept is not None:
        values = kept
    if request.method == "POST":
        values = _patient_form_values(request.form)
        try:
            # Empty inputs count as missing, so the message is "Required." rather than "invalid".
            # A form sends text: numbers are parsed from it (the JSON API's types are strict).
            body = PatientCreate.model_validate({k: v for k, v in values.items() if v not in (None, "")}, strict=False)
            patient = patients.create_patient(_resources().db(), g.actor, body.model_dump())
        except PydanticValidationError as exc:
            errors = _field_errors(exc, g.lang)
        except SmokingContradiction:
            errors = _smoking_errors(g.lang)
        except Conflict:
            twin = _same_patient_registered(values)
            if twin is not None:  # the same form sent twice (double tap, Back and send again)
                _forget_patient_form()
                return redirect(url_for("ui.patient_timeline", patient_id=twin["id"], already=1))
            errors = {"code": translate("err_duplicate_code", g.lang)}
        else:
            _forget_patient_form()
            return redirect(url_for("ui.patient_timeline", patient_id=patient["id"]))
    return render_template("patient_form.html", errors=errors, values=values, ctds=CTD_DIAGNOSES,
                           antibodies=AUTOANTIBODIES, symptoms=SYMPTOMS, unsaved=kept is not None), \
        422 if errors else 200


# What makes a second registration under a taken code the same form sent again, not a clash.
SAME_REGISTRATION = ("birth_year", "sex", "ctd_diagnosis")


def _same_patient_registered(values: dict) -> Optional[dict]:
    """The patient already registered under the form's code when the form describes the same
    person (:data:`SAME_REGISTRATION`), else None (a real clash of codes: the form says so)."""
    found, _ = patients.list_patients(_resources().db(), code_prefix=values["code"], limit=5)
    twin = next((p for p in found if p["code"].upper() == values["code"].upper()), None)
    if twin is None or any(str(twin[key]) != str(values[key]) for key in SAME_REGISTRATION):
        return None
    return twin


def _patient_form_values(form) -> dict:
    """The patient form's fields as the schemas read them (empty inputs count as missing)."""
    return {
        "code": form.get("code", "").strip(),
        "birth_year": form.get("birth_year", "").strip() or None,
        "sex": form.get("sex") or None,
        "ctd_diagnosis": form.get("ctd_diagnosis") or None,
        "autoantibodies": form.getlist("autoantibodies"),
        "smoking": form.get("smoking") or "never",
        "pack_years": form.get("pack_years", "").strip() or None,
        "symptoms": form.getlist("symptoms"),
        "medications": [m.strip() for m in form.get("medications", "").split(",") if m.strip()],
    }


@blueprint.route("/patients/<int:patient_id>/edit", methods=["GET", "POST"])
@login_required
def edit_patient(patient_id: int):
    """Correct a patient's details and symptoms (audited), from the visit's checklist or the
    timeline. Saving from a visit also marks its symptoms step reviewed (no symptoms is an answer)."""
    db = _resources().db()
    patient = patients.get_patient(db, patient_id)
    kept = _kept_patient_form(request.path) if request.method == "GET" else None
    visit_id = request.values.get("visit", "") or (kept or {}).get("visit_id", "")
    visit = patients.get_visit(db, int(visit_id)) if visit_id.isdigit() else None
    if visit is not None and visit["patient_id"] != patient_id:
        abort(404, "no such visit for this patient")
    errors, values, newer, out_of_date = {}, dict(patient), None, False
    if kept is not None:
        values = {**kept, "code": patient["code"]}
    if request.method == "POST" and not request.form.get("version", "").strip():
        # The tablet's form always names the version it showed: one without it is a page cached
        # before versions existed, or a hand-made post, and could overwrite an edit unseen. Nothing
        # is saved; the form shows the patient as saved now, for the change to be entered again.
        out_of_date = True
    elif request.method == "POST":
        values = {**_patient_form_values(request.form), "code": patient["code"],
                  "version": request.form.get("version", "")}
        try:
            changes = {k: v for k, v in values.items() if k != "code" and v not in (None, "")}
            changes.setdefault("symptoms", [])
            changes.setdefault("autoantibodies", [])
            if "pack_years" in request.form:  # an empty input clears them (not known); a form without it keeps them
                changes["pack_years"] = values["pack_years"]
            changes = PatientUpdate.model_validate(changes, strict=False).model_dump(exclude_unset=True)
            version = changes.pop("version")  # the version the form showed (a stale tab's is older)
            patients.update_patient(db, g.actor, patient_id, changes, version=version)
            if visit is not None and visit["status"] == "open":
                patients.mark_symptoms_reviewed(db, g.actor, visit["id"])
        except PydanticValidationError as exc:
            errors = _field_errors(exc, g.lang)
        except SmokingContradiction:
            errors = _smoking_errors(g.lang)
        except EditConflict:
            # Saved meanwhile in another tab: the typed values stay in the form, the saved ones are
            # shown beside them, and saving again (now against the version shown) is a choice.
            errors, newer = {"form": translate("err_patient_edited", g.lang)}, patient
            values["version"] = patient["version"]
        else:
            _forget_patient_form()
            if visit is not None:
                return redirect(url_for("ui.visit_page", visit_id=visit["id"]) + "#checklist")
            return redirect(url_for("ui.patient_timeline", patient_id=patient_id))
    return render_template("patient_form.html", errors=errors, values=values, ctds=CTD_DIAGNOSES,
                           antibodies=AUTOANTIBODIES, symptoms=SYMPTOMS, editing=patient, visit=visit,
                           unsaved=kept is not None, newer=newer, out_of_date=out_of_date), \
        409 if newer or out_of_date else 422 if errors else 200


@blueprint.route("/patients/<int:patient_id>")
@login_required
def patient_timeline(patient_id: int):
    return _patient_page(patient_id)


def _patient_page(patient_id: int, *, monitoring_errors: Optional[dict] = None, typed: Optional[dict] = None,
                  status: int = 200):
    """The patient's record and timeline; ``monitoring_errors`` ({field: message}) and ``typed`` (the values
    sent) when the end-of-monitoring form was refused."""
    db = _resources().db()
    patient = patients.get_patient(db, patient_id)
    visits = patients.list_visits(db, patient_id)
    for visit in visits:
        visit["assessment"] = screening.latest_assessment(db, visit["id"])
    referrals = outbox.list_referrals(db, patient_id=patient_id)
    for referral in referrals:
        result = referral.get("imaging_result")
        referral["ct_metrics"] = presenters.ct_metrics(result.get("metrics", {})) if result else []
    return render_template("patient.html", patient=patient, visits=visits, referrals=referrals,
                           trend=presenters.trend_points(visits), ctd_names=CTD_DIAGNOSES,
                           outcomes=outcomes.list_outcomes(db, patient_id),
                           ild_trend=outbox.ild_extent_trend(referrals),
                           confirmed_ild=outcomes.confirmed_ild(db, patient_id),
                           monitoring_end=monitoring_ends.end_in_force(db, patient_id),
                           monitoring_reasons=MONITORING_END_REASONS, monitoring_errors=monitoring_errors or {},
                           typed=typed or {}, monitoring_saved=request.args.get("monitoring", ""),
                           today=dt.date.today().isoformat()), status


def _clinician_only() -> None:
    if g.actor.role != "clinician":
        abort(403, translate("err_monitoring_role", g.lang))


@blueprint.post("/patients/<int:patient_id>/monitoring-end")
@login_required
def end_monitoring(patient_id: int):
    """A clinician records that monitoring ended (the API's POST /patients/{id}/monitoring-ends): back to
    the patient's page, which says it was recorded, or already was; a refused value is said beside its field."""
    _clinician_only()
    typed = {key: request.form.get(key, "") for key in ("date", "reason", "note")}
    try:
        ending = monitoring_ends.end_monitoring(_resources().db(), g.actor, patient_id, ended_on=typed["date"],
                                                reason=typed["reason"], note=typed["note"])
    except ValidationError as exc:
        errors = {item["field"]: translate(f"err_monitoring_end_{item['field']}", g.lang, max=MONITORING_END_NOTE_MAX)
                  for item in exc.fields}
        return _patient_page(patient_id, monitoring_errors=errors, typed=typed, status=422)
    saved = "already_ended" if ending.already else "ended"
    return redirect(url_for("ui.patient_timeline", patient_id=patient_id, monitoring=saved) + "#monitoring")


@blueprint.post("/monitoring-ends/<int:end_id>/resume")
@login_required
def resume_monitoring(end_id: int):
    """A clinician undoes an end of monitoring (the API's POST /monitoring-ends/{id}/resume)."""
    _clinician_only()
    resumption = monitoring_ends.resume_monitoring(_resources().db(), g.actor, end_id)
    saved = "already_resumed" if resumption.already else "resumed"
    return redirect(url_for("ui.patient_timeline", patient_id=resumption.end["patient_id"], monitoring=saved)
                    + "#monitoring")


@blueprint.post("/patients/<int:patient_id>/visits")
@login_required
def start_visit(patient_id: int):
    """Start a visit, or continue the patient's visit still open today: a second tap, or Back and
    tap again, never opens a second visit of the same patient on the same day."""
    db = _resources().db()
    open_today = _open_visit_today(db, patient_id)
    if open_today is not None:
        return redirect(url_for("ui.visit_page", visit_id=open_today["id"], continued=1))
    visit = patients.create_visit(db, g.actor, patient_id)
    return redirect(url_for("ui.visit_page", visit_id=visit["id"]))


def _open_visit_today(db, patient_id: int) -> Optional[dict]:
    """The patient's open visit started on the clinic's today, if any."""
    zone = _resources().settings.clinic_zone
    start, end = clinic_time.day_bounds_utc(clinic_time.clinic_today(zone), zone)
    return next((visit for visit in patients.list_visits(db, patient_id)
                 if visit["status"] == "open" and start <= visit["started_at"] < end), None)


def _referrer(db, referral_id: int) -> Optional[dict]:
    """Who referred (the referral's creator, not whoever prints the letter): full name and role."""
    rows = db.execute_returning_dicts(
        "SELECT u.username, u.full_name, u.role FROM referrals r JOIN users u ON u.id = r.created_by WHERE r.id = ?",
        [referral_id])
    return rows[0] if rows else None


@blueprint.route("/referrals/<int:referral_id>/letter")
@login_required
def referral_letter(referral_id: int):
    """Everything the receiving pulmonologist needs, on one printable A4 page."""
    resources = _resources()
    db = resources.db()
    referral = outbox.get_referral(db, referral_id)
    visit = patients.get_visit(db, referral["visit_id"])
    patient = patients.get_patient(db, visit["patient_id"])
    # The assessment the referral was built from, so the letter says what the hospital received.
    assessment = (screening.get_assessment(db, referral["assessment_id"]) if referral.get("assessment_id")
                  else screening.latest_assessment(db, visit["id"]))
    # What that result was calculated from, not what the visit holds now: a blood test or take added
    # later, or symptoms edited, are not in what the hospital received (the letter names them apart).
    cutoff = assessment["created_at"] if assessment else None

    def in_result(rows: list[dict]) -> list[dict]:
        return [row for row in rows if cutoff is None or row["created_at"] <= cutoff]

    kept = (assessment or {}).get("inputs") or {}
    facts = {**{name: patient[name] for name in ("autoantibodies", "symptoms", "smoking")},
             **{name: value for name, value in (kept.get("clinical_picture") or {}).items()
                if name in ("autoantibodies", "symptoms", "smoking")},
             "lung_function": kept.get("pft") or visit["lung_function"]}
    # Only recordings that passed the quality gate: a refused take never reaches the letter.
    recordings_ = in_result(recordings.accepted_recordings(db, visit["id"], rule=validation_rule()))
    lab_rows = presenters.lab_rows(in_result(labs.list_lab_results(db, visit["id"])))
    changed_after = freshness.changed_since(db, assessment, visit=visit, patient=patient) if assessment else []
    buffer = io.BytesIO()
    qrcode.make(referral["code"], image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    svg = buffer.getvalue().decode().split("?>", 1)[-1]
    return render_template(
        "letter.html", referral=referral, patient=patient, visit=visit, assessment=assessment,
        # Every take, refused ones too: lung sounds with only refused takes still say so on the letter.
        result=presenters.result_view(assessment, recordings=in_result(recordings.list_recordings(
            db, visit["id"], rule=validation_rule())),
                                      lab_rows_=lab_rows, **heard_rule()),
        facts=facts, changed_after=changed_after, recordings=recordings_, lab_rows=lab_rows, qr_svg=Markup(svg),
        # What the crackle model was validated on, in the reader's language (the manifest's statement is English).
        crackle_statement=presenters.crackle_model_statement(crackle_validation(assessment), g.lang) if assessment else None,
        crackle_caveats=crackle_caveats(assessment) if assessment else None,
        referrer=_referrer(db, referral["id"]),
        # Read by the hospital's clinician: its lung-sound lines state facts, never what to record.
        lung_sound_reader="hospital",
        clinic_name=resources.settings.clinic_name, clinic_contact=resources.settings.clinic_contact)


from edge.web import visit_views  # noqa: E402,F401  (registers the visit pages on this blueprint)
