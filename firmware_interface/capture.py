"""Capture sessions: one START_CAPTURE → a complete recording with its metadata, or an error.

Ordering policy. Every stream message carries its sample index, so the host buffers
the whole capture (60 s of 8 kHz audio is under 1 MB) and places each block at its
index: reordering of any depth is repaired and counted, duplicates are dropped and
counted, and blocks from another capture id (a previous patient's stream) are dropped
and counted as stale, never mixed in. Missing ranges become :class:`~firmware_interface.assembly.Gap` entries, never
silently filled: by default a capture with a gap raises :class:`CaptureError`; with
``allow_gaps=True`` it is returned with the gaps listed and zeros (audio) or NaN and
``Phase.UNKNOWN`` (e-nose) in their place.

Unplug policy. If the port fails mid-capture the capture raises :class:`CaptureError`
(caused by :class:`DeviceDisconnected`); it does not resume, because a replugged
board has rebooted and lost the stream. The next capture reconnects with backoff.

Cancel policy. A capture given ``stop_requested`` checks it after every message (blocks arrive
many times a second); once it returns True the host sends STOP_CAPTURE, reads up to the board's
CAPTURE_END (so the board is idle again and no block of this capture is left queued for the next
one) and raises :class:`CaptureCancelled`.
"""

import csv
import io
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from firmware_interface.assembly import SampleAssembler
from firmware_interface.codes import DeviceKind, EndReason, ErrorCode, Phase
from firmware_interface.driver import Device
from firmware_interface.errors import (
    CaptureCancelled,
    CaptureError,
    CommandRejected,
    DeviceDisconnected,
    DeviceError,
    DeviceTimeout,
)
from firmware_interface.link import LinkStats
from firmware_interface.messages import (
    AudioChunk,
    CaptureEnd,
    EnoseSample,
    ErrorReport,
    GetStatus,
    Info,
    Message,
    Payload,
    StartCapture,
    StopCapture,
)
from firmware_interface.wav import pcm_to_wav_bytes

logger = logging.getLogger(__name__)

MAX_CAPTURE_SECONDS = 600.0
_FATAL_ERRORS = (ErrorCode.SENSOR_FAULT, ErrorCode.INTERNAL)


