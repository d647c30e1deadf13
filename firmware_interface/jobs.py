"""Captures as background jobs: a capture outlives the request that started it and can be cancelled.

:meth:`DeviceManager.start_capture <firmware_interface.manager.DeviceManager.start_capture>`
runs ``work(device, job)`` on its own thread, one job per board at a time. The work passes
:meth:`CaptureJob.should_stop` and :meth:`CaptureJob.report_progress` to
:func:`~firmware_interface.capture.capture_audio` / ``capture_enose``; cancelling sends
STOP_CAPTURE on the wire (see PROTOCOL.md) and the job ends ``cancelled``.

Orphan policy. A job started with ``orphan_after_s`` is cancelled the same way when nobody has
asked for it (:meth:`CaptureJob.touch`) for that long, so a closed page never leaves a board
busy capturing for nobody; what it captured is not kept.
"""

import datetime as dt
import logging
import secrets
import threading
import time
from typing import Any, Callable, Optional

from firmware_interface.errors import CaptureCancelled, DeviceError

logger = logging.getLogger(__name__)

RUNNING, COMPLETED, FAILED, CANCELLED = "running", "completed", "failed", "cancelled"


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class CaptureJob:
    """One capture on one board, run by ``work(device, job)`` on a thread.

    ``state`` is ``running``, then ``completed`` (``result`` holds what ``work`` returned),
    ``failed`` (``error`` holds the exception) or ``cancelled`` (``cancel_reason`` is ``user``
    or ``orphaned``). Safe to read from any thread.
    """

    def __init__(self, port: str, kind: str, *, orphan_after_s: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.id = secrets.token_urlsafe(12)  # random: a job URL names no patient and cannot be guessed
        self.port = port
        self.kind = kind
        self.state = RUNNING
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.cancel_reason: Optional[str] = None
        self.started_at = _utc_now()
        self.finished_at: Optional[str] = None
        self.progress = 0.0
        self.ended_monotonic = 0.0
        self._orphan_after_s = orphan_after_s
        self._clock = clock
        self._last_seen = clock()
        self._cancel = threading.Event()
        self._done = threading.Event()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def touch(self) -> None:
        """Someone is watching (a page or an API client asked for the job)."""
        self._last_seen = self._clock()

    def report_progress(self, received: int, total: int) -> None:
        self.progress = min(1.0, received / total) if total else 0.0

    def should_stop(self) -> bool:
        """True once cancelled, or once nobody has watched for ``orphan_after_s``."""
        if self._cancel.is_set():
            return True
        if self._orphan_after_s is not None and self._clock() - self._last_seen > self._orphan_after_s:
            self.cancel_reason = "orphaned"
            self._cancel.set()
            logger.warning("capture job on %s orphaned (no watcher for %.0f s): cancelling", self.port,
                           self._orphan_after_s)
            return True
        return False

    def cancel(self, *, wait_s: float = 10.0) -> bool:
        """Ask the capture to stop and wait up to ``wait_s`` for the job to end.

        Returns False when the job had already finished (then nothing changes); True otherwise,
        with ``state`` telling how it ended (``completed`` if it finished before seeing the request).
        """
        if self.finished:
            return False
        if not self._cancel.is_set():
            self.cancel_reason = "user"
            self._cancel.set()
        self._done.wait(wait_s)
        return True

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the job ends; False on timeout."""
        return self._done.wait(timeout)

    def run(self, work: Callable[["CaptureJob"], Any]) -> None:
        """The thread's body: run ``work`` and record how it ended (never raises)."""
        try:
            self.result = work(self)
            self.state = COMPLETED
            self.progress = 1.0  # also when the board ended early with a shorter capture
            self.cancel_reason = None  # finished before it saw a cancel
        except CaptureCancelled:
            self.state = CANCELLED
            self.cancel_reason = self.cancel_reason or "user"
        except DeviceError as exc:
            logger.warning("capture job on %s failed: %s", self.port, exc)
            self.error, self.state = exc, FAILED
        except Exception as exc:  # noqa: BLE001 - kept for the caller to turn into its own error
            # Not a board problem: a bug or a storage failure in the caller's step, kept with its stack.
            logger.warning("capture job on %s failed: %s", self.port, type(exc).__name__, exc_info=exc)
            self.error, self.state = exc, FAILED
        finally:
            self.finished_at = _utc_now()
            self.ended_monotonic = time.monotonic()
            self._done.set()

    def to_dict(self) -> dict:
        """The job's state, JSON-ready (its result and error are the caller's to render)."""
        return {"id": self.id, "port": self.port, "kind": self.kind, "state": self.state,
                "progress": round(self.progress, 3), "started_at": self.started_at,
                "finished_at": self.finished_at, "cancel_reason": self.cancel_reason}
