"""The visit page and its steps: lung sounds, breath, labs, lung function, result, referral.

Each step posts to its own route and comes back to the visit (POST-redirect-GET: a reload
never posts again). Errors come back beside their fields; for labs the typed values are kept
in the visit's draft and the offending analytes are named in the query string (keys only,
never values or patient data). A withdrawal refused for its reason is the one exception: the page
comes back in the answer itself (422) with the reason as sent, since a referral is often withdrawn
after its visit closed, and a closed visit keeps no draft.
"""
from __future__ import annotations

import json
from typing import Optional

from flask import abort, g, jsonify, redirect, render_template, request, send_file, url_for
from markupsafe import Markup, escape

from edge import breath, devices, freshness, labs, outbox, patients, recordings, screening
from edge.store.database import read_transaction
from edge.modalities import potential_ranges, served_crackle_model
from edge.errors import (Conflict, EditConflict, IldscreenError, NotFound, ResultOutOfDate, ResultSuperseded, TakeAudioMissing,
                         TakeDiscarded, UnitCheck, ValidationError, VisitClosed)
from edge.vocabulary import CHEST_PIECE_NOT_STATED, CHEST_PIECES, CHEST_SITES, CRACKLES_HEARD, CTD_DIAGNOSES
from edge.web import clinic_time, presenters
from tabular_models import breath_io, lab_io
from tabular_models.errors import TabularInputError
from tabular_models.lab_catalogue import BY_KEY
from tabular_models.lab_panels import normalize_panel, shown_number, unit_slip, unit_slips
from edge.web.i18n import translate
from edge.web.views import (LAB_FORM_ANALYTES, _resources, blueprint, crackle_caveats, crackle_validation, heard_rule,
                            login_required, programme_settings_today, visit_summary)

# Lab form errors named in the redirect: analyte key -> message key.
LAB_ERROR_KINDS = {"number": "err_number", "value": "err_lab_value"}
# Chest map of the patient's back as the nurse sees it (patient's left on the nurse's left),
# bases first: numbering follows the recommended order of edge.vocabulary.CHEST_SITES.
CHEST_MAP = (("posterior_left_base", 62, 172), ("posterior_right_base", 138, 172),
             ("lateral_left_base", 26, 200), ("lateral_right_base", 174, 200),
             ("posterior_left_mid", 66, 118), ("posterior_right_mid", 134, 118),
             ("posterior_left_upper", 72, 64), ("posterior_right_upper", 128, 64))
# What the page says of a breath reading without a score, by why (edge.breath.why_unscored): one the served model
# cannot take in the words the result gives the same reason (its not-counted line), so the two never disagree.
BREATH_UNSCORED_KEYS = {"model_unavailable": "breath_kept_unscored", "not_scorable": "not_counted_not_scorable",
                        "not_scored_yet": "breath_not_scored_yet", "visit_closed": "breath_unscored_closed"}
# How long a board capture takes, for the progress bar (the stethoscope records 20 s; the
# e-nose cycle is baseline + exposure + purge, about a minute on the reference board).
CAPTURE_SECONDS = {"stethoscope": 20, "enose": 65}


def render_visit(visit_id: int, *, status: int = 200, sent: Optional[dict] = None,
                 field_errors: Optional[dict] = None):
    """The visit page. Its reads are one read transaction: the result, whether it is current, the takes,
    the labs and the referral shown are of one state of the visit, whatever another request commits
    while the page is read (a take or a lab panel saved between two reads would show a result as
    current beside an input it has not seen).

    ``sent`` and ``field_errors`` ({field: text}) bring a refused form back as it was sent, each error
    beside its field, where the visit's draft cannot keep it (a referral is withdrawn after its visit
    closed, and a closed visit keeps no draft)."""
    with read_transaction(_resources().db()):
        return _visit_page(visit_id, status=status, sent=sent or {}, field_errors=field_errors or {})


