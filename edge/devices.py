"""Sensor boards at the edge: which are connected, and capturing from them into a visit.

A capture is stored exactly like an upload (same atomic, content-addressed path and the same
checks), with ``source = 'device'`` and the board's id; a capture with a sequence gap is
refused rather than stored with silently missing audio.
"""
from __future__ import annotations

import fnmatch
import io
import logging
import os
import stat
import tempfile

import sqlite_utils

from audio_models.io import DEFAULT_AUDIO_LIMITS, AudioLimits
from edge import audit
from edge.errors import DeviceUnavailable, PayloadTooLarge, ValidationError
from edge.recordings import add_recording
from edge.store.blobs import BlobStore
from edge.store.database import write_transaction
from edge.breath import add_breath_reading
from firmware_interface import Device, DeviceError, DeviceManager, SerialTransport, capture_audio, capture_enose, \
    serial_ports

logger = logging.getLogger(__name__)

# Where ``SimulatedDevice.start`` puts its port: a link to its pty in a fresh temporary folder.
SIMULATOR_PORT_PATTERN = os.path.join(tempfile.gettempdir(), "ildscreen-sim-*", "tty")
# A registration waits at most about this long for the board's HELLO/INFO answer, so a wrong
# port never holds a request thread for the driver's 10 s connect timeout.
PROBE_SECONDS = 2.0


def port_allowed(port: str, patterns: list[str]) -> bool:
    """Whether ``port`` matches one of the shell-style ``patterns``, '*' within one path segment."""
    return any(fnmatch.fnmatchcase(port, pattern) and port.count("/") == pattern.count("/") for pattern in patterns)


def register_ports(manager: DeviceManager, ports: list[str]) -> None:
    """Register the configured ports at start (checked against the allowlist by the settings)."""
    for port in ports:
        manager.add(port)


def register_board(db: sqlite_utils.Database, manager: DeviceManager, actor: audit.Actor, port: str,
                   patterns: list[str], *, probe_s: float = PROBE_SECONDS) -> None:
    """Register the board on ``port`` after checking the allowlist and probing it briefly; audited.

    The allowlist is checked on the path as given, before the file system is touched, so the
    answer for a path outside it never depends on whether that path exists.

    Raises
    ------
    ValidationError
        ``port`` matches none of ``patterns``.
    DeviceUnavailable
        Nothing that answers like a sensor board is on ``port`` within ``probe_s``.
    """
    if not port_allowed(port, patterns):
        raise ValidationError(f"port {port!r} is not an allowed sensor board path; allowed: {', '.join(patterns)} "
                              "(setting device_port_patterns)",
                              fields=[{"field": "port", "reason": "not an allowed device path"}])
    no_board = DeviceUnavailable(f"no sensor board answered on {port} within {probe_s:g} s")
    try:
        if not stat.S_ISCHR(os.stat(port).st_mode):
            raise no_board
    except OSError as exc:
        raise no_board from exc
    probe = Device(SerialTransport(port), reply_timeout=probe_s / 2, retries=0, connect_timeout=probe_s / 2)
    try:
        probe.connect()
    except DeviceError as exc:
        logger.warning("probe of a board port failed: %s", type(exc).__name__)
        raise no_board from exc
    finally:
        probe.close()
    manager.add(port)
    with write_transaction(db):
        audit.record(db, actor, "register", "device", None, {"port": port, "device_id": probe.info.device_id})


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
    model=None,
    limits: AudioLimits = DEFAULT_AUDIO_LIMITS,
) -> dict:
    """Record ``seconds`` of lung sound from the stethoscope on ``port`` into the visit, scored by ``model``.

    A capture longer than ``limits`` allows is refused before the board is asked for it, and the
    captured WAV passes the same header checks as an upload.
    """
    if seconds > limits.max_duration_s:
        raise PayloadTooLarge(f"a {seconds:g} s capture is longer than the {limits.max_duration_s:g} s maximum "
                              "(audio_max_duration_s)", fields=[{"field": "seconds", "reason": "outside max_duration_s"}])
    try:
        device = manager.get(port)
        capture = capture_audio(device, seconds=seconds)
    except DeviceError as exc:
        logger.warning("capture from %s failed: %s", port, exc)
        raise DeviceUnavailable(f"capture from {port} failed: {exc}") from exc
    return add_recording(
        db, blobs, actor, visit_id, chest_site=chest_site, stream=io.BytesIO(capture.to_wav_bytes()),
        max_bytes=max_bytes, source="device", device_id=capture.device.device_id, model=model, limits=limits,
    )


# The board reports each MOX sensor's resistance; the breath format counts the ADC of a
# voltage divider with a load resistor, which rises as the sensor conducts (gas present):
# counts = full_scale * R_load / (R_load + R_sensor). 10 kOhm is the usual load for these
# sensors (e.g. Figaro TGS26xx datasheets' test circuit).
LOAD_RESISTANCE_KOHM = 10.0
ADC_FULL_SCALE = 4095
PHASE_NAMES = {1: "baseline", 2: "exposure", 3: "purge"}


def enose_reading_csv(reading) -> str:
    """An e-nose capture in the breath-reading CSV format of ``tabular_models`` (see its README)."""
    counts = ADC_FULL_SCALE * LOAD_RESISTANCE_KOHM / (LOAD_RESISTANCE_KOHM + reading.values.astype(float))
    n_sensors = counts.shape[1]
    lines = ["t_s,phase," + ",".join(f"sensor_{i + 1}" for i in range(n_sensors)) + ",temperature_c,humidity_pct,pressure_hpa"]
    for i, phase in enumerate(reading.phase):
        if int(phase) not in PHASE_NAMES:
            raise DeviceUnavailable(f"e-nose capture has a sample in an unknown phase at index {i}")
        row = [f"{i / reading.sample_rate_hz:.3f}", PHASE_NAMES[int(phase)], *(f"{v:.2f}" for v in counts[i]),
               f"{reading.temperature_c[i]:.2f}", f"{reading.humidity_pct[i]:.2f}", f"{reading.pressure_hpa[i]:.2f}"]
        lines.append(",".join(row))
    return "\n".join(lines) + "\n"


def capture_breath(
    db: sqlite_utils.Database,
    blobs: BlobStore,
    manager: DeviceManager,
    actor: audit.Actor,
    visit_id: int,
    *,
    port: str,
    max_bytes: int,
) -> dict:
    """Take an e-nose reading (baseline, breath, purge) into the visit, stored like an upload."""
    try:
        # A 15 s baseline leaves the breath model's 10 s minimum room for the sensors to settle.
        reading = capture_enose(manager.get(port), baseline_s=15.0, exposure_s=20.0, purge_s=30.0)
    except DeviceError as exc:
        logger.warning("e-nose capture from %s failed: %s", port, exc)
        raise DeviceUnavailable(f"e-nose capture from {port} failed: {exc}") from exc
    return add_breath_reading(db, blobs, actor, visit_id, stream=io.BytesIO(enose_reading_csv(reading).encode()),
                              max_bytes=max_bytes, source="device", device_id=reading.device.device_id)
