"""The clinic's wall clock: every date or time a nurse sees, and "today", in the clinic's zone.

The store keeps UTC (``edge.store.database.utc_now``); a clinic in Shanghai opens at 07:30
local time, which is 23:30 UTC of the previous day, so dates must never be cut from the
stored string.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional
from zoneinfo import ZoneInfo


def to_clinic(timestamp: str, zone: ZoneInfo) -> dt.datetime:
    """A stored ISO 8601 timestamp as the clinic's local time (naive stamps are UTC)."""
    moment = dt.datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(zone)


def clinic_today(zone: ZoneInfo, *, now: Optional[dt.datetime] = None) -> dt.date:
    """Today's date on the clinic's wall calendar."""
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(zone).date()


def day_bounds_utc(day: dt.date, zone: ZoneInfo) -> tuple[str, str]:
    """The UTC instants [start, end) of one clinic day, as stored timestamps compare."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    as_utc = lambda moment: moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")  # noqa: E731
    return as_utc(start), as_utc(end)


def local_date(timestamp: Optional[str], zone: ZoneInfo) -> str:
    return to_clinic(timestamp, zone).strftime("%Y-%m-%d") if timestamp else ""


def local_time(timestamp: Optional[str], zone: ZoneInfo) -> str:
    return to_clinic(timestamp, zone).strftime("%H:%M") if timestamp else ""


def local_datetime(timestamp: Optional[str], zone: ZoneInfo) -> str:
    return to_clinic(timestamp, zone).strftime("%Y-%m-%d %H:%M") if timestamp else ""