def _visit_page(visit_id: int, *, status: int, sent: dict, field_errors: dict):
    resources = _resources()
    db = resources.db()
    # One reading of the served crackle model for the whole page: the checklist, the chest map and
    # the model note agree even if the bundle's entry is read while it changes.
    crackle_model = served_crackle_model()
    summary = visit_summary(db, visit_id, crackle_model=crackle_model)
    visit, patient = summary["visit"], summary["patient"]
    referral = next((r for r in outbox.list_referrals(db, patient_id=patient["id"]) if r["visit_id"] == visit_id), None)
    recordings_ = recordings.list_recordings(db, visit_id, rule=resources.settings.evidence_options.validation_rule)
    lab_results = labs.list_lab_results(db, visit_id)
    lab_rows = presenters.lab_rows(lab_results)
    assessment = summary["assessment"]
    lab_errors, unit_checks = {}, set()
    for item in request.args.get("lab_errors", "").split(","):
        key, _, kind = item.partition(":")
        if key and kind in LAB_ERROR_KINDS:
            lab_errors[key] = translate(LAB_ERROR_KINDS[kind], g.lang)
        elif key in BY_KEY and kind == "unit":
            lab_errors[key] = _unit_check_text(key, visit["draft"], resources.settings.lab_unit_check_factor)
            unit_checks.add(key)
    if request.args.get("lab_errors") == "none":
        lab_errors["form"] = translate("err_no_labs", g.lang)
    # Refused in the answer itself (a value over VALUE_MAX_CHARS): beside its analyte, as the redirect's are.
    lab_errors.update({name.removeprefix("lab_"): text for name, text in field_errors.items() if name.startswith("lab_")})
    file_checks = ([(key, _slip_text(key, value, unit, resources.settings.lab_unit_check_factor))
                    for key, value, unit in _file_checks(visit["draft"])]
                   if request.args.get("lab_file_check") == "1" else [])
    # A clear take through the bell (evidence_chest_pieces_cannot_clear), and any take through a stethoscope
    # the crackle model was not validated on, leaves its site to do, as it leaves it unheard in the risk
    # (edge.modalities.counts_for_its_site), and says why under the take.
    rule = heard_rule(crackle_model)
    done_sites = {r["chest_site"] for r in recordings_ if presenters.makes_its_site_heard(r, **rule)}
    chest_piece_notes = {r["id"]: presenters.chest_piece_text(r, g.lang, **rule, visit_status=visit["status"])
                         for r in recordings_}
    # Whether the crackle model was validated on each take's stethoscope and chest piece, and, for one that
    # does not count for it, why and, on an open visit, what to do (a warning then).
    stethoscope_notes = {r["id"]: presenters.stethoscope_statement(
        r["stethoscope_validation"], g.lang, visit_status=visit["status"],
        require_validated_stethoscope=rule["require_validated_stethoscope"]) for r in recordings_}
    stethoscope_not_counted = {r["id"] for r in recordings_ if not presenters.stethoscope_counts_by(
        r["stethoscope_validation"], require_validated_stethoscope=rule["require_validated_stethoscope"])}
    # Takes stored while the crackle model was unavailable: not heard yet, and each says so.
    waiting_takes = presenters.takes_waiting_score(recordings_)
    take_id, captured_again = _take()
    if request.args.get("refer_error") == "reason_too_long":  # the reason as typed is in the draft (refer)
        field_errors = {"refer_reason": _reason_too_long(visit["draft"].get("refer_reason", "")), **field_errors}
    # What changed since the result (inputs, settings, models): the verdict the referral checks.
    verdict = freshness.freshness_of(db, assessment, visit=visit, patient=patient,
                                     settings_today=programme_settings_today(),
                                     models_today=freshness.models_in_force()) if assessment else None
    crackle_figures = crackle_validation(assessment, crackle_model) if assessment else None
    return render_template(
        "visit.html", visit=visit, patient=patient, sites=CHEST_SITES, chest_map=CHEST_MAP, done_sites=done_sites,
        steps=summary["steps"], recordings=recordings_, assessment=assessment, chest_piece_notes=chest_piece_notes,
        crackle_note=presenters.crackle_model_note(crackle_figures, g.lang) if assessment else None,
        # Which piece to record through is said to the nurse of an open visit only: nothing records on a closed one.
        crackle_devices_note=presenters.crackle_model_devices_note(
            crackle_figures, g.lang, advise=visit["status"] == "open") if assessment else None,
        crackle_caveats=crackle_caveats(assessment) if assessment else None,
        waiting_takes=waiting_takes,
        chest_pieces=CHEST_PIECES, chest_piece_default=resources.settings.chest_piece_default,
        # The pieces the hint names are the programme's: the one the form starts on, and those that cannot clear.
        auscultation_hint=presenters.auscultation_hint(g.lang, chest_piece_default=resources.settings.chest_piece_default,
                                                       cannot_clear=rule["cannot_clear"]),
        stethoscopes=resources.settings.stethoscopes, upload_stethoscope=resources.settings.upload_stethoscope,
        stethoscope_notes=stethoscope_notes, stethoscope_not_counted=stethoscope_not_counted, stethoscope_name=lambda name: presenters.stethoscope_name(name, g.lang),
        result=presenters.result_view(assessment, recordings=recordings_, lab_rows_=lab_rows, **rule,
                                      potential=_potential(patient, visit) if assessment else None),
        freshness=verdict, referral=referral,
        lab_panel=labs.visit_lab_panel(db, visit_id), lab_rows=lab_rows,
        analytes=LAB_FORM_ANALYTES, breath_readings=breath.list_breath_readings(db, visit_id),
        breath_unscored_keys=BREATH_UNSCORED_KEYS,
        lab_errors=lab_errors, unit_checks=unit_checks, file_checks=file_checks, messages=_messages(recordings_),
        boards=resources.devices.statuses(), capture_seconds=CAPTURE_SECONDS, ctd_names=CTD_DIAGNOSES,
        is_open=visit["status"] == "open", referable_visits=outbox.REFERABLE_VISITS, take_id=take_id,
        # A form sent twice: said, never silent (start_visit, enter_labs).
        continued=request.args.get("continued") == "1", labs_already=request.args.get("labs_saved") == "already",
        take_already=request.args.get("take_saved") == "already" or captured_again,
        discard_already=request.args.get("discarded") == "already",
        crackles_heard_answers=CRACKLES_HEARD, labelled=request.args.get("labelled", ""),
        monitoring_end=summary["monitoring_end"], sent=sent, field_errors=field_errors,
        value_max_chars=VALUE_MAX_CHARS,
    ), status


def _unit_check_text(key: str, draft: dict, factor: float) -> str:
    """What the lab form says about a value that looks like a unit slip, in the nurse's words: read
    from the visit's draft (what she typed), since the redirect names the analyte only."""
    try:
        value = float(draft.get(f"lab_{key}", ""))
    except ValueError:  # the draft changed since (another tab): ask in general words
        return translate("err_lab_unit", g.lang)
    return _slip_text(key, value, draft.get(f"unit_{key}", ""), factor)


def _slip_text(key: str, value: float, unit: str, factor: float) -> str:
    """Why ``value`` ``unit`` of the analyte ``key`` looks like a unit slip, in the nurse's words."""
    try:
        slip = unit_slip(BY_KEY[key], value, unit, far_factor=factor)
    except ValueError:  # the unit is no longer accepted (the draft changed since): ask in general words
        slip = None
    if slip is None:
        return translate("err_lab_unit", g.lang)
    low, high = slip["reference"]
    return translate(f"err_lab_unit_{slip['direction']}", g.lang, value=f"{slip['value']:g}",
                     unit=presenters.readable_unit(slip["unit"]), low=shown_number(low), high=shown_number(high),
                     usual_unit=presenters.readable_unit(slip["usual_unit"]))


def _messages(takes: list[dict]) -> dict[str, str]:
    """The step errors a redirect named (by catalog key, see :func:`_message_key`), in words; ``takes``
    are the visit's recordings (a missing take file is named by its site and time)."""
    shown = {}
    for name in ("upload_error", "breath_error", "labs_error", "lung_error", "assess_error", "status_error"):
        text = _message_text(request.args.get(name, ""), takes, as_html=True)
        if text:
            shown[name] = text
    return shown


def _potential(patient: dict, visit: dict) -> Optional[dict]:
    """Per modality, the log-LR range it could give if measured (ranks what is missing): under
    today's settings, since measuring it now is assessed under them."""
    try:
        return potential_ranges(screening.clinical_picture(patient, on=visit["started_at"]),
                                _resources().settings.evidence_options)
    except IldscreenError:
        return None


