"""Pages of the tablet UI. Forms post to these routes (they work without JavaScript); the
scripts enhance them: microphone recording, waveform and spectrogram, drafts, progress."""
from __future__ import annotations

import datetime as dt
import functools
import io
import re
import secrets
from typing import Callable, Optional
from urllib.parse import unquote

import qrcode
import qrcode.image.svg
from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request, url_for
from pydantic import ValidationError as PydanticValidationError
from markupsafe import Markup

from edge import auth, breath, devices, labs, outbox, outcomes, patients, recordings, screening
from edge.api.assessments import evidence_options_from_settings, thresholds_from_settings
from edge.api.operations import SESSION_COOKIE, set_session_cookie
from edge.audit import Actor
from edge.errors import AccountLocked, AuthenticationError, Conflict, DeviceUnavailable, IldscreenError, ValidationError
from edge.schemas import PatientCreate
from edge.users import public_view
from edge.vocabulary import AUTOANTIBODIES, CHEST_SITES, CTD_DIAGNOSES, SYMPTOMS
from tabular_models.lab_catalogue import ANALYTES
from edge.web.i18n import LANGUAGE_COOKIE, LANGUAGES, negotiate_language, quality_issue, translate

blueprint = Blueprint("ui", __name__)
# Spellings a nurse would not pick from a list (caret and shorthand variants stay accepted in files).
HIDDEN_UNITS = {"K/uL", "M/uL", "/nL", "/pL", "10*3/mm3", "10*6/mm3", "/mm3", "um3", "1", "[IU]/L", "meq/L"}
# The lab form: the core CBC + CMP and the optional markers, in catalogue order, SI unit first.
LAB_FORM_ANALYTES = [
    {"key": a.key, "display": a.display, "si_unit": a.si_unit,
     "units": [a.si_unit] + [u for u in a.units if u != a.si_unit and "^" not in u and u not in HIDDEN_UNITS]}
    for a in ANALYTES if not a.key.endswith("_pct")
]
LOGIN_CSRF_COOKIE = "ildscreen_login_csrf"
CLINICAL = ("nurse", "clinician")


def _resources():
    return current_app.extensions["ildscreen"]


@blueprint.before_request
def identify():
    g.lang = negotiate_language()
    g.ui_user, g.ui_session = None, None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            g.ui_user, g.ui_session = auth.session_user(_resources().db(), token)
        except IldscreenError:
            pass  # an expired session is the same as none: the page asks to log in


@blueprint.app_context_processor
def template_helpers():
    lang = g.get("lang", "en")
    return {
        "t": lambda key, **values: translate(key, lang, **values),
        "quality_issue": lambda issue, kind: quality_issue(issue, kind, lang),
        "lang": lang,
        "other_lang": "zh-CN" if lang == "en" else "en",
        "user": g.get("ui_user"),
        "csrf_token": g.ui_session["csrf_token"] if g.get("ui_session") else "",
    }


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(**kwargs):
        if g.ui_user is None:
            return redirect(url_for("ui.login", next=request.path))
        if g.ui_user["must_change_password"]:
            return render_template("message.html", message=translate("change_password_first", g.lang)), 403
        if g.ui_user["role"] not in CLINICAL:
            abort(403, "the tablet UI is for nurses and clinicians")
        if request.method == "POST":
            auth.check_csrf(g.ui_session, request.form.get("csrf_token"))
        g.actor = Actor(g.ui_user["id"], g.ui_user["username"], g.ui_user["role"])
        return view(**kwargs)

    return wrapper


# A path of this site: one leading slash not followed by another slash or a backslash (browsers
# read "/\\evil.com" as "//evil.com"), and no backslash or control character anywhere.
SAME_ORIGIN_PATH = re.compile(r"^/(?![/\\])[^\\\x00-\x1f\x7f]*$")


