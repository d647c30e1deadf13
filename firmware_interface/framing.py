"""Byte framing of the sensor-board protocol: COBS with a CRC-16/CCITT-FALSE trailer.

A frame on the wire is ``0x00 | COBS(body | crc16_be(body)) | 0x00``. COBS removes every
zero byte from the encoded part, so ``0x00`` only ever marks frame boundaries and a
receiver resynchronises at the next delimiter after any garbage. The leading delimiter
means line noise before a frame can only spoil that noise, never the frame after it.

Everything here is pure: no I/O, no clocks.
"""

import binascii
import logging
from dataclasses import dataclass

from firmware_interface.errors import FrameError

logger = logging.getLogger(__name__)

DELIMITER = 0x00
CRC_BYTES = 2
# Largest decoded body (header + payload, without CRC) a receiver accepts. A full audio
# chunk (1,024 int16 samples) is 2,072 bytes. Staying under 4,093 bytes keeps
# CRC-16/CCITT at Hamming distance 4 (all 1-3 bit errors detected).
MAX_BODY_BYTES = 4000
# Worst-case COBS overhead is one byte per 254 plus one.
MAX_ENCODED_BYTES = MAX_BODY_BYTES + CRC_BYTES + (MAX_BODY_BYTES + CRC_BYTES) // 254 + 1


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection.

    Parameters
    ----------
    data : bytes
        Bytes to checksum.

    Returns
    -------
    int
        The 16-bit CRC.

    Examples
    --------
    >>> hex(crc16_ccitt_false(b"123456789"))
    '0x29b1'
    """
    # binascii.crc_hqx is exactly this CRC (XMODEM polynomial, caller-chosen init).
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """Encode bytes with Consistent Overhead Byte Stuffing (no zero byte in the output).

    Parameters
    ----------
    data : bytes
        Arbitrary bytes, zeros allowed.

    Returns
    -------
    bytes
        The encoded bytes, none of them zero.

    Examples
    --------
    >>> cobs_encode(b"\\x11\\x00\\x22")
    b'\\x02\\x11\\x02"'
    """
    out = bytearray()
    for piece in data.split(b"\x00"):
        while len(piece) >= 254:
            out.append(0xFF)
            out += piece[:254]
            piece = piece[254:]
        out.append(len(piece) + 1)
        out += piece
    return bytes(out)


def cobs_decode(encoded: bytes) -> bytes:
    """Decode COBS strictly.

    Parameters
    ----------
    encoded : bytes
        One frame's encoded bytes, without delimiters.

    Returns
    -------
    bytes
        The decoded bytes.

    Raises
    ------
    FrameError
        If the input is empty, contains a zero byte, or a block runs past the end.
    """
    if not encoded:
        raise FrameError("COBS: empty frame")
    out = bytearray()
    i = 0
    n = len(encoded)
    while i < n:
        code = encoded[i]
        if code == 0:
            raise FrameError(f"COBS: zero byte at offset {i}")
        end = i + code
        if end > n:
            raise FrameError(f"COBS: block at offset {i} claims {code - 1} bytes, {n - i - 1} remain")
        block = encoded[i + 1 : end]
        if 0 in block:
            raise FrameError(f"COBS: zero byte inside block at offset {i}")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(body: bytes) -> bytes:
    """Wrap a message body into one wire frame (CRC appended, COBS, delimiters).

    Parameters
    ----------
    body : bytes
        Header and payload of one message.

    Returns
    -------
    bytes
        ``0x00 | COBS(body | crc) | 0x00``.

    Raises
    ------
    FrameError
        If the body is longer than :data:`MAX_BODY_BYTES`.
    """
    if len(body) > MAX_BODY_BYTES:
        raise FrameError(f"frame body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    crc = crc16_ccitt_false(body).to_bytes(CRC_BYTES, "big")
    return b"\x00" + cobs_encode(body + crc) + b"\x00"


@dataclass
class FramingStats:
    """Counters of a :class:`FrameDecoder`; every bad frame lands in exactly one."""

    bytes_received: int = 0
    frames_ok: int = 0
    cobs_errors: int = 0
    crc_errors: int = 0
    short_frames: int = 0
    oversized_frames: int = 0

    @property
    def bad_frames(self) -> int:
        """Frames rejected for any framing reason."""
        return self.cobs_errors + self.crc_errors + self.short_frames + self.oversized_frames


class FrameDecoder:
    """Incremental frame decoder: feed it any bytes, it never raises.

    Bad frames (COBS violations, CRC mismatches, frames too short or too long) are
    counted in :attr:`stats` and dropped; decoding resumes at the next delimiter.

    Parameters
    ----------
    min_body_bytes : int
        Smallest acceptable body (the message header size); shorter frames are counted
        in ``short_frames``.
    """

    def __init__(self, *, min_body_bytes: int) -> None:
        self._min_body = min_body_bytes
        self._buffer = bytearray()
        self._skipping = False  # inside an oversized frame: drop until the next delimiter
        self.stats = FramingStats()

    def reset(self) -> None:
        """Forget partial input (after a reconnect); counters are kept."""
        self._buffer.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        """Consume received bytes and return the bodies of all complete, valid frames.

        Parameters
        ----------
        data : bytes
            Bytes as they came off the transport, any length, any content.

        Returns
        -------
        list of bytes
            Message bodies (CRC verified and stripped), in arrival order.
        """
        self.stats.bytes_received += len(data)
        self._buffer += data
        bodies = []
        while True:
            end = self._buffer.find(DELIMITER)
            if end < 0:
                if len(self._buffer) > MAX_ENCODED_BYTES:
                    self._count_oversized(len(self._buffer))
                    self._buffer.clear()
                    self._skipping = True
                break
            encoded = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._skipping:
                self._skipping = False
                continue
            if encoded:
                body = self._check(encoded)
                if body is not None:
                    bodies.append(body)
        return bodies

    def _count_oversized(self, length: int) -> None:
        self.stats.oversized_frames += 1
        logger.debug("dropping oversized frame of at least %s bytes", length)

    def _check(self, encoded: bytes) -> "bytes | None":
        if len(encoded) > MAX_ENCODED_BYTES:
            self._count_oversized(len(encoded))
            return None
        try:
            decoded = cobs_decode(encoded)
        except FrameError as exc:
            self.stats.cobs_errors += 1
            logger.debug("dropping frame: %s", exc)
            return None
        if len(decoded) < self._min_body + CRC_BYTES:
            self.stats.short_frames += 1
            logger.debug("dropping short frame of %s bytes", len(decoded))
            return None
        body, crc = decoded[:-CRC_BYTES], int.from_bytes(decoded[-CRC_BYTES:], "big")
        if crc16_ccitt_false(body) != crc:
            self.stats.crc_errors += 1
            logger.debug("dropping frame with bad CRC 0x%04x", crc)
            return None
        self.stats.frames_ok += 1
        return body
