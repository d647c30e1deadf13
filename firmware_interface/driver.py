"""Host-side driver of one sensor board: handshake, commands, receive, reconnect.

:class:`Device` owns a :class:`~firmware_interface.transport.Transport` and a
:class:`~firmware_interface.link.LinkReceiver`. Commands are answered by ACK or NAK
matched on the command's sequence number; unanswered commands are re-sent with a new
sequence number (every command is idempotent on the board). Messages that arrive while
waiting for an answer are queued for :meth:`Device.receive`, never dropped. When the
port fails the transport is closed and :class:`DeviceDisconnected` propagates; the next
:meth:`Device.ensure_connected` reopens it with exponential backoff.
"""

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from firmware_interface.errors import CommandRejected, DeviceDisconnected, DeviceTimeout, ProtocolError
from firmware_interface.framing import encode_frame
from firmware_interface.link import LinkReceiver, LinkStats
from firmware_interface.messages import (
    PROTOCOL_VERSION,
    Ack,
    GetStatus,
    Hello,
    Info,
    Message,
    Nak,
    Payload,
    SelfTest,
    Status,
    encode_body,
)
from firmware_interface.transport import Transport

logger = logging.getLogger(__name__)

READ_BLOCK = 4096
# Queued messages nobody consumed (e.g. a stale stream while only status is polled).
MAX_PENDING = 8192


@dataclass(frozen=True)
class Backoff:
    """Exponential reconnect delays: ``initial_s``, ×``factor`` each try, capped at ``max_delay_s``."""

    initial_s: float = 0.05
    factor: float = 2.0
    max_delay_s: float = 2.0

    def delays(self) -> Iterator[float]:
        """Yield the delay before each retry, forever.

        Examples
        --------
        >>> import itertools
        >>> list(itertools.islice(Backoff(0.1, 2.0, 0.5).delays(), 5))
        [0.1, 0.2, 0.4, 0.5, 0.5]
        """
        delay = self.initial_s
        while True:
            yield min(delay, self.max_delay_s)
            delay *= self.factor


