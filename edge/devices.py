"""Sensor boards at the edge: which are connected, and capturing from them into a visit.

A capture is stored exactly like an upload (same atomic, content-addressed path and the same
checks), with ``source = 'device'`` and the board's id; a capture with a sequence gap is
refused rather than stored with silently missing audio.
"""
from __future__ import annotations

import io
import logging

import sqlite_utils

from edge import audit
from edge.errors import DeviceUnavailable
from edge.recordings import add_recording
from edge.store.blobs import BlobStore
from firmware_interface import DeviceError, DeviceManager, capture_audio, serial_ports

logger = logging.getLogger(__name__)


def register_ports(manager: DeviceManager, ports: list[str]) -> None:
    for port in ports:
        manager.add(port)


def device_overview(manager: DeviceManager) -> dict:
    """Registered boards with cached status, and serial ports seen on this machine."""
    return {"devices": manager.statuses(), "available_ports": serial_ports()}


def capture_recording(
    db: sqlite_utils.Database,
    blobs: BlobStore,
    manager: DeviceManager,
    actor: audit.Actor,
    visit_id: int,
    *,
    port: str,
    chest_site: str,
    seconds: float,
    max_bytes: int,
) -> dict:
    """Record ``seconds`` of lung sound from the stethoscope on ``port`` into the visit."""
    try:
        device = manager.get(port)
        capture = capture_audio(device, seconds=seconds)
    except DeviceError as exc:
        logger.warning("capture from %s failed: %s", port, exc)
        raise DeviceUnavailable(f"capture from {port} failed: {exc}") from exc
    return add_recording(
        db, blobs, actor, visit_id, chest_site=chest_site, stream=io.BytesIO(capture.to_wav_bytes()),
        max_bytes=max_bytes, source="device", device_id=capture.device.device_id,
    )
