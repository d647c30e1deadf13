"""Sensor boards at the edge: which are connected, and capturing from them into a visit.

A capture runs as a background job of the ``DeviceManager`` (one per board; it can be
cancelled on the board, and one nobody watches is cancelled, see ``firmware_interface.jobs``).
Once it ends it is stored exactly like an upload (same atomic, content-addressed path and the
same checks), with ``source = 'device'`` and the board's id; a capture with a sequence gap is
refused rather than stored with silently missing audio, and a cancelled one stores nothing.
"""
from __future__ import annotations

import contextlib
import fnmatch
import io
import logging
import os
import stat
import tempfile
from types import MappingProxyType
from typing import Callable, Iterator, Mapping, Optional

import sqlite_utils

from audio_models.limits import DEFAULT_AUDIO_LIMITS, AudioLimits
from edge import audit
from edge.errors import (CaptureRunning, Conflict, DeviceUnavailable, IldscreenError, NotFound, PayloadTooLarge,
                         StorageError, ValidationError)
from edge.patients import require_open_visit
from edge.recordings import AddedRecording, add_recording, check_recording_target
from edge.store.blobs import BlobStore
from edge.store.database import write_transaction
from edge.vocabulary import STETHOSCOPE_NOT_STATED
from edge.breath import add_breath_reading
from firmware_interface import BoardBusy, CaptureJob, Device, DeviceError, DeviceManager, EnoseReading, Phase, \
    SerialTransport, capture_audio, capture_enose, serial_ports
from firmware_interface.jobs import CANCELLED, COMPLETED, FAILED
from tabular_models.breath_io import DEFAULT_FULL_SCALE

logger = logging.getLogger(__name__)

# Where ``SimulatedDevice.start`` puts its port: a link to its pty in a fresh temporary folder.
SIMULATOR_PORT_PATTERN = os.path.join(tempfile.gettempdir(), "ildscreen-sim-*", "tty")
# A registration waits at most about this long for the board's HELLO/INFO answer, so a wrong
# port never holds a request thread for the driver's 10 s connect timeout.
PROBE_SECONDS = 2.0


def port_allowed(port: str, patterns: list[str]) -> bool:
    """Whether ``port`` matches one of the shell-style ``patterns``, '*' within one path segment."""
    return any(fnmatch.fnmatchcase(port, pattern) and port.count("/") == pattern.count("/") for pattern in patterns)


def port_present(port: str) -> bool:
    """Whether ``port`` is a character device now (a board plugged in, or a simulator's pty)."""
    try:
        return stat.S_ISCHR(os.stat(port).st_mode)
    except OSError:
        return False


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
    if not port_present(port):
        raise no_board
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


def start_recording_capture(
    connect: Callable[[], sqlite_utils.Database],
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
    orphan_after_s: Optional[float] = None,
    board_stethoscopes: Mapping[str, str] = MappingProxyType({}),
) -> CaptureJob:
    """Start recording ``seconds`` of lung sound from the stethoscope on ``port`` into the visit,
    as a background job of ``manager`` (one per board), scored by ``model`` once it ends. The take
    states the stethoscope ``board_stethoscopes`` (the setting) names for the board's id, else
    ``not_stated``: the wire protocol carries no make or model.

    What can be checked before the board is asked is checked here, so that a bad request gets
    its 4xx at once: the length (``limits``), the chest site, that the visit is open. The job
    stores the capture exactly like an upload (same checks on the WAV), on its own connection
    (``connect``); a cancelled or failed capture stores nothing.

    Raises
    ------
    PayloadTooLarge, ValidationError, NotFound, Conflict
        Too long, unknown chest site, no such visit, visit closed.
    DeviceUnavailable
        No board is registered on ``port``.
    CaptureRunning
        A capture is already running on that board (a 409).
    """
    if seconds > limits.max_duration_s:
        raise PayloadTooLarge(f"a {seconds:g} s capture is longer than the {limits.max_duration_s:g} s maximum "
                              "(audio_max_duration_s)", fields=[{"field": "seconds", "reason": "outside max_duration_s"}])
    check_recording_target(db, visit_id, chest_site)

    def work(device, job: CaptureJob) -> dict:
        capture = capture_audio(device, seconds=seconds, stop_requested=job.should_stop,
                                on_progress=job.report_progress)
        with _connection(connect) as job_db:
            # A capture identical to the site's stored take (a board re-sending its buffer) gives that
            # take, as a replay (see stored_by).
            return add_recording(
                job_db, blobs, actor, visit_id, chest_site=chest_site, stream=io.BytesIO(capture.to_wav_bytes()),
                max_bytes=max_bytes, source="device", device_id=capture.device.device_id, model=model, limits=limits,
                stethoscope=board_stethoscopes.get(capture.device.device_id, STETHOSCOPE_NOT_STATED),
                stethoscopes=tuple(board_stethoscopes.values()),
            )

    return _start(manager, port, "stethoscope", work, orphan_after_s)


