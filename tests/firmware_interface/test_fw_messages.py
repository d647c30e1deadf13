"""Protocol v1 messages: every payload round-trips; bad fields are named in the error."""

import struct

import pytest

from firmware_interface.codes import (
    DeviceKind,
    DeviceState,
    EndReason,
    ErrorCode,
    FaultFlag,
    NakReason,
    Phase,
)
from firmware_interface.errors import ProtocolError
from firmware_interface.messages import (
    HEADER,
    Ack,
    AudioChunk,
    CaptureEnd,
    EnoseSample,
    ErrorReport,
    GetStatus,
    Hello,
    Info,
    Message,
    Nak,
    SelfTest,
    SetPhase,
    StartCapture,
    Status,
    StopCapture,
    decode_body,
    encode_body,
)

PAYLOADS = [
    Hello(),
    Info(DeviceKind.ENOSE, "en-7", "2.1.0", "2026-03-01", (1, 10), ("TGS2600", "MQ-3")),
    StartCapture(7, 4000, 80000, 0, 0),
    StopCapture(7),
    SetPhase(Phase.EXPOSURE),
    SelfTest(),
    GetStatus(),
    Ack(41),
    Nak(41, NakReason.BUSY, "capturing"),
    AudioChunk(7, 256, b"\x00\x01\xff\x7f"),
    EnoseSample(7, 3, Phase.PURGE, 25.5, 80.25, 1013.0, (12.5, 0.75)),
    CaptureEnd(7, 80000, EndReason.COMPLETED),
    Status(88, DeviceState.CAPTURING, FaultFlag.BUFFER_OVERRUN, 2, 7),
    ErrorReport(ErrorCode.BUFFER_OVERRUN, 7, "ring buffer full"),
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.TYPE.name)
def test_every_payload_round_trips(payload):
    body = encode_body(payload, seq=2**32 - 1, device_time_us=123456789)
    assert decode_body(body) == Message(2**32 - 1, 123456789, payload)


def _body(type_code, payload, version=1, length=None):
    return HEADER.pack(version, type_code, len(payload) if length is None else length, 0, 0) + payload


@pytest.mark.parametrize(
    "body, named",
    [
        (b"\x01\x02", "header"),
        (_body(0x30, b"\x00" * 10, version=2), "header.version: 2"),
        (_body(0x7E, b""), "0x7e"),
        (_body(0x20, b"\x01\x00\x00\x00", length=9), "header.payload_len: 9"),
        (_body(0x20, b"\x01\x00"), "ACK.acked_seq"),
        (_body(0x20, b"\x01\x00\x00\x00\x00"), "trailing"),
        (_body(0x30, struct.pack("<II", 1, 0) + b"\x01"), "AUDIO_CHUNK.pcm"),
        (_body(0x12, b"\x09"), "SET_PHASE.phase: unknown value 9"),
        (_body(0x21, struct.pack("<IB", 1, 2) + b"\x02\xff\xfe"), "NAK.detail: invalid UTF-8"),
        (_body(0x31, struct.pack("<IIBfffB", 1, 0, 1, 20.0, 40.0, 1000.0, 3) + b"\x00" * 8), "ENOSE_SAMPLE.values"),
        (_body(0x40, struct.pack("<BBBII", 101, 0, 0, 0, 0)), "STATUS.battery_pct: 101"),
    ],
)
def test_decode_errors_name_the_field_and_value(body, named):
    with pytest.raises(ProtocolError, match=named):
        decode_body(body)


@pytest.mark.parametrize("date", ["15/01/2026", "20260115", "2026-02-30"])
def test_info_rejects_a_bad_calibration_date(date):
    with pytest.raises(ProtocolError, match=f"calibration_date.*'{date}'"):
        Info(DeviceKind.STETHOSCOPE, "s", "1", date, (4000,), ("mic",))


def test_strings_longer_than_255_bytes_are_refused_on_encode():
    with pytest.raises(ProtocolError, match="NAK.detail: 300 bytes"):
        encode_body(Nak(1, NakReason.BUSY, "x" * 300), seq=0, device_time_us=0)


def test_audio_chunk_exposes_little_endian_int16_samples():
    chunk = AudioChunk(1, 0, b"\x01\x00\x00\x80")
    assert chunk.samples.tolist() == [1, -32768]