def _take() -> tuple[Optional[int], bool]:
    """The take just recorded, whatever recorded it: ``take`` (microphone, upload) or the board
    capture job named by ``captured``; it gets the verdict, playback, keep and re-record. Also
    whether that job's capture was the site's stored take again (a replay: said on the page)."""
    if request.args.get("take", "").isdigit():
        return int(request.args["take"]), False
    job_id = request.args.get("captured")
    if not job_id:
        return None, False
    try:
        result, replayed = devices.stored_by(devices.get_job(_resources().devices, job_id))
    except IldscreenError:  # the job is gone (finished long ago): no take to highlight
        return None, False
    if isinstance(result, dict) and "chest_site" in result:
        return result.get("id"), replayed
    return None, False


def _back(visit_id: int, anchor: str, **args):
    return redirect(url_for("ui.visit_page", visit_id=visit_id, **args) + f"#{anchor}")


# A take's form fields and the catalog key that asks for each again.
FIELD_KEYS = {"file": "err_file", "chest_site": "err_chest_site", "chest_piece": "err_chest_piece",
              "stethoscope": "err_stethoscope"}
# A take whose sound was sent but refused (its ``file`` field's reason, edge.recordings): said as such,
# never "choose a file" (a microphone or board take has no file to choose). Any other refusal of the
# sound: the recording could not be read.
REFUSED_SOUND_KEYS = {recordings.NO_FILE_REASON: "err_file", recordings.TOO_SHORT_REASON: "err_audio_too_short",
                      recordings.limit_reason("min_sample_rate"): "err_audio_sample_rate",
                      recordings.limit_reason("max_sample_rate"): "err_audio_sample_rate"}
# A lab file refused for a result's date (its reason, edge.labs.check_collected_at): said as such, not as
# a column, value or unit to check.
LAB_DATE_KEYS = {labs.NOT_A_SAMPLE_TIME: "err_lab_collected_at_unreadable",
                 labs.SAMPLE_AFTER_VISIT: "err_lab_collected_at_after_visit"}


# The columns a lab or breath file is expected to have, by the page's kind of file: the only names its words
# for a file without one may show (edge.labs.input_error's ``column``; a crafted link's other name shows nothing).
FILE_COLUMNS = {"labs": frozenset(lab_io.CSV_COLUMNS), "breath": breath_io.EXPECTED_COLUMNS}


def _message_key(exc: IldscreenError, kind: str = "audio") -> str:
    """The catalog key that words a domain error on the page (``err_lab_file_analyte:<key>`` when a
    lab file's error names a known analyte, ``err_<kind>_file_column:<name>`` when a lab or breath
    file lacks one of the columns it should have). A redirect carries this, never the message: a message
    may quote the uploaded file (a hospital export with the patient's code or name in it), and a
    URL stays in the tablet's history; the column is one of our own names (:data:`FILE_COLUMNS`)."""
    if isinstance(exc, TakeAudioMissing):
        return f"err_take_audio_missing:{exc.recording_id}"
    key = {"DeviceUnavailable": "err_device", "PayloadTooLarge": "err_too_large",
           "VisitClosed": "err_visit_closed", "CaptureRunning": "err_board_busy",
           "ModelUnavailable": "err_model_unavailable", "ServiceBusy": "err_busy"}.get(type(exc).__name__)
    if key is None and isinstance(exc, Conflict):
        # Each Conflict the page meets has its own words above; any other is not a closed visit, and no
        # file's or field's fault either: the state changed meanwhile, which the page shown again reflects.
        key = "err_conflict"
    field = exc.fields[0].get("field") if isinstance(exc, ValidationError) and exc.fields else None
    if key is None and field == "file" and kind == "audio":
        key = REFUSED_SOUND_KEYS.get(exc.fields[0].get("reason"), "err_audio_file")
    elif key is None and field in FIELD_KEYS and field != "file":
        key = FIELD_KEYS[field]
    elif key is None and kind == "labs" and field is not None:
        key = LAB_DATE_KEYS.get(exc.fields[0].get("reason"))
    if key:
        return key
    if kind == "labs" and field in presenters.ANALYTE_BY_KEY:
        return f"err_lab_file_analyte:{field}"
    column = exc.fields[0].get("column") if isinstance(exc, ValidationError) and exc.fields else None
    if column in FILE_COLUMNS.get(kind, ()):
        return f"err_{kind}_file_column:{column}"
    return f"err_{kind}_file"


def _message_text(code: str, takes: list[dict] = (), *, as_html: bool = False) -> Optional[str]:
    """The page's words for a :func:`_message_key` code from the query string; None for anything else
    (a crafted link shows nothing). ``as_html``: for the page's own markup, where a file's column is set
    as code no one translates (it is spelled as the file must spell it, in Chinese too)."""
    key, _, named = code.partition(":")
    if key not in MESSAGE_KEYS:
        return None
    if key == "err_take_audio_missing":
        # Named by the visit's own take (a crafted id, or a take discarded since, shows nothing).
        take = next((take for take in takes if str(take["id"]) == named), None)
        if take is None:
            return None
        return translate(key, g.lang, site=translate(f"site_{take['chest_site']}", g.lang),
                         time=clinic_time.local_time(take["created_at"], _resources().settings.clinic_zone))
    if key == "err_lab_file_analyte":
        if named not in presenters.ANALYTE_BY_KEY:
            return None
        return translate(key, g.lang, name=translate(f"analyte_{named}", g.lang))
    if key in COLUMN_KEYS:
        if named not in FILE_COLUMNS[COLUMN_KEYS[key]]:
            return None
        if not as_html:
            return translate(key, g.lang, column=named)
        return escape(translate(key, g.lang, column=COLUMN_MARK)).replace(
            COLUMN_MARK, Markup('<code translate="no">{}</code>').format(named))
    return translate(key, g.lang)


# A file without one of its columns: the key by kind of file (its words name the column).
COLUMN_KEYS = {f"err_{kind}_file_column": kind for kind in FILE_COLUMNS}
COLUMN_MARK = "\ue000"  # where the column's code goes in its escaped words (a private-use character, in no catalogue)
# The general instructions :func:`_message_key` falls back to (the error's own words say more).
DETAIL_KEYS = ("err_lab_file_analyte", "err_audio_file", "err_labs_file", "err_breath_file", *COLUMN_KEYS)
# Every key :func:`_message_key` returns, and the lung-function form's.
MESSAGE_KEYS = {"err_device", "err_too_large", "err_visit_closed", "err_board_busy", "err_model_unavailable",
                "err_take_audio_missing", "err_conflict", "err_busy",
                *FIELD_KEYS.values(), *REFUSED_SOUND_KEYS.values(), *LAB_DATE_KEYS.values(), "err_lung_function",
                "err_visit_edited", "err_visit_form_out_of_date", "err_finish_result_out_of_date", *DETAIL_KEYS}


