"""Sensor boards: list and status, registering a port, capturing lung sounds into a visit."""
from __future__ import annotations

from typing import Annotated

from flask import Blueprint, current_app, g
from pydantic import AfterValidator, BaseModel, Field

from edge import devices
from edge.api.operations import ADMIN_ROLES, ANY_ROLE, CLINICAL_ROLES, operation
from edge.api.visit_data import BreathReading
from edge.schemas import Recording, RecordingUpload, RequestModel

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


class AudioCaptureRequest(RecordingUpload):
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
           roles=ADMIN_ROLES, body=DeviceRegistration, response=DeviceOverview, status=201)
def register_device(body: DeviceRegistration):
    resources = _resources()
    devices.register_board(resources.db(), resources.devices, g.actor, body.port,
                           resources.settings.allowed_port_patterns)
    return devices.device_overview(resources.devices)


@operation(blueprint, "/visits/<int:visit_id>/recordings/capture", "POST",
           summary="Record lung sounds from a connected stethoscope into the visit", roles=CLINICAL_ROLES,
           body=AudioCaptureRequest, response=Recording, status=201,
           unavailable="no board answers on the port, or the capture fails part way")
def capture_recording(visit_id: int, body: AudioCaptureRequest):
    resources = _resources()
    return devices.capture_recording(
        resources.db(), resources.blobs, resources.devices, g.actor, visit_id, port=body.port,
        chest_site=body.chest_site, seconds=body.seconds, max_bytes=resources.settings.max_upload_bytes,
        model=resources.auscultation_model, limits=resources.settings.audio_limits,
    )


class BreathCaptureRequest(RequestModel):
    port: Port


@operation(blueprint, "/visits/<int:visit_id>/breath/capture", "POST",
           summary="Take an e-nose breath reading from a connected board into the visit (about a minute)",
           roles=CLINICAL_ROLES, body=BreathCaptureRequest, response=BreathReading, status=201,
           unavailable="no board answers on the port, or the capture fails part way")
def capture_breath(visit_id: int, body: BreathCaptureRequest):
    resources = _resources()
    return devices.capture_breath(resources.db(), resources.blobs, resources.devices, g.actor, visit_id,
                                  port=body.port, max_bytes=resources.settings.max_upload_bytes)