class Device:
    """One sensor board behind a transport.

    Parameters
    ----------
    transport : Transport
        The byte pipe, e.g. :class:`~firmware_interface.transport.SerialTransport`.
    reply_timeout : float
        Seconds to wait for an ACK/NAK or INFO before re-sending.
    retries : int
        Re-sends of an unanswered command before :class:`DeviceTimeout`.
    connect_timeout : float
        Seconds :meth:`connect` keeps retrying to open the port.
    backoff : Backoff
        Delays between open attempts.

    Notes
    -----
    :attr:`lock` serialises whole operations (a capture holds it for its duration);
    :attr:`info`, :attr:`last_status`, :attr:`connected` and :meth:`link_stats` are
    safe to read from other threads at any time.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        reply_timeout: float = 1.0,
        retries: int = 2,
        connect_timeout: float = 10.0,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.transport = transport
        self.reply_timeout = reply_timeout
        self.retries = retries
        self.connect_timeout = connect_timeout
        self.backoff = backoff
        self.lock = threading.RLock()
        self.info: "Info | None" = None
        self.last_status: "Status | None" = None
        self._link = LinkReceiver()
        self._pending: collections.deque = collections.deque()
        self.pending_dropped = 0  # messages nobody consumed before the queue overflowed
        self._seq = 0

    @property
    def name(self) -> str:
        """The transport's name (port path)."""
        return self.transport.name

    @property
    def connected(self) -> bool:
        """True after a successful handshake while the port stays open."""
        return self.info is not None and self.transport.is_open

    def link_stats(self) -> LinkStats:
        """Counters of the receive link since this object was created."""
        return self._link.stats

    def connect(self, *, sleep: Callable[[float], None] = time.sleep) -> Info:
        """Open the port (retrying with backoff) and run the HELLO/INFO handshake.

        Parameters
        ----------
        sleep : callable
            Used between open attempts.

        Returns
        -------
        Info
            What the board says about itself.

        Raises
        ------
        DeviceDisconnected
            If the port cannot be opened within ``connect_timeout``.
        DeviceTimeout
            If the board does not answer HELLO.
        ProtocolError
            If it answers with messages this host cannot read (e.g. another protocol version).
        """
        with self.lock:
            self.transport.close()
            self.info = None
            deadline = time.monotonic() + self.connect_timeout
            for attempt, delay in enumerate(self.backoff.delays(), start=1):
                try:
                    self.transport.open()
                    break
                except DeviceDisconnected as exc:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise DeviceDisconnected(
                            f"{self.name}: not reachable after {attempt} attempts in {self.connect_timeout:g} s: {exc}"
                        ) from exc
                    logger.info("open %s failed (attempt %s), retrying in %.2f s", self.name, attempt, delay)
                    sleep(min(delay, remaining))
            self._link.reset()
            self._pending.clear()
            self.info = self._handshake()
            logger.info("connected to %s %s on %s", self.info.device_kind.name, self.info.device_id, self.name)
            return self.info

    def ensure_connected(self) -> Info:
        """Return the current INFO, reconnecting first if the port was lost."""
        with self.lock:
            if self.connected:
                return self.info
            return self.connect()

    def close(self) -> None:
        """Close the port; the object can reconnect later."""
        with self.lock:
            self.transport.close()

    def send(self, payload: Payload) -> int:
        """Frame and write one message; return its sequence number."""
        seq = self._seq
        self._seq = (self._seq + 1) % 2**32
        self.transport.write(encode_frame(encode_body(payload, seq=seq, device_time_us=0)))
        return seq

    def receive(self, timeout: float) -> Message:
        """Return the next message from the board.

        Parameters
        ----------
        timeout : float
            Seconds to wait for a valid message (garbage does not extend it).

        Raises
        ------
        DeviceTimeout
            If none arrives in time.
        DeviceDisconnected
            If the port fails.
        """
        deadline = time.monotonic() + timeout
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"{self.name}: no message within {timeout:g} s")
            self._read_into_pending(remaining)
        return self._pending.popleft()

    def request(self, payload: Payload) -> Ack:
        """Send a command and wait for its ACK, re-sending on silence.

        Raises
        ------
        CommandRejected
            On NAK.
        DeviceTimeout
            If no answer after ``retries`` re-sends.
        """
        with self.lock:
            sent: set = set()
            for _ in range(self.retries + 1):
                sent.add(self.send(payload))
                answer = self._await(lambda p: isinstance(p, (Ack, Nak)) and p.acked_seq in sent)
                if isinstance(answer, Ack):
                    return answer
                if isinstance(answer, Nak):
                    raise CommandRejected(payload.TYPE.name, answer.reason.name, answer.detail)
                logger.info("%s: no answer to %s, re-sending", self.name, payload.TYPE.name)
            raise DeviceTimeout(f"{self.name}: no ACK/NAK to {payload.TYPE.name} after {self.retries + 1} tries")

    def status(self) -> Status:
        """Ask for a fresh STATUS (the board sends it before its ACK)."""
        with self.lock:
            self.ensure_connected()
            self.last_status = None  # so a lost STATUS is an error, not a stale answer
            self.request(GetStatus())
            if self.last_status is None:
                raise ProtocolError(f"{self.name}: ACK to GET_STATUS without a STATUS before it")
            return self.last_status

    def self_test(self) -> None:
        """Run the board's self-test; raise :class:`CommandRejected` naming the fault."""
        with self.lock:
            self.ensure_connected()
            self.request(SelfTest())

    def _handshake(self) -> Info:
        malformed_before = self._link.stats.malformed_messages
        for _ in range(self.retries + 1):
            self.send(Hello())
            answer = self._await(lambda p: isinstance(p, Info))
            if answer is not None:
                return answer
        self.transport.close()
        if self._link.stats.malformed_messages > malformed_before:
            raise ProtocolError(
                f"{self.name}: no valid INFO answer to HELLO; the board sent messages this host "
                f"(protocol version {PROTOCOL_VERSION}) cannot read: {self._link.last_malformed}"
            )
        raise DeviceTimeout(f"{self.name}: no INFO answer to HELLO (protocol version {PROTOCOL_VERSION})")

    def _await(self, wanted: Callable[[Payload], bool]) -> "Payload | None":
        """Read until a payload matches ``wanted``; queue everything else. None on timeout."""
        deadline = time.monotonic() + self.reply_timeout
        candidates = list(self._pending)
        while True:
            for message in candidates:
                if wanted(message.payload):
                    self._pending.remove(message)
                    return message.payload
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            candidates = self._read_into_pending(remaining)

    def _read_into_pending(self, timeout: float) -> list:
        data = self.transport.read(READ_BLOCK, timeout)
        if not data:
            return []
        messages = self._link.feed(data)
        for message in messages:
            if isinstance(message.payload, Status):
                self.last_status = message.payload
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                self.pending_dropped += 1
                logger.warning("%s: pending queue full, dropped the oldest unconsumed message", self.name)
            self._pending.append(message)
        return messages