def _start(manager: DeviceManager, port: str, kind: str, work: Callable, orphan_after_s: Optional[float]) -> CaptureJob:
    try:
        return manager.start_capture(port, kind, work, orphan_after_s=orphan_after_s)
    except BoardBusy as exc:
        raise CaptureRunning(str(exc)) from exc
    except DeviceError as exc:
        raise DeviceUnavailable(f"capture from {port} failed: {exc}") from exc


@contextlib.contextmanager
def _connection(connect: Callable[[], sqlite_utils.Database]) -> Iterator[sqlite_utils.Database]:
    """A capture job's own database connection (request connections belong to their threads)."""
    db = connect()
    try:
        yield db
    finally:
        db.conn.close()


def stored_by(job: CaptureJob) -> tuple[Optional[dict], bool]:
    """What a job stored once ``completed`` (else None), and whether the capture was a replay: the
    same take as the one the visit already held for that chest site, which is the record then and
    nothing new was stored (:func:`edge.recordings.add_recording`)."""
    if job.state != COMPLETED:
        return None, False
    if isinstance(job.result, AddedRecording):
        return job.result.recording, not job.result.created
    return job.result, False


def job_outcome(job: CaptureJob) -> dict:
    """A capture job for a client: state and progress; the stored record once ``completed`` and
    whether it was a replay; the error (a domain error's code and message) once ``failed``."""
    view = job.to_dict()
    view["result"], view["replayed"] = stored_by(job)
    view["error"] = job_error(job).to_json()["error"] if job.state == FAILED else None
    return view


def job_error(job: CaptureJob) -> IldscreenError:
    """Why a failed job failed, as the domain error a synchronous capture would have raised."""
    exc = job.error
    if isinstance(exc, IldscreenError):
        return exc
    if isinstance(exc, DeviceError):
        return DeviceUnavailable(f"capture from {job.port} failed: {exc}")
    return StorageError("the capture failed inside the service; see the service log")


def get_job(manager: DeviceManager, job_id: str) -> CaptureJob:
    """The capture job ``job_id`` (touched: someone is watching it), or ``NotFound``."""
    job = manager.job(job_id)
    if job is None:
        raise NotFound(f"no capture job {job_id!r} (unknown, or finished more than 10 minutes ago)")
    job.touch()
    return job


def cancel_job(manager: DeviceManager, job_id: str) -> CaptureJob:
    """Stop a running capture on its board (STOP_CAPTURE); nothing of it is stored.

    Raises
    ------
    NotFound
        Unknown job.
    Conflict
        The job had already ended (completed, failed or cancelled), or ended storing its
        capture before the board saw the stop.
    """
    job = get_job(manager, job_id)
    if not job.cancel():
        raise Conflict(f"capture job {job_id!r} already ended ({job.state}); there is nothing to cancel")
    if job.state == COMPLETED:
        raise Conflict(f"capture job {job_id!r} completed and was stored before it could be cancelled")
    return job


