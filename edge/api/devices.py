"""Sensor boards: list and status, registering a port, capturing lung sounds or a breath reading
into a visit (synchronously, or as a job to poll and cancel)."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from flask import Blueprint, Response, current_app, g, jsonify, url_for
from pydantic import AfterValidator, BaseModel, Field

from edge import devices
from edge.api.operations import ADMIN_ROLES, ANY_ROLE, CLINICAL_ROLES, operation
from edge.api.patients import SAME_TAKE, in_callers_words, take_answer
from edge.api.visit_data import BreathReading
from edge.schemas import Recording, RecordingTarget, RequestModel

blueprint = Blueprint("devices", __name__, url_prefix="/api/v1")
def check_port(value: str) -> str:
    if ".." in value.split("/"):
        raise ValueError(f"port must be an absolute device path without '..', got {value!r}")
    return value


Port = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._/-]{1,200}$",
                            description="Serial port of the board: an absolute device path, e.g. /dev/ttyACM0."),
                 AfterValidator(check_port)]


class DeviceOverview(BaseModel):
    devices: list[dict]
    available_ports: list[str]


class DeviceRegistration(RequestModel):
    port: Port


class AudioCaptureRequest(RecordingTarget):
    # No chest_piece: the board's wire protocol does not carry one, so a capture is stored as not_stated. No
    # stethoscope: the setting board_stethoscopes names the board's.
    port: Port
    seconds: float = Field(20.0, ge=5, le=60, description="Recording length; 20 s covers several breaths.")


def _resources():
    return current_app.extensions["ildscreen"]


@operation(blueprint, "/devices", "GET", summary="Sensor boards and their status", roles=ANY_ROLE,
           response=DeviceOverview)
def list_devices():
    return devices.device_overview(_resources().devices)


@operation(blueprint, "/devices", "POST",
           summary="Register a sensor board on a serial port (admin; the port must match device_port_patterns and "
                   "a board must answer a short probe)",
           roles=ADMIN_ROLES, body=DeviceRegistration, response=DeviceOverview, status=201, never_answers=(409,))
def register_device(body: DeviceRegistration):
    resources = _resources()
    devices.register_board(resources.db(), resources.devices, g.actor, body.port,
                           resources.settings.allowed_port_patterns)
    return devices.device_overview(resources.devices)


class CaptureJob(BaseModel):
    """A board capture running in the background; poll it more often than ``capture_orphan_seconds``."""

    id: str = Field(description="Random id of the job; its URL is /api/v1/capture-jobs/{id}.")
    port: str
    kind: Literal["stethoscope", "enose"]
    state: Literal["running", "completed", "failed", "cancelled"]
    progress: float = Field(ge=0, le=1, description="Share of the requested samples received so far.")
    started_at: str
    finished_at: Optional[str] = None
    cancel_reason: Optional[Literal["user", "orphaned"]] = Field(
        None, description="Why a cancelled job was cancelled: a user asked, or nobody polled it "
                          "for capture_orphan_seconds.")
    result: Optional[dict] = Field(None, description="Once completed: the stored recording (as GET of the "
                                                     "recording gives it: Recording) or breath reading.")
    replayed: bool = Field(False, description="Once completed: the capture was the same take as the recording the "
                                              "visit already held for that chest site, which is the result; nothing "
                                              "new was stored.")
    error: Optional[dict] = Field(None, description="Once failed: the error's code and message.")


def job_answer(job) -> dict:
    """A capture job for the client (:func:`edge.devices.job_outcome`), its stored recording as a GET of
    the recording gives it (:func:`edge.api.patients.in_callers_words`, in the :class:`Recording` schema)."""
    outcome = devices.job_outcome(job)
    if outcome["kind"] == "stethoscope" and outcome["result"] is not None:
        outcome["result"] = Recording.model_validate(in_callers_words(outcome["result"])).model_dump(mode="json")
    return outcome


def _accepted(job) -> Response:
    """202 Accepted with the job and its Location, for the client to poll or cancel."""
    body = CaptureJob.model_validate(job_answer(job)).model_dump(mode="json")
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = url_for("devices.get_capture_job", job_id=job.id)
    return response


def _start_recording(visit_id: int, body: AudioCaptureRequest, *, orphan_after_s):
    resources = _resources()
    return devices.start_recording_capture(
        resources.folder.connect, resources.db(), resources.blobs, resources.devices, g.actor, visit_id,
        port=body.port, chest_site=body.chest_site, seconds=body.seconds,
        max_bytes=resources.settings.max_upload_bytes, model=resources.auscultation_model,
        limits=resources.settings.audio_limits, orphan_after_s=orphan_after_s,
        board_stethoscopes=resources.settings.board_stethoscopes)


def _start_breath(visit_id: int, body: "BreathCaptureRequest", *, orphan_after_s):
    resources = _resources()
    return devices.start_breath_capture(
        resources.folder.connect, resources.db(), resources.blobs, resources.devices, g.actor, visit_id,
        port=body.port, max_bytes=resources.settings.max_upload_bytes, orphan_after_s=orphan_after_s)


@operation(blueprint, "/visits/<int:visit_id>/recordings/capture", "POST",
           summary="Record lung sounds from a connected stethoscope into the visit, answering when stored "
                   "(for a cancellable capture use .../recordings/capture-jobs)", roles=CLINICAL_ROLES,
           body=AudioCaptureRequest, response=Recording, status=201, errors=(409,),
           unavailable="no board answers on the port, or the capture fails part way", replay=SAME_TAKE)
def capture_recording(visit_id: int, body: AudioCaptureRequest):
    # The request itself watches the job, so it is never cancelled as orphaned.
    recording, replayed = devices.finish_synchronously(_start_recording(visit_id, body, orphan_after_s=None))
    return take_answer(recording, replayed=replayed)


@operation(blueprint, "/visits/<int:visit_id>/recordings/capture-jobs", "POST",
           summary="Start recording lung sounds from a connected stethoscope as a cancellable job: 202 with "
                   "the job and its Location; poll it (GET) at least every capture_orphan_seconds, or it is "
                   "cancelled", roles=CLINICAL_ROLES, body=AudioCaptureRequest, response=CaptureJob, status=202,
           errors=(409,), unavailable="no board is registered on the port")
def start_recording_capture_job(visit_id: int, body: AudioCaptureRequest):
    return _accepted(_start_recording(visit_id, body, orphan_after_s=_resources().settings.capture_orphan_seconds))


class BreathCaptureRequest(RequestModel):
    port: Port


@operation(blueprint, "/visits/<int:visit_id>/breath/capture", "POST",
           summary="Take an e-nose breath reading from a connected board into the visit (about a minute), "
                   "answering when stored (for a cancellable capture use .../breath/capture-jobs)",
           roles=CLINICAL_ROLES, body=BreathCaptureRequest, response=BreathReading, status=201, errors=(409,),
           unavailable="no board answers on the port, or the capture fails part way")
def capture_breath(visit_id: int, body: BreathCaptureRequest):
    return devices.finish_synchronously(_start_breath(visit_id, body, orphan_after_s=None))[0]


@operation(blueprint, "/visits/<int:visit_id>/breath/capture-jobs", "POST",
           summary="Start an e-nose breath reading as a cancellable job: 202 with the job and its Location",
           roles=CLINICAL_ROLES, body=BreathCaptureRequest, response=CaptureJob, status=202, errors=(409,),
           unavailable="no board is registered on the port")
def start_breath_capture_job(visit_id: int, body: BreathCaptureRequest):
    return _accepted(_start_breath(visit_id, body, orphan_after_s=_resources().settings.capture_orphan_seconds))


@operation(blueprint, "/capture-jobs/<job_id>", "GET",
           summary="A board capture job: state, progress, and the stored record or the error once it ended",
           roles=CLINICAL_ROLES, response=CaptureJob, errors=(404,))
def get_capture_job(job_id: str):
    return job_answer(devices.get_job(_resources().devices, job_id))


@operation(blueprint, "/capture-jobs/<job_id>", "DELETE",
           summary="Cancel a running board capture: STOP_CAPTURE on the board, nothing stored; 409 once it ended",
           roles=CLINICAL_ROLES, response=CaptureJob, errors=(404, 409))
def cancel_capture_job(job_id: str):
    return job_answer(devices.cancel_job(_resources().devices, job_id))
