"""Patients, their visits and the lung-sound recordings of a visit."""
from __future__ import annotations

from flask import Blueprint, current_app, g, request, send_file

from edge import patients, recordings
from edge.auscultation import served_stethoscope_validation
from edge.api.operations import CLINICAL_ROLES, Replayed, operation
from edge.web.i18n import negotiate_language, quality_issue
from edge.web.presenters import stethoscope_validation_in_words
from edge.schemas import (
    Patient,
    PatientCreate,
    PatientList,
    PatientQuery,
    PatientSearch,
    PatientUpdate,
    CracklesHeardLabel,
    Recording,
    RecordingDiscarded,
    RecordingList,
    RecordingUpload,
    Visit,
    VisitCreate,
    VisitList,
    VisitUpdate,
)

blueprint = Blueprint("patients", __name__, url_prefix="/api/v1")


def _db():
    return current_app.extensions["ildscreen"].db()


@operation(blueprint, "/patients", "GET", summary="Patients by code, a page at a time (search: POST /patients/search)",
           roles=CLINICAL_ROLES, query=PatientQuery, response=PatientList)
def list_patients(query: PatientQuery):
    return _patient_page(None, query.limit, query.offset)


@operation(blueprint, "/patients/search", "POST", summary="Find patients by code prefix (the code in the body, "
           "never in a URL, which proxies log)", roles=CLINICAL_ROLES, body=PatientSearch, response=PatientList,
           never_answers=(409,))
def search_patients(body: PatientSearch):
    return _patient_page(body.code, body.limit, body.offset)


def _patient_page(code_prefix, limit: int, offset: int) -> dict:
    rows, total = patients.list_patients(_db(), code_prefix=code_prefix, limit=limit, offset=offset)
    return {"patients": rows, "total": total}


@operation(blueprint, "/patients", "POST", summary="Register a patient under a pseudonymous code",
           roles=CLINICAL_ROLES, body=PatientCreate, response=Patient, status=201, atomic=True)
def create_patient(body: PatientCreate):
    return patients.create_patient(_db(), g.actor, body.model_dump())


@operation(blueprint, "/patients/<int:patient_id>", "GET", summary="One patient", roles=CLINICAL_ROLES,
           response=Patient)
def get_patient(patient_id: int):
    return patients.get_patient(_db(), patient_id)


@operation(blueprint, "/patients/<int:patient_id>", "PATCH",
           summary="Update a patient's clinical details against the `version` read (required: 422 naming it when "
                   "left out; 409 `edit_conflict` when edited since; nothing saved either way)",
           roles=CLINICAL_ROLES, body=PatientUpdate, response=Patient, atomic=True)
def update_patient(patient_id: int, body: PatientUpdate):
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version")
    return patients.update_patient(_db(), g.actor, patient_id, changes, version=version)


@operation(blueprint, "/patients/<int:patient_id>/visits", "GET", summary="A patient's visits, newest first",
           roles=CLINICAL_ROLES, response=VisitList)
def list_visits(patient_id: int):
    return {"visits": patients.list_visits(_db(), patient_id)}


@operation(blueprint, "/patients/<int:patient_id>/visits", "POST", summary="Open a screening visit",
           roles=CLINICAL_ROLES, body=VisitCreate, response=Visit, status=201, atomic=True, never_answers=(409,))
def create_visit(patient_id: int, body: VisitCreate):
    return patients.create_visit(_db(), g.actor, patient_id, notes=body.notes)


@operation(blueprint, "/visits/<int:visit_id>", "GET", summary="One visit", roles=CLINICAL_ROLES, response=Visit)
def get_visit(visit_id: int):
    return patients.get_visit(_db(), visit_id)


@operation(blueprint, "/visits/<int:visit_id>", "PATCH",
           summary="Update a visit's status, notes or draft (the draft's keys sent are merged into it) against the "
                   "`version` read (required: 422 naming it when left out; 409 `edit_conflict` when edited since; "
                   "nothing saved either way)",
           roles=CLINICAL_ROLES, body=VisitUpdate, response=Visit, atomic=True)
def update_visit(visit_id: int, body: VisitUpdate):
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version")
    return patients.update_visit(_db(), g.actor, visit_id, changes, version=version)


def in_callers_words(recording: dict) -> dict:
    """The recording as the API gives it, however it is reached (GET, an upload, a label, a capture job's
    result), in words for the caller's language: ``quality_advice``, the refusal in plain words, and its
    ``stethoscope_validation`` with ``counts`` (:func:`edge.web.presenters.stethoscope_counts_by`, by
    today's ``evidence_require_validated_stethoscope`` and ``evidence_validation_rule``) and its ``statement``
    (:func:`edge.web.presenters.stethoscope_statement`: why it does not count, and what to do)."""
    quality = recording.get("quality") or {}
    lang = negotiate_language()
    advice = [] if quality.get("ok", True) else [quality_issue(issue, "audio", lang) for issue in quality.get("issues", [])]
    settings = current_app.extensions["ildscreen"].settings
    # Judged under the programme's validation rule, as the next assessment will judge it.
    validation = (served_stethoscope_validation(recording["stethoscope"], recording["chest_piece"],
                                                settings.evidence_options.validation_rule)
                  if "stethoscope" in recording else recording.get("stethoscope_validation"))
    validation = stethoscope_validation_in_words(validation, lang,
                                                 require_validated_stethoscope=settings.evidence_require_validated_stethoscope)
    return {**recording, "quality_advice": advice, "stethoscope_validation": validation}