@dataclass(frozen=True)
class CaptureReport:
    """What happened on the way: counters a clinician-facing store keeps with the data."""

    capture_id: int
    device_start_us: "int | None"
    gaps: tuple
    duplicates_dropped: int
    reordered_blocks: int
    conflicting_blocks: int
    stale_frames: int
    device_errors: tuple
    link: LinkStats

    def to_dict(self) -> dict:
        """JSON-ready report."""
        return {
            "capture_id": self.capture_id,
            "device_start_us": self.device_start_us,
            "gaps": [{"start_sample": g.start_sample, "n_samples": g.n_samples} for g in self.gaps],
            "duplicates_dropped": self.duplicates_dropped,
            "reordered_blocks": self.reordered_blocks,
            "conflicting_blocks": self.conflicting_blocks,
            "stale_frames": self.stale_frames,
            "device_errors": list(self.device_errors),
            "link": self.link.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class AudioCapture:
    """A stethoscope recording: int16 mono PCM, its rate, the device and the report."""

    pcm: np.ndarray = field(repr=False)
    sample_rate_hz: int
    device: Info
    report: CaptureReport

    @property
    def complete(self) -> bool:
        """True when every requested sample arrived and nothing conflicted."""
        return not self.report.gaps and not self.report.conflicting_blocks

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return len(self.pcm) / self.sample_rate_hz

    def to_wav_bytes(self) -> bytes:
        """The recording as a 16-bit mono WAV file."""
        return pcm_to_wav_bytes(self.pcm, self.sample_rate_hz)

    def metadata(self) -> dict:
        """Device and capture metadata to store next to the WAV."""
        return {"device": self.device.to_dict(), "sample_rate_hz": self.sample_rate_hz,
                "n_samples": len(self.pcm), "complete": self.complete, **self.report.to_dict()}


@dataclass(frozen=True, eq=False)
class EnoseReading:
    """An e-nose reading: per-sample sensor resistances (kΩ), ambient values and phase."""

    values: np.ndarray = field(repr=False)
    temperature_c: np.ndarray = field(repr=False)
    humidity_pct: np.ndarray = field(repr=False)
    pressure_hpa: np.ndarray = field(repr=False)
    phase: np.ndarray = field(repr=False)
    sample_rate_hz: int
    device: Info
    report: CaptureReport

    @property
    def sensors(self) -> tuple:
        """Sensor names, one per column of :attr:`values`."""
        return self.device.sensors

    @property
    def complete(self) -> bool:
        """True when every requested sample arrived and nothing conflicted."""
        return not self.report.gaps and not self.report.conflicting_blocks

    def metadata(self) -> dict:
        """Device and capture metadata to store next to the table."""
        return {"device": self.device.to_dict(), "sample_rate_hz": self.sample_rate_hz,
                "n_samples": len(self.phase), "complete": self.complete, **self.report.to_dict()}

    def to_board_csv(self) -> str:
        """The board's own table, for inspecting a capture: one row per sample (time, phase name, ambient
        values, then each sensor's resistance by its name), samples lost in a gap in phase ``unknown``.

        Not a breath reading (``tabular_models`` reads ADC counts by sensor number, and no sample of
        unknown phase): the clinic edge converts a complete capture into one."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["time_s", "phase", "temperature_c", "humidity_pct", "pressure_hpa", *self.sensors])
        for i in range(len(self.phase)):
            writer.writerow([
                repr(i / self.sample_rate_hz), Phase(int(self.phase[i])).name.lower(),
                repr(float(self.temperature_c[i])), repr(float(self.humidity_pct[i])),
                repr(float(self.pressure_hpa[i])), *(repr(float(v)) for v in self.values[i]),
            ])
        return out.getvalue()


@dataclass
class _Stream:
    assembler: SampleAssembler
    total: int
    capture_id: int
    sample_rate_hz: int
    stale: int = 0
    device_start_us: "int | None" = None
    device_errors: list = field(default_factory=list)


def capture_audio(
    device: Device, *, seconds: float, sample_rate_hz: "int | None" = None,
    allow_gaps: bool = False, inactivity_timeout: float = 2.0,
    stop_requested: Optional[Callable[[], bool]] = None, on_progress: Optional[Callable[[int, int], None]] = None,
) -> AudioCapture:
    """Record ``seconds`` of auscultation from a stethoscope board.

    Parameters
    ----------
    device : Device
        A stethoscope; (re)connected with backoff if needed.
    seconds : float
        Requested duration (0 < seconds <= 600). A board with less audio (e.g. a
        simulator streaming a short file) ends early; the capture is then shorter.
    sample_rate_hz : int, optional
        One of the rates in the board's INFO; default the first.
    allow_gaps : bool
        Return a capture with reported gaps instead of raising.
    inactivity_timeout : float
        Seconds without a valid message before the capture fails.
    stop_requested : callable, optional
        Polled after each message; True stops the capture on the board (``CaptureCancelled``).
    on_progress : callable, optional
        Called with (samples received, samples requested) as blocks arrive.

    Returns
    -------
    AudioCapture

    Raises
    ------
    CaptureError
        Wrong device kind, refused start, disconnect, stall, device fault, or gaps.
    DeviceError
        If the board cannot be reached at all.
    """
    with device.lock:
        info = _ready(device)
        rate = _check_request(info, DeviceKind.STETHOSCOPE, seconds, sample_rate_hz)
        start = StartCapture(_new_capture_id(), rate, int(round(seconds * rate)))
        before = device.link_stats()

        def block_of(payload: Payload):
            if isinstance(payload, AudioChunk):
                return payload.capture_id, payload.first_sample, payload.samples
            return None

        stream = _collect(device, start, block_of, inactivity_timeout, stop_requested, on_progress)
        pcm, gaps = stream.assembler.assemble(stream.total, fill_value=0, dtype=np.int16)
        report = _report(stream, gaps, device.link_stats() - before)
    _check_gaps(report, allow_gaps, device.name)
    return AudioCapture(pcm, rate, info, report)


def capture_enose(
    device: Device, *, baseline_s: float = 10.0, exposure_s: float = 20.0, purge_s: float = 30.0,
    sample_rate_hz: "int | None" = None, allow_gaps: bool = False, inactivity_timeout: float = 3.0,
    stop_requested: Optional[Callable[[], bool]] = None, on_progress: Optional[Callable[[int, int], None]] = None,
) -> EnoseReading:
    """Record one e-nose breath measurement: baseline, then breath exposure, then purge.

    Parameters
    ----------
    device : Device
        An e-nose board.
    baseline_s, exposure_s, purge_s : float
        Duration of each phase; the board switches phases at these sample indices.
    sample_rate_hz : int, optional
        One of the rates in the board's INFO; default the first.
    allow_gaps : bool
        Return a reading with reported gaps instead of raising.
    inactivity_timeout : float
        Seconds without a valid message before the capture fails.
    stop_requested, on_progress : callable, optional
        As for :func:`capture_audio`.

    Returns
    -------
    EnoseReading

    Raises
    ------
    CaptureError
        As for :func:`capture_audio`, and on a sensor fault reported by the board.
    """
    if min(baseline_s, exposure_s, purge_s) < 0:
        raise CaptureError(f"phase durations must be >= 0, got {baseline_s}/{exposure_s}/{purge_s}")
    with device.lock:
        info = _ready(device)
        rate = _check_request(info, DeviceKind.ENOSE, baseline_s + exposure_s + purge_s, sample_rate_hz)
        exposure_start = int(round(baseline_s * rate))
        purge_start = exposure_start + int(round(exposure_s * rate))
        count = purge_start + int(round(purge_s * rate))
        start = StartCapture(_new_capture_id(), rate, count, exposure_start, purge_start)
        n_sensors = len(info.sensors)
        before = device.link_stats()

        def block_of(payload: Payload):
            if not isinstance(payload, EnoseSample):
                return None
            if len(payload.values) != n_sensors:
                # Wrong width cannot be placed; dropping it leaves a reported gap.
                logger.warning("e-nose sample with %s values, INFO lists %s sensors", len(payload.values), n_sensors)
                return payload.capture_id, None, None
            row = np.array([[payload.phase, payload.temperature_c, payload.humidity_pct,
                             payload.pressure_hpa, *payload.values]], dtype=np.float64)
            return payload.capture_id, payload.sample_index, row

        stream = _collect(device, start, block_of, inactivity_timeout, stop_requested, on_progress)
        table, gaps = stream.assembler.assemble(stream.total, fill_value=np.nan, dtype=np.float64, row_shape=(4 + n_sensors,))
        report = _report(stream, gaps, device.link_stats() - before)
    _check_gaps(report, allow_gaps, device.name)
    phase = np.nan_to_num(table[:, 0], nan=Phase.UNKNOWN).astype(np.uint8)
    return EnoseReading(
        values=table[:, 4:].astype(np.float32), temperature_c=table[:, 1].astype(np.float32),
        humidity_pct=table[:, 2].astype(np.float32), pressure_hpa=table[:, 3].astype(np.float32),
        phase=phase, sample_rate_hz=rate, device=info, report=report,
    )


def _ready(device: Device) -> Info:
    """Connect if needed, then probe: a port left open across an unplug fails only when used."""
    info = device.ensure_connected()
    try:
        device.request(GetStatus())
    except DeviceDisconnected:
        logger.info("%s was replugged since last use; reconnecting", device.name)
        info = device.connect()
    return info


def _new_capture_id() -> int:
    # Random, so a stream left over from an earlier session can never match.
    return secrets.randbelow(2**32 - 1) + 1


def _check_request(info: Info, kind: DeviceKind, seconds: float, sample_rate_hz: "int | None") -> int:
    if info.device_kind != kind:
        raise CaptureError(f"{info.device_id} is a {info.device_kind.name.lower()}, not a {kind.name.lower()}")
    if not 0 < seconds <= MAX_CAPTURE_SECONDS:
        raise CaptureError(f"capture length must be in (0, {MAX_CAPTURE_SECONDS:g}] s, got {seconds}")
    rate = sample_rate_hz or info.sample_rates_hz[0]
    if rate not in info.sample_rates_hz:
        raise CaptureError(f"{info.device_id} does not sample at {rate} Hz (supports {list(info.sample_rates_hz)})")
    return rate


def _collect(device: Device, start: StartCapture, block_of: Callable, inactivity_timeout: float,
             stop_requested: Optional[Callable[[], bool]] = None,
             on_progress: Optional[Callable[[int, int], None]] = None) -> _Stream:
    stream = _Stream(SampleAssembler(start.sample_count), start.sample_count, start.capture_id, start.sample_rate_hz)
    try:
        device.request(start)
    except CommandRejected as exc:
        raise CaptureError(f"{device.name}: {exc}") from exc
    except DeviceError as exc:
        raise CaptureError(f"{device.name}: could not start capture: {exc}") from exc
    logger.info("capture %s started on %s: %s samples at %s Hz", start.capture_id, device.name, start.sample_count, start.sample_rate_hz)
    deadline = time.monotonic() + start.sample_count / start.sample_rate_hz * 1.5 + 10.0
    try:
        while stream.assembler.received_samples < stream.total:
            if time.monotonic() > deadline:
                raise DeviceTimeout(f"{device.name}: capture still incomplete after its deadline")
            if _handle(device.receive(inactivity_timeout), stream, block_of):
                break
            if on_progress is not None:
                on_progress(stream.assembler.received_samples, stream.total)
            if stop_requested is not None and stop_requested():
                _cancel(device, start.capture_id)
                raise CaptureCancelled(f"{device.name}: capture {start.capture_id} cancelled at "
                                       f"{stream.assembler.received_samples} of {stream.total} samples")
    except DeviceDisconnected as exc:
        raise CaptureError(
            f"{device.name} disconnected during capture at {stream.assembler.received_samples} of {stream.total} samples"
        ) from exc
    except DeviceTimeout as exc:
        _stop_quietly(device, start.capture_id)
        raise CaptureError(
            f"{device.name}: stream stalled at {stream.assembler.received_samples} of {stream.total} samples ({exc})"
        ) from exc
    except CaptureCancelled:
        raise
    except CaptureError:
        _stop_quietly(device, start.capture_id)
        raise
    return stream


def _cancel(device: Device, capture_id: int, *, drain_s: float = 2.0) -> None:
    """STOP_CAPTURE, then read to the board's CAPTURE_END so the board is idle and no block of
    this capture waits in the queue of the next one."""
    _stop_quietly(device, capture_id)
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline:
        try:
            payload = device.receive(max(0.01, deadline - time.monotonic())).payload
        except DeviceError:
            return
        if isinstance(payload, CaptureEnd) and payload.capture_id == capture_id:
            logger.info("capture %s on %s stopped by the host", capture_id, device.name)
            return
    logger.warning("%s sent no CAPTURE_END within %.1f s of STOP_CAPTURE %s", device.name, drain_s, capture_id)


def _handle(message: Message, stream: _Stream, block_of: Callable) -> bool:
    """Account for one message; return True when the device ended the stream."""
    payload = message.payload
    block = block_of(payload)
    if block is not None:
        capture_id, first, samples = block
        if capture_id != stream.capture_id:
            stream.stale += 1
        elif first is not None:
            if stream.device_start_us is None:
                stream.device_start_us = message.device_time_us - round(first * 1e6 / stream.sample_rate_hz)
            stream.assembler.add(first, samples)
        return False
    if isinstance(payload, ErrorReport) and payload.capture_id in (0, stream.capture_id):
        stream.device_errors.append(f"{payload.code.name}: {payload.detail}")
        logger.warning("device error during capture %s: %s %s", stream.capture_id, payload.code.name, payload.detail)
        if payload.code in _FATAL_ERRORS:
            raise CaptureError(f"device reported {payload.code.name} during capture: {payload.detail}")
    if isinstance(payload, CaptureEnd) and payload.capture_id == stream.capture_id:
        if payload.reason != EndReason.COMPLETED:
            raise CaptureError(f"device ended capture early ({payload.reason.name}) at sample {payload.total_samples}")
        if payload.total_samples > stream.total:
            raise CaptureError(f"device claims {payload.total_samples} samples, {stream.total} were requested")
        stream.total = payload.total_samples
        return True
    return False


def _stop_quietly(device: Device, capture_id: int) -> None:
    try:
        device.request(StopCapture(capture_id))
    except DeviceError as exc:
        logger.info("could not stop capture %s on %s: %s", capture_id, device.name, exc)


def _report(stream: _Stream, gaps: tuple, link: LinkStats) -> CaptureReport:
    assembler = stream.assembler
    if gaps:
        logger.warning("capture %s has %s gap(s), %s samples missing", stream.capture_id, len(gaps), sum(g.n_samples for g in gaps))
    return CaptureReport(
        capture_id=stream.capture_id, device_start_us=stream.device_start_us, gaps=gaps,
        duplicates_dropped=assembler.duplicates, reordered_blocks=assembler.reordered,
        conflicting_blocks=assembler.conflicts, stale_frames=stream.stale,
        device_errors=tuple(stream.device_errors), link=link,
    )


def _check_gaps(report: CaptureReport, allow_gaps: bool, name: str) -> None:
    if allow_gaps or (not report.gaps and not report.conflicting_blocks):
        return
    missing = sum(g.n_samples for g in report.gaps)
    shown = ", ".join(f"{g.start_sample}+{g.n_samples}" for g in report.gaps[:3])
    raise CaptureError(
        f"{name}: capture incomplete: {len(report.gaps)} gap(s), {missing} samples missing ({shown}), "
        f"{report.conflicting_blocks} conflicting block(s), {report.link.bad_frames} bad frame(s)"
    )