def _message(exc: IldscreenError, kind: str = "audio") -> str:
    """A domain error for a script's JSON answer (never a URL) in the nurse's language. Where the
    catalog has only a general instruction, English keeps the check's own detail (it names the
    offending value)."""
    key = _message_key(exc, kind)
    if g.lang == "en" and key.partition(":")[0] in DETAIL_KEYS:
        return exc.message
    return _message_text(key)


@blueprint.route("/visits/<int:visit_id>")
@login_required
def visit_page(visit_id: int):
    return render_visit(visit_id)


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


@blueprint.post("/visits/<int:visit_id>/recordings")
@login_required
def upload_recording(visit_id: int):
    """A file or a microphone take (the page's script sends ``source=microphone`` and wants JSON). To a
    closed visit, answered that it is closed whatever was sent (:func:`_closed_visit`)."""
    resources = _resources()
    if closed := _closed_visit(resources.db(), visit_id, {}, field="auscultation"):
        return closed
    upload = request.files.get("file")
    source = "microphone" if request.form.get("source") == "microphone" else "upload"
    try:
        recordings.check_file_name(upload.filename if upload else None)
        stored, created = recordings.add_recording(
            resources.db(), resources.blobs, g.actor, visit_id, chest_site=request.form.get("chest_site", ""),
            chest_piece=request.form.get("chest_piece", CHEST_PIECE_NOT_STATED),
            stethoscope=request.form.get("stethoscope") or resources.settings.upload_stethoscope,
            stethoscopes=resources.settings.stethoscopes, stream=upload.stream,
            max_bytes=resources.settings.max_upload_bytes, model=resources.auscultation_model,
            source=source, limits=resources.settings.audio_limits)
    except VisitClosed:  # closed meanwhile (another tab)
        return _closed_visit(resources.db(), visit_id, {}, field="auscultation")
    except IldscreenError as exc:
        if _wants_json():
            return jsonify({"error": {"message": _message(exc)}}), exc.status
        return _back(visit_id, "auscultation", upload_error=_message_key(exc))
    if _wants_json():  # the same take sent twice: its first copy, 200 as the API answers it
        return jsonify({"id": stored["id"]}), 201 if created else 200
    return _back(visit_id, "auscultation", take=stored["id"], **({} if created else {"take_saved": "already"}))


@blueprint.get("/recordings/<int:recording_id>/audio")
@login_required
def recording_audio(recording_id: int):
    """The stored sound of one take, for playback and the waveform on the visit page."""
    stream, mimetype = recordings.open_recording_audio(_resources().db(), _resources().blobs, recording_id)
    return send_file(stream, mimetype=mimetype)


@blueprint.post("/recordings/<int:recording_id>/discard")
@login_required
def discard_recording(recording_id: int):
    """Re-record: this take leaves the visit (the next take of the site replaces it)."""
    db = _resources().db()
    try:
        discard = recordings.discard_recording(db, _resources().blobs, g.actor, recording_id)
    except NotFound:  # an id no take ever had: the 404 page
        raise
    except IldscreenError as exc:  # e.g. its visit was closed: said on the visit (the take is still there)
        return _back(recordings.get_recording(db, recording_id)["visit_id"], "auscultation",
                     upload_error=_message_key(exc))
    if discard.already:  # sent twice (a re-send, Back): said on its visit, not a 404 page
        return _back(discard.visit_id, "auscultation", discarded="already")
    return _back(discard.visit_id, "auscultation", site=discard.chest_site)


@blueprint.post("/recordings/<int:recording_id>/crackles-heard")
@login_required
def label_crackles_heard(recording_id: int):
    """A clinician's answer, on listening to a take, to "are crackles heard?" (the API's PUT
    /recordings/{id}/crackles-heard): a reference for checking the crackle detector, not a result input, so a
    closed visit's takes are labelled too (its result, the record, does not change)."""
    if g.actor.role != "clinician":
        abort(403, translate("err_crackles_heard_role", g.lang))
    db = _resources().db()
    try:
        take = recordings.label_crackles_heard(db, g.actor, recording_id, request.form.get("crackles_heard", ""))
    except TakeDiscarded:  # discarded (in another tab): its row and sound are gone
        abort(409, translate("err_crackles_heard_discarded", g.lang))
    except ValidationError:  # no answer chosen: said under the take
        return _back(recordings.get_recording(db, recording_id)["visit_id"], f"take-{recording_id}",
                     labelled=f"{recording_id}:missing")
    return _back(take["visit_id"], f"take-{recording_id}", labelled=str(recording_id))


@blueprint.post("/visits/<int:visit_id>/recordings/capture")
@login_required
def capture_recording(visit_id: int):
    """A stethoscope capture into the visit (see :func:`_board_capture`)."""
    resources = _resources()
    return _board_capture(visit_id, "auscultation", "audio", lambda orphan_after_s: devices.start_recording_capture(
        resources.folder.connect, resources.db(), resources.blobs, resources.devices, g.actor, visit_id,
        port=request.form.get("port", ""), chest_site=request.form.get("chest_site", ""),
        seconds=float(CAPTURE_SECONDS["stethoscope"]), max_bytes=resources.settings.max_upload_bytes,
        model=resources.auscultation_model, limits=resources.settings.audio_limits, orphan_after_s=orphan_after_s,
        board_stethoscopes=resources.settings.board_stethoscopes))


def _board_capture(visit_id: int, anchor: str, kind: str, start):
    """Start a board capture with ``start(orphan_after_s)``. The page's script (``X-Requested-With:
    fetch``) gets the job at once, shows its progress and can cancel it, and the job is cancelled
    if the page stops polling; without the script the post waits for the capture and comes back."""
    watched = _wants_json()
    if closed := _closed_visit(_resources().db(), visit_id, {}, field=anchor):
        return closed
    try:
        job = start(_resources().settings.capture_orphan_seconds if watched else None)
        if watched:
            return _job_started(job, visit_id, anchor)
        stored, replayed = devices.finish_synchronously(job)
    except IldscreenError as exc:
        if watched:
            return jsonify({"error": {"message": _message(exc, kind)}}), exc.status
        return _back(visit_id, anchor, **{"upload_error" if kind == "audio" else "breath_error": _message_key(exc, kind)})
    if kind == "audio" and isinstance(stored, dict) and "id" in stored:
        # The same take as the site's stored one: said as for an upload sent twice.
        return _back(visit_id, f"take-{stored['id']}", take=stored["id"], **({"take_saved": "already"} if replayed else {}))
    return _back(visit_id, anchor)


