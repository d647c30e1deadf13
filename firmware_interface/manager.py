"""The edge's entry point: open boards by port and keep a registry for status pages.

``open_device(port)`` connects one board; :class:`DeviceManager` holds the boards a
clinic box is configured with and reports their state without blocking on a capture.
"""

import logging
import threading
from typing import Callable

from serial.tools import list_ports

from firmware_interface.driver import Device
from firmware_interface.errors import DeviceError
from firmware_interface.transport import SerialTransport, Transport

logger = logging.getLogger(__name__)


def open_device(port: str, **device_options) -> Device:
    """Open the board on ``port`` and run the handshake.

    Parameters
    ----------
    port : str
        Serial device path (or a simulator's port).
    **device_options
        Passed to :class:`~firmware_interface.driver.Device` (timeouts, backoff).

    Returns
    -------
    Device
        Connected; ``device.info`` holds the board's INFO.

    Raises
    ------
    DeviceError
        If the port cannot be opened or the board does not answer.
    """
    device = Device(SerialTransport(port), **device_options)
    device.connect()
    return device


def serial_ports() -> list:
    """Serial ports the OS currently lists (USB-serial boards show up here)."""
    return sorted(port.device for port in list_ports.comports())


class DeviceManager:
    """Registry of the clinic's boards, keyed by port.

    Parameters
    ----------
    transport_factory : callable
        Builds the transport for a port; :class:`SerialTransport` by default.
    **device_options
        Passed to every :class:`~firmware_interface.driver.Device`.
    """

    def __init__(self, transport_factory: Callable[[str], Transport] = SerialTransport, **device_options) -> None:
        self._transport_factory = transport_factory
        self._device_options = device_options
        self._devices: dict = {}
        self._lock = threading.Lock()

    def add(self, port: str) -> Device:
        """Register the board on ``port`` (connecting lazily) and return it."""
        with self._lock:
            if port not in self._devices:
                self._devices[port] = Device(self._transport_factory(port), **self._device_options)
            return self._devices[port]

    def get(self, port: str) -> Device:
        """The registered board on ``port``; connected (with backoff) before it is returned.

        Raises
        ------
        DeviceError
            If ``port`` is not registered or the board cannot be reached.
        """
        with self._lock:
            device = self._devices.get(port)
        if device is None:
            raise DeviceError(f"no device registered on port {port!r}")
        device.ensure_connected()
        return device

    def remove(self, port: str) -> None:
        """Close and forget the board on ``port``; unknown ports are ignored."""
        with self._lock:
            device = self._devices.pop(port, None)
        if device is not None:
            device.close()

    def statuses(self) -> list:
        """One JSON-ready dict per board, from cached state: never waits for a capture.

        Each has ``port``, ``connected``, ``busy`` (a capture or command holds it),
        ``info`` and ``status`` (None until known) and the link counters.
        """
        with self._lock:
            devices = list(self._devices.items())
        out = []
        for port, device in devices:
            busy = not device.lock.acquire(blocking=False)
            if not busy:
                device.lock.release()
            out.append({
                "port": port,
                "connected": device.connected,
                "busy": busy,
                "info": device.info.to_dict() if device.info else None,
                "status": device.last_status.to_dict() if device.last_status else None,
                "link": device.link_stats().to_dict(),
            })
        return out

    def close_all(self) -> None:
        """Close every board (service shutdown)."""
        with self._lock:
            devices = list(self._devices.values())
            self._devices.clear()
        for device in devices:
            try:
                device.close()
            except DeviceError as exc:
                logger.warning("closing %s failed: %s", device.name, exc)
