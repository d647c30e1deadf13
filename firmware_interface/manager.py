"""The edge's entry point: open boards by port and keep a registry for status pages.

``open_device(port)`` connects one board; :class:`DeviceManager` holds the boards a
clinic box is configured with, reports their state without blocking on a capture, and runs
captures as cancellable background jobs (:mod:`firmware_interface.jobs`), one per board.
"""

import logging
import threading
import time
from typing import Any, Callable, Optional

from serial.tools import list_ports

from firmware_interface.driver import Device
from firmware_interface.errors import BoardBusy, DeviceError
from firmware_interface.jobs import CaptureJob
from firmware_interface.transport import SerialTransport, Transport

logger = logging.getLogger(__name__)
# How long a finished capture job stays readable (its state and result) after it ended.
KEEP_FINISHED_S = 600.0


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
        self._jobs: dict = {}
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

    def start_capture(self, port: str, kind: str, work: Callable[[Device, CaptureJob], Any], *,
                      orphan_after_s: Optional[float] = None) -> CaptureJob:
        """Run ``work(device, job)`` for the board on ``port`` on a background thread.

        ``work`` captures with ``stop_requested=job.should_stop`` and
        ``on_progress=job.report_progress`` and returns what it stored. Finished jobs are kept
        for :data:`KEEP_FINISHED_S` so a client can read how they ended.

        Raises
        ------
        DeviceError
            ``port`` is not registered (nothing is started).
        BoardBusy
            A capture job is already running on ``port``.
        """
        with self._lock:
            if port not in self._devices:
                raise DeviceError(f"no device registered on port {port!r}")
            self._forget_old_jobs()
            if any(job.port == port and not job.finished for job in self._jobs.values()):
                raise BoardBusy(f"a capture is already running on {port}; wait for it or cancel it")
            job = CaptureJob(port, kind, orphan_after_s=orphan_after_s)
            self._jobs[job.id] = job
        thread = threading.Thread(target=job.run, args=(lambda job_: work(self.get(port), job_),),
                                  name=f"capture-{port}", daemon=True)
        thread.start()
        return job

    def job(self, job_id: str) -> Optional[CaptureJob]:
        """The capture job with this id (running or recently finished), or None."""
        with self._lock:
            return self._jobs.get(job_id)

    def _forget_old_jobs(self) -> None:
        cutoff = time.monotonic() - KEEP_FINISHED_S
        for job_id in [j.id for j in self._jobs.values() if j.finished and j.ended_monotonic < cutoff]:
            del self._jobs[job_id]

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
        """Cancel running captures and close every board (service shutdown)."""
        with self._lock:
            devices = list(self._devices.values())
            self._devices.clear()
            jobs = [job for job in self._jobs.values() if not job.finished]
        for job in jobs:
            job.cancel(wait_s=5.0)
        for device in devices:
            try:
                device.close()
            except DeviceError as exc:
                logger.warning("closing %s failed: %s", device.name, exc)
