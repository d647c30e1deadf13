"""Byte transports under the protocol: the :class:`Transport` interface and pyserial.

The driver only needs a byte pipe, so every link is a small class with five members:
``open()``, ``close()``, ``is_open``, ``read(max_bytes, timeout)`` and ``write(data)``,
plus a ``name`` for messages. Failures surface as :class:`DeviceDisconnected`.

How a BLE transport plugs in (not shipped; it would need ``bleak``): a
``BleTransport(address)`` runs a ``BleakClient`` on an asyncio loop in a background
thread, subscribes to the board's notify characteristic (Nordic UART Service TX,
``6e400003-b5a3-f393-e0a9-e50e24dcca9e``) and appends each notification to a
``queue.Queue`` of bytes; ``read`` takes from that queue with the timeout, ``write``
calls ``write_gatt_char`` on the RX characteristic (``6e400002-...``) in slices of the
negotiated MTU, and a bleak disconnect callback makes the next ``read`` or ``write``
raise :class:`DeviceDisconnected`. COBS framing makes MTU-sized notifications
irrelevant: frames are found by their delimiters, not by packet boundaries.

USB-audio stethoscopes (class-compliant USB microphones) are not a transport: their
PCM comes through the OS audio stack without this protocol, so they would be a separate
audio source producing the same :class:`~firmware_interface.capture.AudioCapture`.
"""

import logging
from typing import Protocol, runtime_checkable

import serial

from firmware_interface.errors import DeviceDisconnected

logger = logging.getLogger(__name__)


@runtime_checkable
class Transport(Protocol):
    """A bidirectional byte pipe to one board."""

    name: str

    @property
    def is_open(self) -> bool:
        """Whether the pipe is usable now."""

    def open(self) -> None:
        """Open the pipe; raise DeviceDisconnected when the board is not there."""

    def close(self) -> None:
        """Close the pipe; closing a closed pipe does nothing."""

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Wait up to ``timeout`` s for data; return 1..max_bytes bytes, or b"" on timeout."""

    def write(self, data: bytes) -> None:
        """Send all of ``data``."""


class SerialTransport:
    """USB-serial (or pty) transport on pyserial.

    Parameters
    ----------
    port : str
        Device path, e.g. ``/dev/ttyACM0``, ``/dev/serial/by-id/...`` or a pty path.
    baudrate : int
        Line speed; ignored by USB CDC-ACM boards and ptys, which run at bus speed.
    write_timeout : float
        Seconds a write may block before the board counts as gone.
    """

    def __init__(self, port: str, *, baudrate: int = 921_600, write_timeout: float = 2.0) -> None:
        self.name = port
        self._baudrate = baudrate
        self._write_timeout = write_timeout
        self._serial: "serial.Serial | None" = None
        self._timeout: "float | None" = None

    @property
    def is_open(self) -> bool:
        return self._serial is not None and self._serial.is_open

    def open(self) -> None:
        if self.is_open:
            return
        try:
            # exclusive: a second process on the same board would steal half the frames.
            self._serial = serial.Serial(
                self.name, self._baudrate, timeout=0.1, write_timeout=self._write_timeout, exclusive=True
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            self._serial = None
            raise DeviceDisconnected(f"cannot open {self.name}: {exc}") from exc
        self._timeout = 0.1
        logger.info("opened serial port %s", self.name)

    def close(self) -> None:
        if self._serial is None:
            return
        try:
            self._serial.close()
        except (serial.SerialException, OSError) as exc:
            logger.debug("ignoring error while closing %s: %s", self.name, exc)
        self._serial = None
        logger.info("closed serial port %s", self.name)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        port = self._require_open()
        try:
            if timeout != self._timeout:
                port.timeout = timeout
                self._timeout = timeout
            first = port.read(1)
            if not first:
                return b""
            waiting = min(port.in_waiting, max_bytes - 1)
            return first + (port.read(waiting) if waiting > 0 else b"")
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceDisconnected(f"{self.name}: read failed: {exc}") from exc

    def write(self, data: bytes) -> None:
        port = self._require_open()
        try:
            port.write(data)
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceDisconnected(f"{self.name}: write failed: {exc}") from exc

    def _require_open(self) -> serial.Serial:
        if self._serial is None:
            raise DeviceDisconnected(f"{self.name}: port is not open")
        return self._serial