def _safe_next(target: Optional[str]) -> str:
    """Only same-origin relative paths, however percent-encoded: never an open redirect."""
    layer = target
    for _ in range(3):  # "/%255C" decodes to "/%5C", then to "/\\": check every layer
        if not layer or not SAME_ORIGIN_PATH.match(layer):
            return url_for("ui.home")
        decoded = unquote(layer)
        if decoded == layer:
            return target
        layer = decoded
    return url_for("ui.home")


@blueprint.route("/lang/<code>")
def switch_language(code: str):
    if code not in LANGUAGES:
        abort(404, f"unknown language {code!r}")
    response = redirect(_safe_next(request.args.get("next")))
    response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax")
    return response


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(expected, request.form.get("csrf_token", "")):
            abort(403, "login form expired: reload the page")
        resources = _resources()
        try:
            user = auth.verify_login(resources.db(), request.form.get("username", ""),
                                     request.form.get("password", ""), resources.lockout_policy)
        except AccountLocked:
            error = translate("account_locked", g.lang)
        except AuthenticationError:
            error = translate("wrong_credentials", g.lang)
        else:
            grant = auth.start_session(resources.db(), user, hours=resources.settings.session_hours)
            return set_session_cookie(redirect(_safe_next(request.args.get("next"))), grant, resources.settings)
    login_csrf = secrets.token_urlsafe(24)
    response = make_response(render_template("login.html", error=error, login_csrf=login_csrf),
                             401 if error else 200)
    response.set_cookie(LOGIN_CSRF_COOKIE, login_csrf, httponly=True, samesite="Strict")
    return response


@blueprint.post("/logout")
@login_required
def logout():
    auth.end_session(_resources().db(), request.cookies[SESSION_COOKIE])
    response = redirect(url_for("ui.login"))
    response.delete_cookie(SESSION_COOKIE)
    return response


@blueprint.route("/")
@login_required
def home():
    db = _resources().db()
    today = dt.date.today().isoformat()
    visits = db.execute_returning_dicts(
        "SELECT v.id, v.status, v.started_at, p.id AS patient_id, p.code, p.ctd_diagnosis FROM visits v "
        "JOIN patients p ON p.id = v.patient_id WHERE v.started_at >= ? ORDER BY v.started_at DESC", [today])
    query = request.args.get("code", "").strip()
    found = []
    if query:
        found, _ = patients.list_patients(db, code_prefix="".join(ch for ch in query if ch.isalnum() or ch == "-"))
    return render_template("home.html", visits=visits, query=query, found=found,
                           boards=_resources().devices.statuses())


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


@blueprint.route("/patients/new", methods=["GET", "POST"])
@login_required
def register_patient():
    errors, values = {}, {}
    if request.method == "POST":
        values = {
            "code": request.form.get("code", "").strip(),
            "birth_year": request.form.get("birth_year", "").strip() or None,
            "sex": request.form.get("sex") or None,
            "ctd_diagnosis": request.form.get("ctd_diagnosis") or None,
            "autoantibodies": request.form.getlist("autoantibodies"),
            "smoking": request.form.get("smoking") or "never",
            "symptoms": request.form.getlist("symptoms"),
            "medications": [m.strip() for m in request.form.get("medications", "").split(",") if m.strip()],
        }
        try:
            # Empty inputs count as missing, so the message is "Required." rather than "invalid".
            # A form sends text: numbers are parsed from it (the JSON API's types are strict).
            body = PatientCreate.model_validate({k: v for k, v in values.items() if v not in (None, "")}, strict=False)
            patient = patients.create_patient(_resources().db(), g.actor, body.model_dump())
        except PydanticValidationError as exc:
            errors = _field_errors(exc, g.lang)
        except Conflict:
            errors = {"code": translate("err_duplicate_code", g.lang)}
        else:
            return redirect(url_for("ui.patient_timeline", patient_id=patient["id"]))
    return render_template("patient_form.html", errors=errors, values=values, ctds=CTD_DIAGNOSES,
                           antibodies=AUTOANTIBODIES, symptoms=SYMPTOMS), 422 if errors else 200