@operation(blueprint, "/visits/<int:visit_id>/recordings", "GET", summary="Recordings of a visit",
           roles=CLINICAL_ROLES, response=RecordingList)
def list_recordings(visit_id: int):
    db = _db()
    patients.get_visit(db, visit_id)
    return {"recordings": [in_callers_words(r) for r in recordings.list_recordings(db, visit_id)]}


#: What makes a take the same one again, for every way a take arrives (an upload, a board capture).
SAME_TAKE = ("Already stored: the visit holds a recording of this chest site with the same audio (SHA-256); that one "
             "is returned and nothing new is stored")
#: A discard sent again (a client's retry after a timeout): said so, not a 404 for a take that existed.
ALREADY_DISCARDED = ("Already discarded: an earlier request discarded this take (its audit entry says so); nothing "
                     "is changed and no second audit entry is written")


def take_answer(recording: dict, *, replayed: bool):
    """A take for the client, however it arrived: 201 with the new recording, or 200
    (:class:`Replayed`) with the one the visit already held when it was the same take."""
    body = in_callers_words(recording)
    return Replayed(body) if replayed else body


@operation(blueprint, "/visits/<int:visit_id>/recordings", "POST",
           summary="Upload a lung-sound recording (multipart: file + chest_site, and chest_piece and stethoscope)",
           roles=CLINICAL_ROLES, form=RecordingUpload, response=Recording, status=201,
           unavailable="every decode slot stayed busy for audio_decode_wait_s (error code busy); send it again",
           replay=SAME_TAKE)
def upload_recording(visit_id: int, form: RecordingUpload):
    resources = current_app.extensions["ildscreen"]
    upload = request.files.get("file")
    recordings.check_file_name(upload.filename if upload else None)
    recording, created = recordings.add_recording(
        resources.db(), resources.blobs, g.actor, visit_id,
        chest_site=form.chest_site, chest_piece=form.chest_piece,
        stethoscope=form.stethoscope or resources.settings.upload_stethoscope, stethoscopes=resources.settings.stethoscopes,
        stream=upload.stream, max_bytes=resources.settings.max_upload_bytes,
        model=resources.auscultation_model, limits=resources.settings.audio_limits,
    )
    return take_answer(recording, replayed=not created)


@operation(blueprint, "/recordings/<int:recording_id>", "DELETE",
           summary="Discard a take to record its site again, as the tablet's re-record does: 204; its audio file "
                   "goes unless another take holds the same sound; audited; 409 once its visit is not open; "
                   "200 when already discarded",
           roles=CLINICAL_ROLES, response=RecordingDiscarded, status=204, replay=ALREADY_DISCARDED)
def discard_recording(recording_id: int):
    # The tablet's discard (edge.web.visit_views) calls the same function: one rule for what a
    # discard removes (the row, the file) and keeps (the audit entry with the take's device and verdict).
    resources = current_app.extensions["ildscreen"]
    discard = recordings.discard_recording(resources.db(), resources.blobs, g.actor, recording_id)
    if discard.already:
        return Replayed({"recording_id": discard.recording_id, "visit_id": discard.visit_id,
                         "chest_site": discard.chest_site, "already_discarded": True})
    return None


@operation(blueprint, "/recordings/<int:recording_id>/crackles-heard", "PUT",
           summary="Label a take as a clinician, on listening to it: crackles heard yes, no or unsure (the last label "
                   "wins; audited). A reference for checking the crackle model; the visit's result, risk and advice "
                   "do not change; a closed visit's takes too. 409 `take_discarded` for a discarded take",
           roles=("clinician",), body=CracklesHeardLabel, response=Recording, atomic=True)
def label_crackles_heard(recording_id: int, body: CracklesHeardLabel):
    recording = recordings.label_crackles_heard(_db(), g.actor, recording_id, body.crackles_heard)
    return in_callers_words(recording)


@operation(blueprint, "/recordings/<int:recording_id>/audio", "GET",
           summary="The stored audio of a recording (WAV or FLAC)", roles=CLINICAL_ROLES,
           produces=("audio/wav", "audio/flac"))
def recording_audio(recording_id: int):
    resources = current_app.extensions["ildscreen"]
    stream, media_type = recordings.open_recording_audio(resources.db(), resources.blobs, recording_id)
    return send_file(stream, mimetype=media_type, download_name=f"recording-{recording_id}", max_age=0)