def finish_synchronously(job: CaptureJob) -> tuple[dict, bool]:
    """Wait for a job started for a synchronous caller and return what it stored and whether that
    was a replay (:func:`stored_by`), or raise its error."""
    job.wait()
    if job.state == FAILED:
        raise job_error(job)
    if job.state == CANCELLED:
        raise DeviceUnavailable(f"capture from {job.port} was cancelled")
    return stored_by(job)


# The board reports each MOX sensor's resistance; the breath format counts the ADC of a
# voltage divider with a load resistor, which rises as the sensor conducts (gas present):
# counts = full_scale * R_load / (R_load + R_sensor). 10 kOhm is the usual load for these
# sensors (e.g. Figaro TGS26xx datasheets' test circuit); full scale is the breath format's own.
LOAD_RESISTANCE_KOHM = 10.0
# The board's phases that a breath reading holds, by the format's names (UNKNOWN, a sample lost in
# a gap, has none: such a capture is the board's table, EnoseReading.to_board_csv, for inspection).
_BREATH_PHASES = {int(p): p.name.lower() for p in (Phase.BASELINE, Phase.EXPOSURE, Phase.PURGE)}
# Seconds of each phase of an e-nose capture, for the tablet's capture and `ildscreen device capture`
# alike: a 15 s baseline leaves the breath model's 10 s minimum room for the sensors to settle (a 10 s
# one comes out a sample short and is refused as too short).
BREATH_CAPTURE_PHASE_SECONDS = MappingProxyType({"baseline": 15.0, "exposure": 20.0, "purge": 30.0})


def enose_reading_csv(reading: EnoseReading) -> str:
    """An e-nose capture as a breath-reading CSV (``tabular_models`` README): the one writer of the
    file the service stores from a board and ``ildscreen device capture`` writes, which ``breath
    score`` and the tablet's breath upload read. Resistances become ADC counts (see above)."""
    counts = DEFAULT_FULL_SCALE * LOAD_RESISTANCE_KOHM / (LOAD_RESISTANCE_KOHM + reading.values.astype(float))
    n_sensors = counts.shape[1]
    lines = ["t_s,phase," + ",".join(f"sensor_{i + 1}" for i in range(n_sensors)) + ",temperature_c,humidity_pct,pressure_hpa"]
    for i, phase in enumerate(reading.phase):
        if int(phase) not in _BREATH_PHASES:
            raise DeviceUnavailable(f"e-nose capture has a sample in an unknown phase at index {i}")
        row = [f"{i / reading.sample_rate_hz:.3f}", _BREATH_PHASES[int(phase)], *(f"{v:.2f}" for v in counts[i]),
               f"{reading.temperature_c[i]:.2f}", f"{reading.humidity_pct[i]:.2f}", f"{reading.pressure_hpa[i]:.2f}"]
        lines.append(",".join(row))
    return "\n".join(lines) + "\n"


def start_breath_capture(
    connect: Callable[[], sqlite_utils.Database],
    db: sqlite_utils.Database,
    blobs: BlobStore,
    manager: DeviceManager,
    actor: audit.Actor,
    visit_id: int,
    *,
    port: str,
    max_bytes: int,
    orphan_after_s: Optional[float] = None,
) -> CaptureJob:
    """Start an e-nose reading (baseline, breath, purge) into the visit as a background job,
    stored like an upload once it ends; raises as :func:`start_recording_capture`."""
    require_open_visit(db, visit_id)

    def work(device, job: CaptureJob) -> dict:
        phases = BREATH_CAPTURE_PHASE_SECONDS
        reading = capture_enose(device, baseline_s=phases["baseline"], exposure_s=phases["exposure"],
                                purge_s=phases["purge"],
                                stop_requested=job.should_stop, on_progress=job.report_progress)
        with _connection(connect) as job_db:
            return add_breath_reading(job_db, blobs, actor, visit_id,
                                      stream=io.BytesIO(enose_reading_csv(reading).encode()),
                                      max_bytes=max_bytes, source="device", device_id=reading.device.device_id)

    return _start(manager, port, "enose", work, orphan_after_s)