@blueprint.route("/patients/<int:patient_id>")
@login_required
def patient_timeline(patient_id: int):
    db = _resources().db()
    patient = patients.get_patient(db, patient_id)
    visits = patients.list_visits(db, patient_id)
    for visit in visits:
        visit["assessment"] = screening.latest_assessment(db, visit["id"])
    referrals = outbox.list_referrals(db, patient_id=patient_id)
    trend = [(v["started_at"][:10], v["assessment"]["score"]) for v in reversed(visits) if v["assessment"]]
    return render_template("patient.html", patient=patient, visits=visits, referrals=referrals, trend=trend,
                           outcomes=outcomes.list_outcomes(db, patient_id),
                           ild_trend=outbox.ild_extent_trend(referrals))


@blueprint.post("/patients/<int:patient_id>/visits")
@login_required
def start_visit(patient_id: int):
    visit = patients.create_visit(_resources().db(), g.actor, patient_id)
    return redirect(url_for("ui.visit_page", visit_id=visit["id"]))


def render_visit(visit_id: int, *, status: int = 200, lab_errors: Optional[dict] = None,
                 lab_values: Optional[dict] = None, messages: Optional[dict] = None):
    resources = _resources()
    db = resources.db()
    visit = patients.get_visit(db, visit_id)
    patient = patients.get_patient(db, visit["patient_id"])
    referral = next((r for r in outbox.list_referrals(db, patient_id=patient["id"]) if r["visit_id"] == visit_id), None)
    boards = [d for d in resources.devices.statuses() if d["info"]]
    return render_template(
        "visit.html", visit=visit, patient=patient, sites=CHEST_SITES,
        recordings=recordings.list_recordings(db, visit_id), assessment=screening.latest_assessment(db, visit_id),
        referral=referral, lab_panel=labs.visit_lab_panel(db, visit_id), analytes=LAB_FORM_ANALYTES,
        breath_readings=breath.list_breath_readings(db, visit_id), lab_errors=lab_errors or {},
        lab_values=lab_values or {}, messages={**(messages or {}), **{k: v for k, v in request.args.items()
                                                                      if k.endswith("_error")}},
        stethoscopes=[d["port"] for d in boards if d["info"]["device_kind"] == "stethoscope"],
        enoses=[d["port"] for d in boards if d["info"]["device_kind"] == "enose"],
    ), status


def _back(visit_id: int, anchor: str, **errors):
    return redirect(url_for("ui.visit_page", visit_id=visit_id, **errors) + f"#{anchor}")


@blueprint.route("/visits/<int:visit_id>")
@login_required
def visit_page(visit_id: int):
    return render_visit(visit_id)


@blueprint.post("/visits/<int:visit_id>/recordings")
@login_required
def upload_recording(visit_id: int):
    resources = _resources()
    upload = request.files.get("file")
    try:
        recordings.check_file_name(upload.filename if upload else None)
        recordings.add_recording(resources.db(), resources.blobs, g.actor, visit_id,
                                 chest_site=request.form.get("chest_site", ""), stream=upload.stream,
                                 max_bytes=resources.settings.max_upload_bytes, model=resources.auscultation_model,
                                 limits=resources.settings.audio_limits)
    except ValidationError as exc:
        return _back(visit_id, "auscultation", upload_error=exc.message)
    return _back(visit_id, "auscultation")


@blueprint.post("/visits/<int:visit_id>/recordings/capture")
@login_required
def capture_recording(visit_id: int):
    resources = _resources()
    try:
        devices.capture_recording(resources.db(), resources.blobs, resources.devices, g.actor, visit_id,
                                  port=request.form.get("port", ""), chest_site=request.form.get("chest_site", ""),
                                  seconds=20.0, max_bytes=resources.settings.max_upload_bytes,
                                  model=resources.auscultation_model, limits=resources.settings.audio_limits)
    except (DeviceUnavailable, ValidationError) as exc:
        return _back(visit_id, "auscultation", upload_error=exc.message)
    return _back(visit_id, "auscultation")


