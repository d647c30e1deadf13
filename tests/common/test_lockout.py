"""The one wrong-password policy of both servers: the threshold-th failure locks for the set
minutes and restarts the count; a lock holds until its end and not after."""
import datetime as dt

import pytest

from common.lockout import LockoutPolicy, is_locked, seconds_left

NOW = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.timezone.utc)


def test_the_threshold_th_failure_locks_and_restarts_the_count():
    policy = LockoutPolicy(threshold=3, minutes=10)
    assert policy.after_failure(0, NOW) == (1, None)
    assert policy.after_failure(1, NOW) == (2, None)
    assert policy.after_failure(2, NOW) == (0, "2026-12-05T08:10:00+00:00")


def test_a_lock_holds_until_its_end():
    until = "2026-12-05T08:10:00+00:00"
    assert is_locked(until, NOW) and seconds_left(until, NOW) == 600
    later = NOW + dt.timedelta(minutes=10)
    assert not is_locked(until, later) and seconds_left(until, later) == 0
    assert not is_locked(None, NOW)


@pytest.mark.parametrize(("threshold", "minutes"), [(0, 15), (5, 0)])
def test_a_policy_that_could_never_lock_or_unlock_is_refused(threshold, minutes):
    with pytest.raises(ValueError, match="need threshold >= 1 and minutes > 0"):
        LockoutPolicy(threshold, minutes)