def _job_started(job, visit_id: int, anchor: str):
    return jsonify({"job": url_for("ui.capture_job", job_id=job.id),
                    "cancel": url_for("ui.cancel_capture_job", job_id=job.id),
                    # A new URL each time, so that going there reloads the page (not just scrolls).
                    "done": url_for("ui.visit_page", visit_id=visit_id, captured=job.id) + f"#{anchor}"}), 202


def _job_for_page(job, *, status: int = 200):
    """A capture job as the page's script shows it: state, progress and a message in the nurse's language."""
    outcome = devices.job_outcome(job)
    message = None
    if job.state == "cancelled":
        message = translate("capture_cancelled" if job.cancel_reason == "user" else "capture_orphaned", g.lang)
    elif job.state == "failed":
        message = _message(devices.job_error(job), "audio" if job.kind == "stethoscope" else "breath")
    return jsonify({"state": outcome["state"], "progress": outcome["progress"], "message": message}), status


@blueprint.get("/capture-jobs/<job_id>")
@login_required
def capture_job(job_id: str):
    """Progress of a board capture for the visit page (polled about every second)."""
    return _job_for_page(devices.get_job(_resources().devices, job_id))


@blueprint.post("/capture-jobs/<job_id>/cancel")
@login_required
def cancel_capture_job(job_id: str):
    """The page's Cancel: the board stops (STOP_CAPTURE), nothing is stored."""
    manager = _resources().devices
    try:
        job = devices.cancel_job(manager, job_id)
    except Conflict:
        return _job_for_page(devices.get_job(manager, job_id), status=409)
    return _job_for_page(job)


@blueprint.post("/devices/connect")
@login_required
def connect_board():
    """Connect a registered board (handshake, status, battery) from the tablet."""
    resources = _resources()
    port = request.form.get("port", "")
    known = {board["port"] for board in resources.devices.statuses()}
    target = request.form.get("next", "")
    back = target if target.startswith("/") and not target.startswith("//") else url_for("ui.home")
    if port not in known:
        return redirect(back)
    try:
        resources.devices.get(port)
    except Exception:  # noqa: BLE001 - a board that cannot connect shows "not connected"; the page says so
        return redirect(back + ("&" if "?" in back else "?") + "board_error=1")
    return redirect(back)


@blueprint.post("/visits/<int:visit_id>/labs")
@login_required
def enter_labs(visit_id: int):
    """Check every entry at once; store all or nothing. On errors the typed values stay in the
    visit's draft and the page comes back (by redirect) with every error beside its field. A value
    that looks like a unit slip (``lab_unit_check_factor``) is asked about, not stored, until it is
    sent again with its "The value and unit are right" box ticked.

    A value (or unit) over :data:`VALUE_MAX_CHARS` (pasted, or a hand-made post) is refused whole, never
    cut: the page comes back in the answer (422) with the values as sent and the limit beside each such
    analyte, and nothing is stored or kept, as for lung function. A visit closed meanwhile (another tab)
    answers its page (409), saying so, with the values as typed, whatever the values
    (:func:`_closed_visit`)."""
    resources = _resources()
    db = resources.db()
    factor = resources.settings.lab_unit_check_factor
    typed = {}
    for analyte in LAB_FORM_ANALYTES:
        key = analyte["key"]
        typed[f"lab_{key}"] = request.form.get(f"lab_{key}", "").strip()
        typed[f"unit_{key}"] = request.form.get(f"unit_{key}", analyte["si_unit"])
    if closed := _closed_visit(db, visit_id, typed, field="labs"):
        return closed
    if over := _over_long(typed):
        too_long = translate("err_lab_value_too_long", g.lang, max=VALUE_MAX_CHARS)
        return render_visit(visit_id, status=422, sent=typed,
                            field_errors={f"lab_{name.partition('_')[2]}": too_long for name in over})
    entries, errors, draft = [], {}, {}
    for analyte in LAB_FORM_ANALYTES:
        key = analyte["key"]
        raw, unit = typed[f"lab_{key}"].replace(",", "."), typed[f"unit_{key}"]
        draft[f"lab_{key}"], draft[f"unit_{key}"] = raw, unit
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            errors[key] = "number"
            continue
        # "The value and unit are right", ticked when asked: for the value and unit she was asked about only.
        confirmed = request.form.get(f"confirm_{key}") == f"{raw} {unit}"
        entries.append({"analyte": key, "value": value, "unit": unit, "confirm_unusual": confirmed})
        try:
            record = normalize_panel([entries[-1]])["records"][0]  # plausible in this unit? (no model needed)
        except TabularInputError:
            errors[key] = "value"
            continue
        if not confirmed and unit_slips([record], far_factor=factor):
            errors[key] = "unit"  # asked beside the field, with the other errors, before anything is stored
    if errors or not entries:
        summary = ",".join(f"{key}:{kind}" for key, kind in errors.items()) or "none"
        return (_keep_in_draft(db, visit_id, draft, field="labs", sent=typed)
                or _back(visit_id, "labs", lab_errors=summary))
    fresh = labs.not_yet_stored(db, visit_id, entries)
    try:
        stored = labs.add_lab_panel(db, g.actor, visit_id, fresh, unit_check_factor=factor).created if fresh else False
    except ValidationError as exc:
        kind = "unit" if isinstance(exc, UnitCheck) else "value"
        return (_keep_in_draft(db, visit_id, draft, field="labs", sent=typed)
                or _back(visit_id, "labs", lab_errors=",".join(f"{f['field']}:{kind}" for f in exc.fields)))
    except VisitClosed:  # the visit was closed meanwhile (another tab): said, with the values as typed
        return _closed_meanwhile(visit_id, typed, field="labs")
    patients.forget_draft(db, g.actor, visit_id, ("lab_", "unit_"))
    return _back(visit_id, "labs", **({} if stored else {"labs_saved": "already"}))


# The visit draft's field holding the results a lab file import was refused for as likely unit slips
# (JSON [[analyte key, value, unit], ...]): the page words them, and the file sent again with "The
# values and units above are right" ticked confirms these, no others.
FILE_CHECK_DRAFT = "lab_file_check"


