"""A sensor board simulated on a pseudo-terminal, speaking the real protocol bytes.

:class:`SimulatedDevice` opens a pty with :func:`os.openpty` and runs the board's
firmware loop in a thread on the master side; the host opens :attr:`SimulatedDevice.port`
with the ordinary serial transport. ``port`` is a symlink (like ``/dev/serial/by-id``)
that survives :meth:`SimulatedDevice.replug`, which creates a fresh pty just as a
replugged USB board gets a fresh tty.

A stethoscope streams given int16 PCM (e.g. a WAV file) as AUDIO_CHUNKs; an e-nose
synthesises MOX responses (see :mod:`firmware_interface.synthesis`) for the phase
program of each START_CAPTURE. A :class:`FaultPlan` injects line faults into stream
frames: drops, duplicates, reordering, bit flips, garbage and an unplug mid-stream.
Board behaviour: a START while capturing ends the old stream (CAPTURE_END STOPPED)
and starts the new one; a repeated START for the running capture is just ACKed.
"""

import logging
import os
import queue
import select
import shutil
import tempfile
import threading
import time
import tty
from dataclasses import dataclass

import numpy as np

from firmware_interface.codes import (
    DeviceKind,
    DeviceState,
    EndReason,
    ErrorCode,
    FaultFlag,
    NakReason,
    Phase,
)
from firmware_interface.framing import encode_frame
from firmware_interface.link import LinkReceiver
from firmware_interface.messages import (
    MAX_SENSORS,
    Ack,
    AudioChunk,
    CaptureEnd,
    EnoseSample,
    ErrorReport,
    GetStatus,
    Hello,
    Info,
    Nak,
    Payload,
    SelfTest,
    SetPhase,
    StartCapture,
    Status,
    StopCapture,
    encode_body,
)
from firmware_interface.synthesis import enose_response, phase_program
from firmware_interface.wav import read_wav_pcm

logger = logging.getLogger(__name__)

ENOSE_SENSOR_MODELS = ("TGS2600", "TGS2602", "TGS2610", "TGS2620", "MQ-135", "MQ-3", "SGP30", "BME688-gas")
# Keep at most this much unsent output queued; the pty applies real back-pressure.
TX_HIGH_WATER = 8192
CONTROL_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class FaultPlan:
    """Line faults injected into stream frames (AUDIO_CHUNK, ENOSE_SAMPLE); 0 disables.

    ``*_every = n`` hits the n-th, 2n-th, ... stream frame. ``unplug_after_frames = n``
    unplugs the board once n stream frames have been written. ``overrun_every = n``
    loses the block after every n-th frame inside the board (ERROR BUFFER_OVERRUN, the
    sample index skips, sequence numbers do not). ``answer_bit_flip_every = n`` damages
    every n-th INFO, ACK or NAK, so the host must re-send. ``sensor_fault`` makes
    the self-test fail and an e-nose capture end with ERROR SENSOR_FAULT.
    """

    drop_every: int = 0
    duplicate_every: int = 0
    reorder_every: int = 0
    bit_flip_every: int = 0
    garbage_every: int = 0
    unplug_after_frames: int = 0
    overrun_every: int = 0
    answer_bit_flip_every: int = 0
    sensor_fault: bool = False
    seed: int = 0


@dataclass
class _Capture:
    start: StartCapture
    total: int
    next_index: int
    started_monotonic: float
    started_us: int
    phases: "np.ndarray | None" = None
    enose: "dict | None" = None


