"""Messages of protocol version 1: header, message types and one dataclass per payload.

All integers are little-endian. The header (16 bytes) is
``version u8 | type u8 | payload_len u16 | seq u32 | device_time_us u64``.
Strings are ``len u8 | UTF-8``; lists are ``count u8 | items``. Codes live in
:mod:`firmware_interface.codes`. See PROTOCOL.md.
"""

import datetime
import re
import struct
from dataclasses import dataclass, field
from typing import ClassVar, Union

import numpy as np

from firmware_interface.codes import (
    DeviceKind,
    DeviceState,
    EndReason,
    ErrorCode,
    FaultFlag,
    MessageType,
    NakReason,
    Phase,
)
from firmware_interface.errors import ProtocolError

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBHIQ")
MAX_CHUNK_SAMPLES = 1024
MAX_SENSORS = 32
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class _Reader:
    """Reads typed fields from a payload; errors name the message and field."""

    def __init__(self, payload: bytes, message: str) -> None:
        self._data = payload
        self._pos = 0
        self._message = message

    def _take(self, size: int, name: str) -> bytes:
        if self._pos + size > len(self._data):
            raise ProtocolError(
                f"{self._message}.{name}: needs {size} bytes at offset {self._pos}, "
                f"payload has {len(self._data)}"
            )
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def unpack(self, fmt: str, name: str) -> int:
        return struct.unpack(fmt, self._take(struct.calcsize(fmt), name))[0]

    def enum(self, enum_type: type, name: str) -> int:
        value = self.unpack("<B", name)
        try:
            return enum_type(value)
        except ValueError:
            raise ProtocolError(f"{self._message}.{name}: unknown value {value}") from None

    def string(self, name: str) -> str:
        raw = self._take(self.unpack("<B", name), name)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"{self._message}.{name}: invalid UTF-8 {raw!r}") from None

    def rest(self) -> bytes:
        chunk = self._data[self._pos :]
        self._pos = len(self._data)
        return chunk

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise ProtocolError(
                f"{self._message}: {len(self._data) - self._pos} unexpected trailing bytes"
            )


