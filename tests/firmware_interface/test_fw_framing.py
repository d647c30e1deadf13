"""COBS, CRC-16 and the frame decoder: exact round trips and no crash on any input."""

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from firmware_interface.errors import FrameError
from firmware_interface.framing import (
    MAX_BODY_BYTES,
    FrameDecoder,
    cobs_decode,
    cobs_encode,
    crc16_ccitt_false,
    encode_frame,
)


def test_crc_matches_the_published_check_value():
    # CRC-16/CCITT-FALSE check value from the CRC catalogue.
    assert crc16_ccitt_false(b"123456789") == 0x29B1


@pytest.mark.parametrize(
    "raw, encoded",
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x01" * 254, b"\xff" + b"\x01" * 254 + b"\x01"),
    ],
)
def test_cobs_known_vectors(raw, encoded):
    assert cobs_encode(raw) == encoded
    assert cobs_decode(encoded) == raw


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1200))
def test_cobs_round_trips_without_zero_bytes(data):
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_cobs_decode_raises_only_frame_error(data):
    try:
        cobs_decode(data)
    except FrameError:
        pass


@pytest.mark.parametrize("bad, why", [(b"", "empty"), (b"\x05\x01", "claims"), (b"\x03\x00\x01", "zero")])
def test_cobs_decode_names_the_problem(bad, why):
    with pytest.raises(FrameError, match=why):
        cobs_decode(bad)


def test_decoder_resynchronises_after_garbage():
    body = bytes(range(16)) + b"payload"
    decoder = FrameDecoder(min_body_bytes=16)
    stream = b"\x13\x37garbage" + encode_frame(body) + b"\xff\x00\x02" + encode_frame(body)
    assert decoder.feed(stream) == [body, body]
    assert decoder.stats.frames_ok == 2
    assert decoder.stats.bad_frames == 3  # "\x13\x37garbage", "\xff" and "\x02"


def test_decoder_counts_short_and_oversized_frames():
    decoder = FrameDecoder(min_body_bytes=16)
    assert decoder.feed(encode_frame(b"tiny")) == []
    assert decoder.stats.short_frames == 1
    assert decoder.feed(b"\x01" * (MAX_BODY_BYTES * 2) + b"\x00") == []
    assert decoder.stats.oversized_frames == 1
    body = bytes(20)
    assert decoder.feed(encode_frame(body)) == [body]


def test_encode_frame_refuses_oversized_body():
    with pytest.raises(FrameError, match="exceeds"):
        encode_frame(bytes(MAX_BODY_BYTES + 1))


def test_every_single_bit_flip_of_a_frame_is_rejected():
    """Exhaustive: no single flipped bit anywhere between the delimiters passes."""
    body = bytes(range(16)) + bytes(40) + b"\x01\x02\x03"
    frame = encode_frame(body)
    for bit in range(8, (len(frame) - 1) * 8):
        damaged = bytearray(frame)
        damaged[bit // 8] ^= 1 << (bit % 8)
        decoder = FrameDecoder(min_body_bytes=16)
        assert decoder.feed(bytes(damaged) + b"\x00") == [], f"bit {bit} slipped through"
        assert decoder.stats.bad_frames >= 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=8))
def test_decoder_never_raises_and_accounts_for_input(data, cuts):
    decoder = FrameDecoder(min_body_bytes=16)
    pieces = [data[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)])]
    for piece in pieces:
        decoder.feed(piece)
    assert decoder.stats.bytes_received == len(data)
