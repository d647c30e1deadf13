"""Receive side of a link: bytes in, validated and de-duplicated messages out.

:class:`LinkReceiver` is pure (no I/O, no clock) so property-based tests can drive it
with arbitrary byte streams. It never raises: bad frames, malformed messages,
duplicates and sequence gaps are counted in :class:`LinkStats` and logged.
"""

import collections
import logging
from dataclasses import asdict, dataclass, fields

from firmware_interface.errors import ProtocolError
from firmware_interface.framing import FrameDecoder
from firmware_interface.messages import HEADER, decode_body

logger = logging.getLogger(__name__)

SEQ_MODULUS = 2**32
# How many recent sequence numbers are remembered to recognise duplicates and late frames.
SEQ_MEMORY = 1024


@dataclass
class LinkStats:
    """Counters of one link; ``bad_frames`` counts every frame rejected for any reason."""

    bytes_received: int = 0
    frames_ok: int = 0
    bad_frames: int = 0
    crc_errors: int = 0
    cobs_errors: int = 0
    short_frames: int = 0
    oversized_frames: int = 0
    malformed_messages: int = 0
    duplicate_frames: int = 0
    sequence_gaps: int = 0
    frames_missing: int = 0
    reordered_frames: int = 0

    def __sub__(self, other: "LinkStats") -> "LinkStats":
        return LinkStats(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})

    def to_dict(self) -> dict:
        """JSON-ready counters."""
        return asdict(self)


class SequenceTracker:
    """Classifies sequence numbers of one sender as new, duplicate or late.

    A jump forward is a gap: ``frames_missing`` grows by the number of skipped
    sequence numbers. A skipped number that shows up later is a reordered frame: it
    is delivered and ``frames_missing`` shrinks again. A number seen before is a
    duplicate and is dropped.
    """

    def __init__(self) -> None:
        self._highest: "int | None" = None
        self._seen: collections.deque = collections.deque(maxlen=SEQ_MEMORY)
        self._seen_set: set = set()
        self.duplicates = 0
        self.gaps = 0
        self.missing = 0
        self.reordered = 0

    def reset(self) -> None:
        """Start over (the device rebooted or was replugged); counters are kept."""
        self._highest = None
        self._seen.clear()
        self._seen_set.clear()

    def accept(self, seq: int) -> bool:
        """Record ``seq``; return False when it is a duplicate to drop."""
        if seq in self._seen_set:
            self.duplicates += 1
            return False
        if self._highest is not None:
            delta = (seq - self._highest + SEQ_MODULUS // 2) % SEQ_MODULUS - SEQ_MODULUS // 2
            if delta > 1:
                self.gaps += 1
                self.missing += delta - 1
                logger.warning("sequence gap: expected %s, got %s (%s frames missing)", self._highest + 1, seq, delta - 1)
            elif delta < 0:
                self.reordered += 1
                self.missing = max(self.missing - 1, 0)
        if self._highest is None or (seq - self._highest) % SEQ_MODULUS < SEQ_MODULUS // 2:
            self._highest = seq
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(seq)
        self._seen_set.add(seq)
        return True


class LinkReceiver:
    """Turns received bytes into messages; never raises on any input."""

    def __init__(self, *, session_start: tuple = ()) -> None:
        self._frames = FrameDecoder(min_body_bytes=HEADER.size)
        self._sequence = SequenceTracker()
        # Payload types that open a new session of the sender (a device's HELLO from a host that opened
        # the port again, numbering its commands from 0): its sequence history is forgotten first.
        self._session_start = session_start
        self._malformed = 0
        self.last_malformed = ""  # why the latest malformed message was dropped, for error messages

    def reset(self) -> None:
        """Forget partial frames and sequence history (new connection); keep counters."""
        self._frames.reset()
        self._sequence.reset()

    def feed(self, data: bytes) -> list:
        """Consume bytes, return the valid, non-duplicate messages in arrival order.

        Parameters
        ----------
        data : bytes
            Any bytes from the transport.

        Returns
        -------
        list of Message
        """
        messages = []
        for body in self._frames.feed(data):
            try:
                message = decode_body(body)
            except ProtocolError as exc:
                self._malformed += 1
                self.last_malformed = str(exc)
                logger.warning("dropping malformed message: %s", exc)
                continue
            if isinstance(message.payload, self._session_start):
                self._sequence.reset()
            if self._sequence.accept(message.seq):
                messages.append(message)
        return messages

    @property
    def stats(self) -> LinkStats:
        """A snapshot of all counters."""
        framing = self._frames.stats
        return LinkStats(
            bytes_received=framing.bytes_received,
            frames_ok=framing.frames_ok - self._malformed,
            bad_frames=framing.bad_frames + self._malformed,
            crc_errors=framing.crc_errors,
            cobs_errors=framing.cobs_errors,
            short_frames=framing.short_frames,
            oversized_frames=framing.oversized_frames,
            malformed_messages=self._malformed,
            duplicate_frames=self._sequence.duplicates,
            sequence_gaps=self._sequence.gaps,
            frames_missing=self._sequence.missing,
            reordered_frames=self._sequence.reordered,
        )