def _file_checks(draft: dict) -> list[tuple[str, float, str]]:
    """The results the last lab file import was refused for (:data:`FILE_CHECK_DRAFT`)."""
    try:
        checks = json.loads(draft.get(FILE_CHECK_DRAFT) or "[]")
        return [(key, float(value), unit) for key, value, unit in checks if key in BY_KEY]
    except (TypeError, ValueError):  # not as this view wrote it: nothing to confirm
        return []


def _confirmed_as_checked(entries: list[dict], checked: list[tuple[str, float, str]]) -> list[dict]:
    """The file's entries, those the nurse was asked about and confirmed marked ``confirm_unusual``."""
    marked = []
    for entry in entries:
        record = labs.record_of(entry)
        sure = record is not None and (record["analyte"], record["value"], record["unit"]) in checked
        marked.append({**entry, "confirm_unusual": True} if sure else entry)
    return marked


@blueprint.post("/visits/<int:visit_id>/labs/file")
@login_required
def import_labs(visit_id: int):
    """Import a lab file, all or nothing. A result that looks like a unit slip refuses the file; the
    page says which, why, and asks to send it again with "The values and units above are right". To a
    closed visit, answered that it is closed whatever the file (:func:`_closed_visit`)."""
    upload = request.files.get("file")
    resources = _resources()
    db = resources.db()
    if closed := _closed_visit(db, visit_id, {}, field="labs"):
        return closed
    try:
        recordings.check_file_name(upload.filename if upload else None)
        entries = labs.read_lab_file(upload.stream)
        if request.form.get("confirm_unusual") == "1":
            entries = _confirmed_as_checked(entries, _file_checks(patients.get_visit(db, visit_id)["draft"]))
        fresh = labs.not_yet_stored(db, visit_id, entries)
        if fresh:
            labs.add_lab_panel(db, g.actor, visit_id, fresh, unit_check_factor=resources.settings.lab_unit_check_factor,
                               date_field=labs.FILE_DATE_FIELD)
    except UnitCheck as exc:
        checks = list(dict.fromkeys((finding["analyte"], finding["value"], finding["unit"]) for finding in exc.findings))
        return (_keep_in_draft(db, visit_id, {FILE_CHECK_DRAFT: json.dumps(checks)}, field="labs", sent={})
                or _back(visit_id, "labs", lab_file_check="1"))
    except ValidationError as exc:
        return _back(visit_id, "labs", labs_error=_message_key(exc, "labs"))
    except VisitClosed:  # closed meanwhile (another tab)
        return _closed_meanwhile(visit_id, {}, field="labs")
    patients.forget_draft(db, g.actor, visit_id, FILE_CHECK_DRAFT)
    return _back(visit_id, "labs", **({} if fresh else {"labs_saved": "already"}))


@blueprint.post("/visits/<int:visit_id>/breath")
@login_required
def upload_breath(visit_id: int):
    """A breath reading's file. To a closed visit, answered that it is closed whatever the file
    (:func:`_closed_visit`)."""
    resources = _resources()
    if closed := _closed_visit(resources.db(), visit_id, {}, field="breath"):
        return closed
    upload = request.files.get("file")
    try:
        recordings.check_file_name(upload.filename if upload else None)
        breath.add_breath_reading(resources.db(), resources.blobs, g.actor, visit_id, stream=upload.stream,
                                  max_bytes=resources.settings.max_upload_bytes)
    except ValidationError as exc:
        return _back(visit_id, "breath", breath_error=_message_key(exc, "breath"))
    except VisitClosed:  # closed meanwhile (another tab)
        return _closed_meanwhile(visit_id, {}, field="breath")
    return _back(visit_id, "breath")


@blueprint.post("/visits/<int:visit_id>/breath/capture")
@login_required
def capture_breath(visit_id: int):
    """An e-nose capture into the visit (see :func:`_board_capture`)."""
    resources = _resources()
    return _board_capture(visit_id, "breath", "breath", lambda orphan_after_s: devices.start_breath_capture(
        resources.folder.connect, resources.db(), resources.blobs, resources.devices, g.actor, visit_id,
        port=request.form.get("port", ""), max_bytes=resources.settings.max_upload_bytes,
        orphan_after_s=orphan_after_s))


# The longest value the lab and lung-function forms take (a number: a % predicted is at most "200.0", a
# lab value a few digits, with room for one pasted with spaces): the inputs' maxlength, and a longer
# value is refused, never cut. A programme choice.
VALUE_MAX_CHARS = 20
LUNG_FIELDS = patients.LUNG_FUNCTION_FIELDS


def _over_long(typed: dict) -> list[str]:
    """The typed fields over :data:`VALUE_MAX_CHARS`, by name."""
    return [name for name, value in typed.items() if len(value) > VALUE_MAX_CHARS]


