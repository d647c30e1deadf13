"""Cancelling a capture on a real pty: STOP_CAPTURE on the wire, the board idle again, the next
capture unaffected; and capture jobs of the DeviceManager (one per board, orphans cancelled)."""

import pytest

from firmware_interface import (
    BoardBusy,
    CaptureCancelled,
    DeviceError,
    DeviceKind,
    DeviceManager,
    SimulatedDevice,
    capture_audio,
    capture_enose,
)
from firmware_interface.jobs import CANCELLED, COMPLETED, FAILED, CaptureJob

from fw_helpers import noise_pcm


def stethoscope(seconds: float = 6.0, speed: float = 2.0) -> SimulatedDevice:
    return SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=noise_pcm(int(4000 * seconds)), sample_rate_hz=4000,
                           speed=speed)


def after_samples(n: int):
    """A stop request that turns True once ``n`` samples arrived (progress drives it, not a clock)."""
    seen = {"received": 0}
    return (lambda: seen["received"] >= n), (lambda received, total: seen.update(received=received))


def test_a_stopped_capture_raises_cancelled_leaves_the_board_idle_and_the_next_capture_complete(start_sim, connect):
    sim = start_sim(stethoscope())
    device = connect(sim)
    stop, progress = after_samples(2000)
    with pytest.raises(CaptureCancelled, match="cancelled at"):
        capture_audio(device, seconds=5, stop_requested=stop, on_progress=progress)
    assert not sim.capturing  # the board got STOP_CAPTURE and ended the stream
    again = capture_audio(device, seconds=1)
    assert again.complete and len(again.pcm) == 4000 and again.report.stale_frames == 0


def test_an_enose_reading_can_be_cancelled_too(start_sim, connect):
    sim = start_sim(SimulatedDevice(DeviceKind.ENOSE, n_sensors=2, speed=4.0))
    device = connect(sim)
    stop, progress = after_samples(3)
    with pytest.raises(CaptureCancelled):
        capture_enose(device, baseline_s=5, exposure_s=5, purge_s=5, stop_requested=stop, on_progress=progress)
    assert not sim.capturing


def test_progress_is_reported_up_to_the_whole_capture(start_sim, connect):
    sim = start_sim(stethoscope(speed=None))
    seen = []
    capture_audio(connect(sim), seconds=2, on_progress=lambda received, total: seen.append((received, total)))
    assert seen[-1] == (8000, 8000) and all(b[0] >= a[0] for a, b in zip(seen, seen[1:]))


@pytest.fixture
def manager():
    board_manager = DeviceManager(reply_timeout=0.5)
    yield board_manager
    board_manager.close_all()


def capture_job(manager, port, seconds=5, after=None):
    def work(device, job):
        capture = capture_audio(device, seconds=seconds, stop_requested=job.should_stop,
                                on_progress=job.report_progress)
        if after:
            after()
        return len(capture.pcm)
    return manager.start_capture(port, "stethoscope", work)


def test_one_capture_job_per_board_and_cancel_stops_it_on_the_board(start_sim, manager):
    sim = start_sim(stethoscope())
    manager.add(sim.port)
    job = capture_job(manager, sim.port)
    with pytest.raises(BoardBusy, match="already running"):
        capture_job(manager, sim.port)
    while job.progress == 0:
        job.wait(0.05)
    assert job.cancel() is True
    assert job.state == CANCELLED and job.cancel_reason == "user" and job.result is None
    assert not sim.capturing
    assert job.cancel() is False  # already ended: nothing to cancel
    second = capture_job(manager, sim.port, seconds=1)
    assert second.wait(10) and second.state == COMPLETED and second.result == 4000
    assert manager.job(job.id) is job and manager.job("no-such-job") is None


def test_the_orphan_rule_cancels_only_after_the_unwatched_time():
    now = [100.0]
    job = CaptureJob("/dev/ttyX", "stethoscope", orphan_after_s=15.0, clock=lambda: now[0])
    now[0] += 14.0
    assert not job.should_stop()
    job.touch()
    now[0] += 14.0
    assert not job.should_stop()  # a poll restarts the count
    now[0] += 1.5
    assert job.should_stop() and job.cancel_reason == "orphaned"
    assert not CaptureJob("/dev/ttyX", "enose", clock=lambda: now[0] + 1e6).should_stop()  # no rule: never


def test_a_job_nobody_watches_is_cancelled_on_the_board_as_orphaned(start_sim, manager):
    sim = start_sim(stethoscope(speed=1.0))  # 5 s of capture against 0.5 s without a watcher
    manager.add(sim.port)
    job = manager.start_capture(sim.port, "stethoscope",
                                lambda device, job: capture_audio(device, seconds=5, stop_requested=job.should_stop),
                                orphan_after_s=0.5)
    assert job.wait(10)
    assert job.state == CANCELLED and job.cancel_reason == "orphaned" and not sim.capturing


def test_a_watched_job_is_not_orphaned(start_sim, manager):
    sim = start_sim(stethoscope(speed=4.0))
    manager.add(sim.port)
    job = manager.start_capture(sim.port, "stethoscope",
                                lambda device, job: len(capture_audio(device, seconds=5, stop_requested=job.should_stop,
                                                                      on_progress=lambda *_: job.touch()).pcm),
                                orphan_after_s=0.5)
    assert job.wait(10) and job.state == COMPLETED and job.result == 20000


def test_a_job_on_an_unregistered_port_is_refused_and_a_failing_one_keeps_its_error(start_sim, manager):
    with pytest.raises(DeviceError, match="no device registered"):
        capture_job(manager, "/dev/ttyNOPE")
    sim = start_sim(stethoscope())
    manager.add(sim.port)

    def broken():
        raise ValueError("storage failed")

    job = capture_job(manager, sim.port, seconds=1, after=broken)
    assert job.wait(10) and job.state == FAILED and isinstance(job.error, ValueError)
    assert job.to_dict()["state"] == "failed"