def _pack_string(value: str, name: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 255:
        raise ProtocolError(f"{name}: {len(raw)} bytes of UTF-8, at most 255 allowed")
    return bytes([len(raw)]) + raw


def _check_u32(value: int, name: str) -> None:
    if not 0 <= value < 2**32:
        raise ProtocolError(f"{name}: {value} does not fit in u32")


@dataclass(frozen=True)
class Hello:
    """Host → device: identify yourself (answered by INFO)."""

    TYPE: ClassVar[MessageType] = MessageType.HELLO

    def encode_payload(self) -> bytes:
        return b""

    @classmethod
    def decode_payload(cls, payload: bytes) -> "Hello":
        _Reader(payload, "HELLO").finish()
        return cls()


@dataclass(frozen=True)
class Info:
    """Device → host, the answer to HELLO: who the board is and what it measures."""

    TYPE: ClassVar[MessageType] = MessageType.INFO
    device_kind: DeviceKind
    device_id: str
    firmware_version: str
    calibration_date: str
    sample_rates_hz: tuple = ()
    sensors: tuple = ()

    def __post_init__(self) -> None:
        try:
            # fromisoformat alone accepts "20260115" on Python 3.11+; the protocol says YYYY-MM-DD.
            if not _ISO_DATE.fullmatch(self.calibration_date):
                raise ValueError(self.calibration_date)
            datetime.date.fromisoformat(self.calibration_date)
        except ValueError:
            raise ProtocolError(
                f"INFO.calibration_date: expected YYYY-MM-DD, got {self.calibration_date!r}"
            ) from None
        if not self.sample_rates_hz or not all(0 < r < 2**32 for r in self.sample_rates_hz):
            raise ProtocolError(f"INFO.sample_rates_hz: need positive rates, got {self.sample_rates_hz}")
        if not 0 < len(self.sensors) <= MAX_SENSORS:
            raise ProtocolError(f"INFO.sensors: need 1..{MAX_SENSORS} names, got {len(self.sensors)}")

    def encode_payload(self) -> bytes:
        out = bytes([self.device_kind])
        out += _pack_string(self.device_id, "INFO.device_id")
        out += _pack_string(self.firmware_version, "INFO.firmware_version")
        out += _pack_string(self.calibration_date, "INFO.calibration_date")
        out += bytes([len(self.sample_rates_hz)])
        out += b"".join(struct.pack("<I", r) for r in self.sample_rates_hz)
        out += bytes([len(self.sensors)])
        out += b"".join(_pack_string(s, "INFO.sensors") for s in self.sensors)
        return out

    @classmethod
    def decode_payload(cls, payload: bytes) -> "Info":
        r = _Reader(payload, "INFO")
        kind = r.enum(DeviceKind, "device_kind")
        device_id = r.string("device_id")
        firmware = r.string("firmware_version")
        calibration = r.string("calibration_date")
        rates = tuple(r.unpack("<I", "sample_rates_hz") for _ in range(r.unpack("<B", "sample_rates_hz")))
        sensors = tuple(r.string("sensors") for _ in range(r.unpack("<B", "sensors")))
        r.finish()
        return cls(kind, device_id, firmware, calibration, rates, sensors)

    def to_dict(self) -> dict:
        """JSON-ready view of the device metadata."""
        return {
            "device_kind": self.device_kind.name.lower(),
            "device_id": self.device_id,
            "firmware_version": self.firmware_version,
            "calibration_date": self.calibration_date,
            "sample_rates_hz": list(self.sample_rates_hz),
            "sensors": list(self.sensors),
        }


@dataclass(frozen=True)
class StartCapture:
    """Host → device: start streaming ``sample_count`` samples for ``capture_id``.

    ``exposure_start`` and ``purge_start`` are sample indices of the e-nose phase
    program (baseline before, exposure between, purge after); a stethoscope ignores them.
    """

    TYPE: ClassVar[MessageType] = MessageType.START_CAPTURE
    _FMT: ClassVar[struct.Struct] = struct.Struct("<IIIII")
    capture_id: int
    sample_rate_hz: int
    sample_count: int
    exposure_start: int = 0
    purge_start: int = 0

    def __post_init__(self) -> None:
        for name in ("capture_id", "sample_rate_hz", "sample_count", "exposure_start", "purge_start"):
            _check_u32(getattr(self, name), f"START_CAPTURE.{name}")

    def encode_payload(self) -> bytes:
        return self._FMT.pack(
            self.capture_id, self.sample_rate_hz, self.sample_count, self.exposure_start, self.purge_start
        )

    @classmethod
    def decode_payload(cls, payload: bytes) -> "StartCapture":
        if len(payload) != cls._FMT.size:
            raise ProtocolError(f"START_CAPTURE: payload of {len(payload)} bytes, expected {cls._FMT.size}")
        return cls(*cls._FMT.unpack(payload))


@dataclass(frozen=True)
class StopCapture:
    """Host → device: stop the stream of ``capture_id`` (answered by ACK or NAK)."""

    TYPE: ClassVar[MessageType] = MessageType.STOP_CAPTURE
    capture_id: int

    def encode_payload(self) -> bytes:
        return struct.pack("<I", self.capture_id)

    @classmethod
    def decode_payload(cls, payload: bytes) -> "StopCapture":
        r = _Reader(payload, "STOP_CAPTURE")
        capture_id = r.unpack("<I", "capture_id")
        r.finish()
        return cls(capture_id)


@dataclass(frozen=True)
class SetPhase:
    """Host → device: switch the e-nose phase now (manual override of the program)."""

    TYPE: ClassVar[MessageType] = MessageType.SET_PHASE
    phase: Phase

    def encode_payload(self) -> bytes:
        return bytes([self.phase])

    @classmethod
    def decode_payload(cls, payload: bytes) -> "SetPhase":
        r = _Reader(payload, "SET_PHASE")
        phase = r.enum(Phase, "phase")
        r.finish()
        return cls(phase)


@dataclass(frozen=True)
class SelfTest:
    """Host → device: run the built-in self-test; ACK means passed, NAK names the fault."""

    TYPE: ClassVar[MessageType] = MessageType.SELF_TEST

    def encode_payload(self) -> bytes:
        return b""

    @classmethod
    def decode_payload(cls, payload: bytes) -> "SelfTest":
        _Reader(payload, "SELF_TEST").finish()
        return cls()


@dataclass(frozen=True)
class GetStatus:
    """Host → device: send a STATUS now, then ACK."""

    TYPE: ClassVar[MessageType] = MessageType.GET_STATUS

    def encode_payload(self) -> bytes:
        return b""

    @classmethod
    def decode_payload(cls, payload: bytes) -> "GetStatus":
        _Reader(payload, "GET_STATUS").finish()
        return cls()


@dataclass(frozen=True)
class Ack:
    """Device → host: the command with header sequence ``acked_seq`` was accepted."""

    TYPE: ClassVar[MessageType] = MessageType.ACK
    acked_seq: int

    def encode_payload(self) -> bytes:
        return struct.pack("<I", self.acked_seq)

    @classmethod
    def decode_payload(cls, payload: bytes) -> "Ack":
        r = _Reader(payload, "ACK")
        acked = r.unpack("<I", "acked_seq")
        r.finish()
        return cls(acked)


@dataclass(frozen=True)
class Nak:
    """Device → host: the command with header sequence ``acked_seq`` was refused."""

    TYPE: ClassVar[MessageType] = MessageType.NAK
    acked_seq: int
    reason: NakReason
    detail: str = ""

    def encode_payload(self) -> bytes:
        return struct.pack("<IB", self.acked_seq, self.reason) + _pack_string(self.detail, "NAK.detail")

    @classmethod
    def decode_payload(cls, payload: bytes) -> "Nak":
        r = _Reader(payload, "NAK")
        acked = r.unpack("<I", "acked_seq")
        reason = r.enum(NakReason, "reason")
        detail = r.string("detail")
        r.finish()
        return cls(acked, reason, detail)


@dataclass(frozen=True)
class AudioChunk:
    """Device → host: int16 little-endian mono PCM starting at sample ``first_sample``."""

    TYPE: ClassVar[MessageType] = MessageType.AUDIO_CHUNK
    capture_id: int
    first_sample: int
    pcm: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.pcm or len(self.pcm) % 2 or len(self.pcm) > 2 * MAX_CHUNK_SAMPLES:
            raise ProtocolError(
                f"AUDIO_CHUNK.pcm: need 1..{MAX_CHUNK_SAMPLES} int16 samples, got {len(self.pcm)} bytes"
            )

    @property
    def samples(self) -> np.ndarray:
        """The PCM as an int16 array."""
        return np.frombuffer(self.pcm, dtype="<i2")

    def encode_payload(self) -> bytes:
        return struct.pack("<II", self.capture_id, self.first_sample) + self.pcm

    @classmethod
    def decode_payload(cls, payload: bytes) -> "AudioChunk":
        r = _Reader(payload, "AUDIO_CHUNK")
        capture_id = r.unpack("<I", "capture_id")
        first = r.unpack("<I", "first_sample")
        return cls(capture_id, first, r.rest())


@dataclass(frozen=True)
class EnoseSample:
    """Device → host: one e-nose sample (sensor resistances in kΩ plus ambient)."""

    TYPE: ClassVar[MessageType] = MessageType.ENOSE_SAMPLE
    _FMT: ClassVar[struct.Struct] = struct.Struct("<IIBfffB")
    capture_id: int
    sample_index: int
    phase: Phase
    temperature_c: float
    humidity_pct: float
    pressure_hpa: float
    values: tuple = ()

    def __post_init__(self) -> None:
        if not 0 < len(self.values) <= MAX_SENSORS:
            raise ProtocolError(f"ENOSE_SAMPLE.values: need 1..{MAX_SENSORS} sensors, got {len(self.values)}")

    def encode_payload(self) -> bytes:
        head = self._FMT.pack(
            self.capture_id, self.sample_index, self.phase, self.temperature_c,
            self.humidity_pct, self.pressure_hpa, len(self.values),
        )
        return head + struct.pack(f"<{len(self.values)}f", *self.values)

    @classmethod
    def decode_payload(cls, payload: bytes) -> "EnoseSample":
        if len(payload) < cls._FMT.size:
            raise ProtocolError(f"ENOSE_SAMPLE: payload of {len(payload)} bytes, header needs {cls._FMT.size}")
        capture_id, index, phase, temp, hum, press, count = cls._FMT.unpack_from(payload)
        try:
            phase = Phase(phase)
        except ValueError:
            raise ProtocolError(f"ENOSE_SAMPLE.phase: unknown value {phase}") from None
        if len(payload) != cls._FMT.size + 4 * count:
            raise ProtocolError(
                f"ENOSE_SAMPLE.values: count {count} needs {4 * count} bytes, got {len(payload) - cls._FMT.size}"
            )
        values = struct.unpack_from(f"<{count}f", payload, cls._FMT.size)
        return cls(capture_id, index, phase, temp, hum, press, values)


@dataclass(frozen=True)
class CaptureEnd:
    """Device → host: the stream of ``capture_id`` ended after ``total_samples``."""

    TYPE: ClassVar[MessageType] = MessageType.CAPTURE_END
    capture_id: int
    total_samples: int
    reason: EndReason

    def encode_payload(self) -> bytes:
        return struct.pack("<IIB", self.capture_id, self.total_samples, self.reason)

    @classmethod
    def decode_payload(cls, payload: bytes) -> "CaptureEnd":
        r = _Reader(payload, "CAPTURE_END")
        capture_id = r.unpack("<I", "capture_id")
        total = r.unpack("<I", "total_samples")
        reason = r.enum(EndReason, "reason")
        r.finish()
        return cls(capture_id, total, reason)


@dataclass(frozen=True)
class Status:
    """Device → host: battery, state and fault counters."""

    TYPE: ClassVar[MessageType] = MessageType.STATUS
    battery_pct: int
    state: DeviceState
    fault_flags: FaultFlag
    overrun_count: int
    capture_id: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.battery_pct <= 100:
            raise ProtocolError(f"STATUS.battery_pct: {self.battery_pct} outside 0..100")

    def encode_payload(self) -> bytes:
        return struct.pack("<BBBII", self.battery_pct, self.state, self.fault_flags, self.overrun_count, self.capture_id)

    @classmethod
    def decode_payload(cls, payload: bytes) -> "Status":
        r = _Reader(payload, "STATUS")
        battery = r.unpack("<B", "battery_pct")
        state = r.enum(DeviceState, "state")
        flags = FaultFlag(r.unpack("<B", "fault_flags") & 0x07)
        overruns = r.unpack("<I", "overrun_count")
        capture_id = r.unpack("<I", "capture_id")
        r.finish()
        return cls(battery, state, flags, overruns, capture_id)

    def to_dict(self) -> dict:
        """JSON-ready view of the status."""
        return {
            "battery_pct": self.battery_pct,
            "state": self.state.name.lower(),
            "faults": [f.name.lower() for f in FaultFlag if f in self.fault_flags],
            "overrun_count": self.overrun_count,
        }


@dataclass(frozen=True)
class ErrorReport:
    """Device → host: an asynchronous fault, tied to a capture when ``capture_id`` != 0."""

    TYPE: ClassVar[MessageType] = MessageType.ERROR
    code: ErrorCode
    capture_id: int = 0
    detail: str = ""

    def encode_payload(self) -> bytes:
        return struct.pack("<BI", self.code, self.capture_id) + _pack_string(self.detail, "ERROR.detail")

    @classmethod
    def decode_payload(cls, payload: bytes) -> "ErrorReport":
        r = _Reader(payload, "ERROR")
        code = r.enum(ErrorCode, "code")
        capture_id = r.unpack("<I", "capture_id")
        detail = r.string("detail")
        r.finish()
        return cls(code, capture_id, detail)


_PAYLOAD_CLASSES = (
    Hello, Info, StartCapture, StopCapture, SetPhase, SelfTest, GetStatus, Ack, Nak,
    AudioChunk, EnoseSample, CaptureEnd, Status, ErrorReport,
)
Payload = Union[_PAYLOAD_CLASSES]
PAYLOAD_TYPES: dict = {cls.TYPE: cls for cls in _PAYLOAD_CLASSES}


@dataclass(frozen=True)
class Message:
    """A decoded message: header fields plus its typed payload."""

    seq: int
    device_time_us: int
    payload: Payload


def encode_body(payload: Payload, *, seq: int, device_time_us: int) -> bytes:
    """Serialise header and payload of one message (the frame body, before CRC).

    Parameters
    ----------
    payload : Payload
        One of the payload dataclasses.
    seq : int
        Sender's sequence number (u32, wraps).
    device_time_us : int
        Sender's clock in microseconds (u64); hosts send 0.

    Returns
    -------
    bytes
        Header followed by payload.
    """
    data = payload.encode_payload()
    return HEADER.pack(PROTOCOL_VERSION, payload.TYPE, len(data), seq % 2**32, device_time_us) + data


def decode_body(body: bytes) -> Message:
    """Parse one frame body into a :class:`Message`.

    Parameters
    ----------
    body : bytes
        Header and payload, CRC already verified and removed.

    Returns
    -------
    Message

    Raises
    ------
    ProtocolError
        On a wrong version, unknown type, length mismatch or invalid payload field.
    """
    if len(body) < HEADER.size:
        raise ProtocolError(f"header: {len(body)} bytes, need {HEADER.size}")
    version, type_code, payload_len, seq, device_time_us = HEADER.unpack_from(body)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"header.version: {version}, this host speaks {PROTOCOL_VERSION}")
    try:
        payload_type = PAYLOAD_TYPES[MessageType(type_code)]
    except ValueError:
        raise ProtocolError(f"header.type: unknown message type 0x{type_code:02x}") from None
    payload = body[HEADER.size :]
    if len(payload) != payload_len:
        raise ProtocolError(f"header.payload_len: {payload_len}, frame carries {len(payload)}")
    return Message(seq, device_time_us, payload_type.decode_payload(payload))