class SimulatedDevice:
    """A stethoscope or e-nose board on a pty.

    Parameters
    ----------
    kind : DeviceKind
        Which board to simulate.
    pcm : np.ndarray, optional
        int16 audio a stethoscope streams; required for a stethoscope.
    sample_rate_hz : int
        Rate of ``pcm`` (stethoscope) or of e-nose samples.
    chunk_samples : int
        Audio samples per AUDIO_CHUNK.
    n_sensors : int
        MOX sensors of an e-nose.
    speed : float, optional
        1.0 streams in real time, 10.0 ten times faster; None streams as fast as the
        host reads.
    faults : FaultPlan
        Faults to inject.
    device_id : str, optional
        Identifier reported in INFO.
    seed : int
        Seed of synthesis and fault randomness.
    """

    def __init__(
        self,
        kind: DeviceKind,
        *,
        pcm: "np.ndarray | None" = None,
        sample_rate_hz: "int | None" = None,
        chunk_samples: int = 256,
        n_sensors: int = 8,
        speed: "float | None" = None,
        faults: FaultPlan = FaultPlan(),
        device_id: "str | None" = None,
        seed: int = 0,
    ) -> None:
        if kind == DeviceKind.STETHOSCOPE and (pcm is None or pcm.dtype != np.int16 or pcm.ndim != 1 or not len(pcm)):
            raise ValueError("a simulated stethoscope needs non-empty 1-D int16 pcm")
        if not 0 < chunk_samples <= 1024:
            raise ValueError(f"chunk_samples must be in 1..1024, got {chunk_samples}")
        if not 0 < n_sensors <= MAX_SENSORS:
            raise ValueError(f"n_sensors must be in 1..{MAX_SENSORS}, got {n_sensors}")
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be > 0 or None, got {speed}")
        self.kind = kind
        self._pcm = pcm
        rate = sample_rate_hz or (4000 if kind == DeviceKind.STETHOSCOPE else 10)
        self._chunk = chunk_samples
        self._speed = speed
        self._faults = faults
        self._seed = seed
        self._rng = np.random.default_rng(faults.seed)
        if kind == DeviceKind.STETHOSCOPE:
            sensors = ("chest-piece microphone",)
        else:
            sensors = tuple(f"{ENOSE_SENSOR_MODELS[i % len(ENOSE_SENSOR_MODELS)]}#{i // len(ENOSE_SENSOR_MODELS) + 1}" for i in range(n_sensors))
        self.info = Info(
            device_kind=kind,
            device_id=device_id or f"sim-{kind.name.lower()}-{seed:04d}",
            firmware_version="sim-1.0.0",
            calibration_date="2026-01-15",
            sample_rates_hz=(rate,),
            sensors=sensors,
        )
        self._dir: "str | None" = None
        self.port: "str | None" = None  # set by start(): stable across unplug/replug
        self._master: "int | None" = None
        self._slave: "int | None" = None
        self._pty_name: "str | None" = None  # read by other threads, so kept as a plain string
        self._control: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: "threading.Thread | None" = None
        self._power_on()

    @classmethod
    def from_wav(cls, path: str, **kwargs) -> "SimulatedDevice":
        """A stethoscope that streams the mono 16-bit WAV file at ``path`` at its own rate."""
        pcm, rate = read_wav_pcm(path)
        return cls(DeviceKind.STETHOSCOPE, pcm=pcm, sample_rate_hz=rate, **kwargs)

    # -- life cycle (called from the host side) -------------------------------------

    def start(self) -> "SimulatedDevice":
        """Plug the board in and start its firmware thread."""
        self._dir = tempfile.mkdtemp(prefix="ildscreen-sim-")
        self.port = os.path.join(self._dir, "tty")
        self._open_pty()
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.info.device_id}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the firmware thread, close the pty and remove the port symlink."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=CONTROL_TIMEOUT_S)
            self._thread = None
        self._close_pty()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "SimulatedDevice":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pty_path(self) -> "str | None":
        """The current pty slave path (changes on replug), None while unplugged."""
        return self._pty_name

    @property
    def capturing(self) -> bool:
        """True while a capture streams: what the board's STATUS reports as ``state`` capturing."""
        return self._capture is not None

    def unplug(self) -> None:
        """Close the pty as a pulled USB cable would; the host sees the port fail."""
        self._call(self._unplug)

    def replug(self) -> None:
        """Power the board up again on a fresh pty behind the same :attr:`port`."""
        self._call(self._replug)

    def _call(self, action) -> None:
        done = threading.Event()
        self._control.put((action, done))
        if not done.wait(CONTROL_TIMEOUT_S):
            raise TimeoutError(f"simulator thread did not run {action.__name__}")

    # -- pty and power ---------------------------------------------------------------

    def _power_on(self) -> None:
        self._rx = LinkReceiver(session_start=(Hello,))
        self._tx = bytearray()
        self._seq = 0
        self._boot = time.monotonic()
        self._capture: "_Capture | None" = None
        self._held: "bytes | None" = None  # frame held back to be sent out of order
        self._stream_frames = 0
        self._overrun_count = 0
        self._answers = 0
        self._last_capture_id = 0  # a re-sent STOP for it is ACKed again
        self._unplug_when_flushed = False

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # Raw mode before anyone reads: no echo, no CR/LF translation, no line buffering.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._pty_name = os.ttyname(slave)
        link = self.port + ".new"
        os.symlink(self._pty_name, link)
        os.replace(link, self.port)
        logger.info("simulated %s on %s (%s)", self.kind.name, self.port, self._pty_name)

    def _close_pty(self) -> None:
        self._pty_name = None
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if self.port is not None and os.path.lexists(self.port):
            os.unlink(self.port)

    def _unplug(self) -> None:
        self._close_pty()
        self._power_on()
        logger.info("simulated %s unplugged", self.kind.name)

    def _replug(self) -> None:
        if self._master is None:
            self._power_on()
            self._open_pty()

    # -- firmware loop ---------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._run_control()
            if self._master is None:
                self._stop.wait(0.01)
                continue
            self._fill_tx()
            try:
                readable, writable, _ = select.select(
                    [self._master], [self._master] if self._tx else [], [], self._wait_time()
                )
                if readable:
                    self._on_bytes(os.read(self._master, 4096))
                if writable and self._tx:
                    written = os.write(self._master, self._tx[:4096])
                    del self._tx[:written]
            except BlockingIOError:
                continue
            except OSError as exc:
                # EIO once the host side is gone for good; the board just idles.
                logger.debug("simulator pty error: %s", exc)
                self._stop.wait(0.01)
            if self._unplug_when_flushed and not self._tx:
                self._unplug()

    def _run_control(self) -> None:
        while True:
            try:
                action, done = self._control.get_nowait()
            except queue.Empty:
                return
            action()
            done.set()

    def _wait_time(self) -> float:
        if self._capture is None or self._tx or self._speed is None:
            return 0.02
        return min(max(self._due(self._capture) - time.monotonic(), 0.0), 0.02)

    def _due(self, capture: _Capture) -> float:
        rate = capture.start.sample_rate_hz
        return capture.started_monotonic + capture.next_index / rate / (self._speed or 1.0)

    def _send(self, payload: Payload, device_time_us: "int | None" = None) -> bytes:
        if device_time_us is None:
            device_time_us = int((time.monotonic() - self._boot) * 1e6)
        frame = encode_frame(encode_body(payload, seq=self._seq, device_time_us=device_time_us))
        self._seq = (self._seq + 1) % 2**32
        return frame

    def _reply(self, payload: Payload) -> None:
        frame = self._send(payload)
        every = self._faults.answer_bit_flip_every
        if every and isinstance(payload, (Ack, Nak, Info)):
            self._answers += 1
            if self._answers % every == 0:
                frame = self._flip_bit(frame)
        self._tx += frame

    def _flip_bit(self, frame: bytes) -> bytes:
        """Flip one bit between the frame's delimiters."""
        damaged = bytearray(frame)
        bit = int(self._rng.integers(8, (len(frame) - 1) * 8))
        damaged[bit // 8] ^= 1 << (bit % 8)
        return bytes(damaged)

    def _on_bytes(self, data: bytes) -> None:
        for message in self._rx.feed(data):
            self._on_command(message.seq, message.payload)

    def _on_command(self, seq: int, payload: Payload) -> None:
        if isinstance(payload, Hello):
            self._reply(self.info)
        elif isinstance(payload, GetStatus):
            self._reply(self._status())
            self._reply(Ack(seq))
        elif isinstance(payload, SelfTest):
            if self._faults.sensor_fault:
                self._reply(Nak(seq, NakReason.SELF_TEST_FAILED, "sensor 2 heater open circuit"))
            else:
                self._reply(Ack(seq))
        elif isinstance(payload, StartCapture):
            self._on_start(seq, payload)
        elif isinstance(payload, StopCapture):
            if self._capture is None and self._last_capture_id and payload.capture_id == self._last_capture_id:
                self._reply(Ack(seq))
            elif self._capture is None or self._capture.start.capture_id != payload.capture_id:
                self._reply(Nak(seq, NakReason.NOT_CAPTURING, f"capture {payload.capture_id} is not running"))
            else:
                self._reply(Ack(seq))
                self._end_capture(EndReason.STOPPED)
        elif isinstance(payload, SetPhase):
            self._on_set_phase(seq, payload.phase)
        else:
            self._reply(Nak(seq, NakReason.UNSUPPORTED, f"{payload.TYPE.name} is not a command"))

    def _status(self) -> Status:
        flags = FaultFlag.SENSOR_FAULT if self._faults.sensor_fault else FaultFlag(0)
        if self._overrun_count:
            flags |= FaultFlag.BUFFER_OVERRUN
        capture_id = self._capture.start.capture_id if self._capture else 0
        battery = max(5, 100 - int((time.monotonic() - self._boot) / 60))
        state = DeviceState.CAPTURING if self._capture else DeviceState.IDLE
        return Status(battery, state, flags, self._overrun_count, capture_id)

    def _on_start(self, seq: int, start: StartCapture) -> None:
        if self._capture is not None and self._capture.start.capture_id == start.capture_id:
            self._reply(Ack(seq))  # a re-sent START: already running
            return
        problem = self._check_start(start)
        if problem:
            self._reply(Nak(seq, NakReason.BAD_ARGUMENT, problem))
            return
        if self._capture is not None:
            self._end_capture(EndReason.STOPPED)
        self._reply(Ack(seq))
        total = start.sample_count
        if self.kind == DeviceKind.STETHOSCOPE:
            total = min(total, len(self._pcm))
        now = time.monotonic()
        self._capture = _Capture(start, total, 0, now, int((now - self._boot) * 1e6))
        if self.kind == DeviceKind.ENOSE:
            phases = phase_program(total, exposure_start=start.exposure_start, purge_start=start.purge_start)
            self._set_enose_program(phases)
        self._stream_frames = 0

    def _check_start(self, start: StartCapture) -> str:
        if start.sample_rate_hz not in self.info.sample_rates_hz:
            return f"sample rate {start.sample_rate_hz} Hz not in {list(self.info.sample_rates_hz)}"
        if start.sample_count == 0:
            return "sample_count must be > 0"
        if self.kind == DeviceKind.ENOSE and not start.exposure_start <= start.purge_start <= start.sample_count:
            return f"phase program {start.exposure_start}/{start.purge_start}/{start.sample_count} not ordered"
        return ""

    def _set_enose_program(self, phases: np.ndarray) -> None:
        # Same seed and length: samples before an override stay identical (the model is causal).
        self._capture.phases = phases
        self._capture.enose = enose_response(
            phases, sample_rate_hz=self._capture.start.sample_rate_hz, n_sensors=len(self.info.sensors), seed=self._seed
        )

    def _on_set_phase(self, seq: int, phase: Phase) -> None:
        if self.kind != DeviceKind.ENOSE:
            self._reply(Nak(seq, NakReason.UNSUPPORTED, "a stethoscope has no phases"))
        elif self._capture is None:
            self._reply(Nak(seq, NakReason.NOT_CAPTURING, "no capture running"))
        elif phase == Phase.UNKNOWN:
            self._reply(Nak(seq, NakReason.BAD_ARGUMENT, "phase UNKNOWN cannot be set"))
        else:
            phases = self._capture.phases.copy()
            index = self._capture.next_index
            following = np.flatnonzero(phases[index:] != phases[index])
            until = index + int(following[0]) if len(following) else len(phases)
            phases[index:until] = phase
            self._set_enose_program(phases)
            self._reply(Ack(seq))

    def _end_capture(self, reason: EndReason) -> None:
        capture = self._capture
        if self._held is not None:
            self._tx += self._held
            self._held = None
        self._reply(CaptureEnd(capture.start.capture_id, capture.next_index, reason))
        self._last_capture_id = capture.start.capture_id
        self._capture = None

    # -- streaming with faults -------------------------------------------------------

    def _fill_tx(self) -> None:
        capture = self._capture
        while capture is not None and len(self._tx) < TX_HIGH_WATER and not self._unplug_when_flushed:
            if self._speed is not None and self._due(capture) > time.monotonic():
                return
            if capture.next_index >= capture.total:
                self._end_capture(EndReason.COMPLETED)
                return
            if self._faults.sensor_fault and self.kind == DeviceKind.ENOSE and capture.next_index >= 5:
                self._reply(ErrorReport(ErrorCode.SENSOR_FAULT, capture.start.capture_id, "sensor 2 heater open circuit"))
                self._end_capture(EndReason.FAULT)
                return
            self._emit(self._next_stream_payload(capture), capture)
            every = self._faults.overrun_every
            if every and self._stream_frames % every == 0 and capture.next_index < capture.total:
                self._overrun(capture)

    def _overrun(self, capture: _Capture) -> None:
        # The board's ring buffer overflowed: the next block is lost before it is ever
        # framed, so sequence numbers stay continuous and only the sample index skips.
        lost = min(self._chunk if self.kind == DeviceKind.STETHOSCOPE else 1, capture.total - capture.next_index)
        first = capture.next_index
        capture.next_index += lost
        self._overrun_count += 1
        self._reply(ErrorReport(ErrorCode.BUFFER_OVERRUN, capture.start.capture_id, f"lost samples {first}..{first + lost - 1}"))

    def _next_stream_payload(self, capture: _Capture) -> Payload:
        index = capture.next_index
        capture_id = capture.start.capture_id
        if self.kind == DeviceKind.STETHOSCOPE:
            block = self._pcm[index : min(index + self._chunk, capture.total)]
            capture.next_index += len(block)
            return AudioChunk(capture_id, index, block.astype("<i2").tobytes())
        capture.next_index += 1
        enose = capture.enose
        return EnoseSample(
            capture_id, index, Phase(int(capture.phases[index])),
            float(enose["temperature_c"][index]), float(enose["humidity_pct"][index]),
            float(enose["pressure_hpa"][index]), tuple(float(v) for v in enose["values"][index]),
        )

    def _emit(self, payload: Payload, capture: _Capture) -> None:
        first = payload.first_sample if isinstance(payload, AudioChunk) else payload.sample_index
        device_time_us = capture.started_us + int(first * 1e6 / capture.start.sample_rate_hz)
        frame = self._send(payload, device_time_us)
        self._stream_frames += 1
        k = self._stream_frames
        faults = self._faults

        def hit(every: int) -> bool:
            return every > 0 and k % every == 0

        if faults.unplug_after_frames and k >= faults.unplug_after_frames:
            self._unplug_when_flushed = True
        if hit(faults.drop_every):
            return
        if hit(faults.bit_flip_every):
            frame = self._flip_bit(frame)
        if hit(faults.garbage_every):
            self._tx += self._rng.integers(0, 256, int(self._rng.integers(1, 40)), dtype=np.uint8).tobytes()
        if hit(faults.reorder_every) and self._held is None:
            self._held = frame
            return
        self._tx += frame
        if self._held is not None:
            self._tx += self._held
            self._held = None
        if hit(faults.duplicate_every):
            self._tx += frame