def _percent(name: str) -> Optional[float]:
    raw = request.form.get(name, "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValidationError(f"{name} is not a number", fields=[{"field": name, "reason": "not a number"}]) from None


@blueprint.post("/visits/<int:visit_id>/lung-function")
@login_required
def lung_function(visit_id: int):
    """FVC and DLCO (% predicted) from the visit's spirometry, if done today. Refused values stay
    in the visit's draft, so the form comes back with what the nurse typed, beside the error. A value
    over :data:`VALUE_MAX_CHARS` (pasted, or a hand-made post) is refused whole, never cut: the
    page comes back in the answer (422) with the values as sent and the limit, and nothing is kept.
    A visit closed meanwhile (another tab) answers its page (409), saying so, with the values as typed,
    whatever the values (:func:`_closed_visit`)."""
    db = _resources().db()
    typed = {f"lung_{name}": request.form.get(name, "").strip() for name in LUNG_FIELDS}
    if closed := _closed_visit(db, visit_id, typed, field="lung_function"):
        return closed
    if _over_long(typed):
        return render_visit(visit_id, status=422, sent=typed, field_errors={
            "lung_function": translate("err_lung_value_too_long", g.lang, max=VALUE_MAX_CHARS)})
    try:
        patients.set_lung_function(db, g.actor, visit_id, fvc_percent=_percent("fvc_percent"),
                                   dlco_percent=_percent("dlco_percent"),
                                   dlco_not_performed=request.form.get("dlco_not_performed") == "1")
    except ValidationError:
        return (_keep_in_draft(db, visit_id, typed, field="lung_function")
                or _back(visit_id, "lung-function", lung_error="err_lung_function"))
    except VisitClosed:  # the visit was closed meanwhile (another tab): said, with the values as typed
        return _closed_meanwhile(visit_id, typed, field="lung_function")
    patients.forget_draft(db, g.actor, visit_id, "lung_")
    return _back(visit_id, "lung-function")


@blueprint.post("/visits/<int:visit_id>/steps/<step>")
@login_required
def skip_step(visit_id: int, step: str):
    skipped = request.form.get("skipped") == "1"
    patients.set_step_skipped(_resources().db(), g.actor, visit_id, step, skipped)
    return _back(visit_id, "checklist")


@blueprint.post("/visits/<int:visit_id>/status")
@login_required
def visit_status(visit_id: int):
    """Finish the visit (all done) or close it early; either way nothing more is added."""
    status = {"finish": "completed", "close": "cancelled"}.get(request.form.get("action", ""))
    if status is None:  # only a hand-made post names another action: the page says so, nothing is saved
        return render_visit(visit_id, status=422,
                            field_errors={"visit_status": translate("err_visit_action", g.lang)})
    version = request.form.get("version", "").strip()
    if not version.isdigit():
        # The page always names the version it showed: a post without one (a page cached before
        # versions existed, a hand-made post) could close a visit edited since unseen. Nothing is saved.
        return _back(visit_id, "checklist", status_error="err_visit_form_out_of_date")
    if status == "completed" and not _result_current(visit_id):
        # Something was entered after the result (another tab, a lab import): finishing would keep, as the
        # visit's record, a result that never saw it. Calculating again is one tap; closing early stays open.
        return _back(visit_id, "checklist", status_error="err_finish_result_out_of_date")
    try:
        patients.update_visit(_resources().db(), g.actor, visit_id, {"status": status}, version=int(version))
    except EditConflict:
        # Edited since the page was shown (its notes or status, through the API): the page comes back
        # as saved now, and finishing or closing it again is the nurse's choice.
        return _back(visit_id, "checklist", status_error="err_visit_edited")
    return _back(visit_id, "checklist")


def _result_current(visit_id: int) -> bool:
    """Whether the visit's latest result is current (:func:`edge.freshness.freshness_of`, the verdict the
    page and the referral check); True when it has none yet, or is no longer open (closing says so)."""
    db = _resources().db()
    assessment = screening.latest_assessment(db, visit_id)
    visit = patients.get_visit(db, visit_id)
    if assessment is None or visit["status"] != "open":
        return True
    return freshness.freshness_of(db, assessment, visit=visit, patient=patients.get_patient(db, visit["patient_id"]),
                                  settings_today=programme_settings_today(),
                                  models_today=freshness.models_in_force()).current


@blueprint.post("/visits/<int:visit_id>/draft")
@login_required
def save_draft(visit_id: int):
    """Typed but unsaved form values, kept server-side (the page's script posts JSON here)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("draft"), dict):
        raise ValidationError("send {\"draft\": {...}}", fields=[{"field": "draft", "reason": "not an object"}])
    patients.merge_draft(_resources().db(), g.actor, visit_id, body["draft"])
    return jsonify({"saved": True})


@blueprint.post("/visits/<int:visit_id>/assess")
@login_required
def assess(visit_id: int):
    """Calculate the open visit's result. A closed visit's (the page offers no Calculate then: a page shown
    before it closed, another tab) is refused with its page (409) saying so, its result as it was."""
    resources = _resources()
    db = resources.db()
    try:
        screening.score_kept_inputs(db, resources.blobs, visit_id, resources.auscultation_model, g.actor)
    except VisitClosed:
        return _closed_for_calculate(visit_id)
    except IldscreenError as exc:
        return _back(visit_id, "result", assess_error=_message_key(exc))
    try:
        screening.assess_visit(db, g.actor, visit_id, thresholds=resources.settings.triage_thresholds,
                               options=resources.settings.evidence_options)
    except VisitClosed:  # closed while it was calculated
        return _closed_for_calculate(visit_id)
    return _back(visit_id, "result")


def _closed_for_calculate(visit_id: int):
    return render_visit(visit_id, status=409, field_errors={"assess": translate("err_assess_visit_closed", g.lang)})


@blueprint.post("/visits/<int:visit_id>/refer")
@login_required
def refer(visit_id: int):
    """Refer for HRCT; when the advice is not HRCT the form must carry the clinical reason.

    The referral carries the visit's latest result, so it is sent only when that is the result the
    page showed (``assessment_id``: another tab may have calculated again) and it is still current
    (:func:`edge.freshness.require_current`, checked with the insert in one transaction). A completed
    visit is referred as an open one is, a cancelled one is not (:data:`edge.outbox.REFERABLE_VISITS`): its
    page (409) says the visit is closed, with the reason as typed."""
    resources = _resources()
    db = resources.db()
    shown = request.form.get("assessment_id", "")
    try:
        # A form naming no result (a script, an old page) names none that exists: ids start at 1.
        outbox.create_referral(db, g.actor, visit_id, site_secret=resources.folder.site_secret,
                               reason=request.form.get("reason"), assessment_id=int(shown) if shown.isdigit() else 0,
                               settings_today=programme_settings_today(), models_today=freshness.models_in_force())
    except VisitClosed:  # cancelled (in another tab): not referred; the reason as typed comes back
        return _closed_meanwhile(visit_id, {"refer_reason": request.form.get("reason", "")}, field="refer_closed",
                                 key="err_refer_visit_cancelled")
    except ResultOutOfDate as exc:
        return _result_not_referred(db, visit_id, superseded=isinstance(exc, ResultSuperseded))
    except Conflict:  # the visit's referral already stands: sent twice (a re-send, Back), said
        return _back(visit_id, "referral", refer_saved="already")
    except ValidationError as exc:
        if not _names_field(exc, "reason"):
            raise
        if not request.form.get("reason", "").strip():
            return _back(visit_id, "referral", refer_error="reason")
        # Too long: what was typed stays in the draft (the visit is open: its page shows the form), or comes
        # back in the answer: beside the form of a completed visit (referred, but keeping no draft), or the
        # visit cancelled meanwhile, saying so.
        if patients.get_visit(db, visit_id)["status"] == "completed":
            reason = request.form["reason"]
            return render_visit(visit_id, status=422, sent={"refer_reason": reason},
                                field_errors={"refer_reason": _reason_too_long(reason)})
        return _keep_refer_reason(db, visit_id) or _back(visit_id, "referral", refer_error="reason_too_long")
    patients.forget_draft(db, g.actor, visit_id, "refer_")  # typed before an idle lock
    return _back(visit_id, "referral")


def _result_not_referred(db, visit_id: int, *, superseded: bool):
    """The answer to a referral refused for its result: not the one the page showed (``superseded``), or out
    of date (:func:`edge.freshness.require_current`).

    An open visit keeps the reason as typed in its draft and its page says what to do (``refer_error``:
    Calculate again, or check the new result). A completed visit (referred from its current result) keeps no
    draft, and its result is its record, never calculated again: its page comes back in the answer (409) with
    the reason as typed and, beside the referral, that the result is not the one shown (check it and refer
    again), or that it is out of date and what gives a referral (a new visit of the patient); never that the
    visit is closed and nothing more can be added, which is not why it was refused."""
    reason = request.form.get("reason", "")
    try:
        if reason.strip():
            patients.keep_typed(db, g.actor, visit_id, {"refer_reason": reason[:patients.DRAFT_MAX_VALUE]})
        else:
            patients.require_open_visit(db, visit_id)
    except VisitClosed:
        field, key = (("refer_changed", "err_refer_result_changed") if superseded
                      else ("refer_out_of_date", "err_refer_closed_out_of_date"))
        return render_visit(visit_id, status=409, sent={"refer_reason": reason},
                            field_errors={field: translate(key, g.lang)})
    return _back(visit_id, "referral", refer_error="changed" if superseded else "out_of_date")


def _keep_refer_reason(db, visit_id: int):
    """Keep the referral reason as typed in the open visit's draft, for a refused referral's page: up
    to the draft's own limit (:data:`edge.patients.DRAFT_MAX_VALUE`), whatever refused it; None once
    kept, else the page of the visit, cancelled meanwhile, with the reason as typed (:func:`_keep_in_draft`)."""
    reason = request.form["reason"]
    return _keep_in_draft(db, visit_id, {"refer_reason": reason[:patients.DRAFT_MAX_VALUE]}, field="refer_closed",
                          sent={"refer_reason": reason}, key="err_refer_visit_cancelled")


def _keep_in_draft(db, visit_id: int, kept: dict, *, field: str, sent: Optional[dict] = None,
                   key: str = "err_visit_closed"):
    """Keep a refused form's typed values ``kept`` in the open visit's draft, for its page; None once kept.

    A closed visit keeps no draft (closed in another tab, even between this request's reads): then the
    visit page comes back in the answer (:func:`_closed_meanwhile`, saying ``key``) with what was typed
    (``sent``, else ``kept``)."""
    try:
        patients.keep_typed(db, g.actor, visit_id, kept)
    except VisitClosed:
        return _closed_meanwhile(visit_id, sent or kept, field=field, key=key)
    return None


def _closed_visit(db, visit_id: int, sent: dict, *, field: str):
    """The answer to a form or file sent to a closed visit, or None while it is open: the tablet's side of
    the one rule every write passes (:func:`edge.patients.require_open_visit`). The visit page (409,
    :func:`_closed_meanwhile`), or for the page's script (a microphone take, a board capture) 409 JSON
    ``visit_closed`` with the words it shows.

    Checked before the values or the file: a closed visit's page shows no form, so a value's or file's
    error (over the limit, not a number, not a recording) would be said beside a form the nurse cannot
    see, and nothing corrected could be saved anyway; that the visit is closed is the one thing she can
    act on. A visit closed after this check is still answered so where the value is stored (the
    ``VisitClosed`` paths)."""
    try:
        patients.require_open_visit(db, visit_id)
    except VisitClosed:
        if _wants_json():
            return jsonify({"error": {"code": VisitClosed.code, "message": translate("err_visit_closed", g.lang)}}), 409
        return _closed_meanwhile(visit_id, sent, field=field)
    return None


def _closed_meanwhile(visit_id: int, sent: dict, *, field: str, key: str = "err_visit_closed"):
    """The visit page (409) for a form sent after its visit was closed: that the visit is closed (``key``:
    for a referral, that a cancelled visit is not referred), beside ``field``, and the values as typed
    (``sent``), since a closed visit keeps no draft and shows no form."""
    return render_visit(visit_id, status=409, sent=sent, field_errors={field: translate(key, g.lang)})


def _names_field(exc: ValidationError, name: str) -> bool:
    return any(field.get("field") == name for field in exc.fields or ())


def _reason_too_long(reason: str) -> str:
    """What the page says beside a stated reason over :data:`edge.outbox.MAX_REASON_CHARS`, counted
    as the referral stores it (:func:`edge.outbox.collapsed_reason`: runs of spaces count as one)."""
    return translate("err_reason_too_long", g.lang, length=len(outbox.collapsed_reason(reason)),
                     max=outbox.MAX_REASON_CHARS)


@blueprint.post("/referrals/<int:referral_id>/withdraw")
@login_required
def withdraw_referral(referral_id: int):
    """Withdraw (not yet delivered) or revoke at the hospital (delivered); back to its visit. A reason
    over the limit stores nothing: the visit page comes back (422) with the reason as typed and the
    limit beside it, also for a closed visit, which keeps no draft. So does a withdrawal that came
    too late (409: the referral was reported or refused meanwhile), saying what became of it."""
    db = _resources().db()
    try:
        referral, already = outbox.withdraw_referral(db, g.actor, referral_id, reason=request.form.get("reason"))
    except ValidationError as exc:
        if not _names_field(exc, "reason"):
            raise
        reason = request.form.get("reason", "")
        return render_visit(outbox.get_referral(db, referral_id)["visit_id"], status=422,
                            sent={"withdraw_reason": reason},
                            field_errors={"withdraw_reason": _reason_too_long(reason)})
    except Conflict:  # the referral moved on meanwhile (reported, refused): what happened, what to do
        referral = outbox.get_referral(db, referral_id)
        status = translate(f"status_{referral['status']}", g.lang)
        return render_visit(referral["visit_id"], status=409, sent={"withdraw_reason": request.form.get("reason", "")},
                            field_errors={"withdraw_reason": translate("err_withdraw_too_late", g.lang, status=status)})
    if already:  # sent twice (a re-send, Back): said, not an error page
        return _back(referral["visit_id"], "referral", withdrawn="already")
    patients.forget_draft(db, g.actor, referral["visit_id"], "withdraw_")  # typed before an idle lock
    return _back(referral["visit_id"], "referral")
