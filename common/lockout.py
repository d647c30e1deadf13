"""Locking out repeated wrong passwords: the one policy both servers count failures with.

The clinic service locks a tablet account (``edge.auth``); the hospital server locks a programme
viewer's or a reader's sign-in name (``imaging_server.browser_sign_in``). Each keeps its own counter
in its own store; what a failure does to that counter, and when a lock ends, is decided here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class LockoutPolicy:
    """``threshold`` consecutive wrong passwords lock for ``minutes``; the count then starts again."""

    threshold: int
    minutes: float

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.minutes <= 0:
            raise ValueError(f"need threshold >= 1 and minutes > 0, got {self.threshold} and {self.minutes}")

    def after_failure(self, failures: int, now: Optional[dt.datetime] = None) -> tuple[int, Optional[str]]:
        """The counter to store after one more wrong password (``failures`` counted before it), and
        the ISO time the lock ends when this one reaches the threshold (else None).

        Examples
        --------
        >>> LockoutPolicy(3, 15).after_failure(0)
        (1, None)
        >>> LockoutPolicy(3, 15).after_failure(2, dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
        (0, '2026-01-01T00:15:00+00:00')
        """
        failures += 1
        if failures < self.threshold:
            return failures, None
        until = (now or utc_now()) + dt.timedelta(minutes=self.minutes)
        return 0, until.isoformat(timespec="seconds")


def is_locked(locked_until: Optional[str], now: Optional[dt.datetime] = None) -> bool:
    """Whether a lock that ends at ``locked_until`` (ISO time, or None for no lock) still holds."""
    return bool(locked_until) and dt.datetime.fromisoformat(locked_until) > (now or utc_now())


def seconds_left(locked_until: Optional[str], now: Optional[dt.datetime] = None) -> int:
    """Whole seconds until the lock ends (at least 1 while it holds; 0 when it does not)."""
    if not is_locked(locked_until, now):
        return 0
    left = (dt.datetime.fromisoformat(locked_until) - (now or utc_now())).total_seconds()
    return max(1, int(left + 0.999))