@blueprint.post("/visits/<int:visit_id>/labs")
@login_required
def enter_labs(visit_id: int):
    entries, errors, values = [], {}, {}
    for analyte in LAB_FORM_ANALYTES:
        key = analyte["key"]
        raw = request.form.get(f"lab_{key}", "").strip().replace(",", ".")
        unit = request.form.get(f"unit_{key}", analyte["si_unit"])
        values[key] = {"value": raw, "unit": unit}
        if not raw:
            continue
        try:
            entries.append({"analyte": key, "value": float(raw), "unit": unit})
        except ValueError:
            errors[key] = translate("err_number", g.lang)
    if not entries and not errors:
        errors["form"] = translate("err_no_labs", g.lang)
    try:
        if errors:
            if entries:
                labs.score_lab_panel(entries)  # check the readable entries too, store nothing
        else:
            labs.add_lab_panel(_resources().db(), g.actor, visit_id, entries)
            return _back(visit_id, "labs")
    except ValidationError as exc:
        for field in exc.fields:
            errors[field["field"]] = translate("err_lab_value", g.lang)
    return render_visit(visit_id, status=422, lab_errors=errors, lab_values=values)


@blueprint.post("/visits/<int:visit_id>/labs/file")
@login_required
def import_labs(visit_id: int):
    upload = request.files.get("file")
    try:
        recordings.check_file_name(upload.filename if upload else None)
        labs.add_lab_panel(_resources().db(), g.actor, visit_id, labs.read_lab_file(upload.stream))
    except ValidationError as exc:
        return _back(visit_id, "labs", labs_error=exc.message)
    return _back(visit_id, "labs")


@blueprint.post("/visits/<int:visit_id>/breath")
@login_required
def upload_breath(visit_id: int):
    resources = _resources()
    upload = request.files.get("file")
    try:
        recordings.check_file_name(upload.filename if upload else None)
        breath.add_breath_reading(resources.db(), resources.blobs, g.actor, visit_id, stream=upload.stream,
                                  max_bytes=resources.settings.max_upload_bytes)
    except ValidationError as exc:
        return _back(visit_id, "breath", breath_error=exc.message)
    return _back(visit_id, "breath")


@blueprint.post("/visits/<int:visit_id>/breath/capture")
@login_required
def capture_breath(visit_id: int):
    resources = _resources()
    try:
        devices.capture_breath(resources.db(), resources.blobs, resources.devices, g.actor, visit_id,
                               port=request.form.get("port", ""), max_bytes=resources.settings.max_upload_bytes)
    except (DeviceUnavailable, ValidationError) as exc:
        return _back(visit_id, "breath", breath_error=exc.message)
    return _back(visit_id, "breath")


@blueprint.post("/visits/<int:visit_id>/assess")
@login_required
def assess(visit_id: int):
    resources = _resources()
    screening.score_kept_inputs(resources.db(), resources.blobs, visit_id, resources.auscultation_model)
    screening.assess_visit(resources.db(), g.actor, visit_id, thresholds=thresholds_from_settings(resources.settings),
                           options=evidence_options_from_settings(resources.settings))
    return _back(visit_id, "result")


@blueprint.post("/visits/<int:visit_id>/refer")
@login_required
def refer(visit_id: int):
    resources = _resources()
    outbox.create_referral(resources.db(), g.actor, visit_id, site_secret=resources.folder.site_secret)
    return _back(visit_id, "referral")


@blueprint.route("/referrals/<int:referral_id>/letter")
@login_required
def referral_letter(referral_id: int):
    db = _resources().db()
    referral = outbox.get_referral(db, referral_id)
    visit = patients.get_visit(db, referral["visit_id"])
    patient = patients.get_patient(db, visit["patient_id"])
    assessment = screening.latest_assessment(db, visit["id"])
    buffer = io.BytesIO()
    qrcode.make(referral["code"], image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    svg = buffer.getvalue().decode().split("?>", 1)[-1]
    return render_template("letter.html", referral=referral, patient=patient, assessment=assessment,
                           qr_svg=Markup(svg), user=public_view(g.ui_user))
