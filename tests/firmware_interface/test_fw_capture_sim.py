"""End to end through a real pty: simulator firmware ↔ pyserial ↔ driver ↔ capture."""

import os
import select
import threading
import time
import tty
import wave

import numpy as np
import pytest

from firmware_interface.capture import capture_audio, capture_enose
from firmware_interface.codes import DeviceKind, FaultFlag, Phase
from firmware_interface.driver import Device
from firmware_interface.errors import CaptureError, CommandRejected, DeviceDisconnected, DeviceTimeout, ProtocolError
from firmware_interface.framing import encode_frame
from firmware_interface.messages import EnoseSample, SetPhase, StartCapture, StopCapture, encode_body
from firmware_interface.simulator import FaultPlan, SimulatedDevice
from firmware_interface.transport import SerialTransport
from firmware_interface.wav import pcm_to_wav_bytes, read_wav_pcm

from fw_helpers import noise_pcm
from support import SHARED_DATA, shared_data_or_skip

ICBHI = SHARED_DATA / "icbhi_sample"


def stethoscope(pcm, **kwargs):
    return SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=pcm, sample_rate_hz=kwargs.pop("rate", 4000), **kwargs)


@pytest.mark.parametrize("rate", [4000, 8000])
def test_twenty_second_wav_is_captured_bit_exact(tmp_path, start_sim, connect, rate):
    source = noise_pcm(20 * rate, seed=rate)
    path = tmp_path / "source.wav"
    path.write_bytes(pcm_to_wav_bytes(source, rate))
    sim = start_sim(SimulatedDevice.from_wav(str(path)))
    capture = capture_audio(connect(sim), seconds=20)
    assert capture.complete and capture.sample_rate_hz == rate
    assert capture.pcm.tobytes() == source.tobytes()
    assert capture.to_wav_bytes() == path.read_bytes()
    assert capture.report.link.bad_frames == 0 and capture.report.link.frames_missing == 0
    assert capture.metadata()["device"]["device_id"] == sim.info.device_id


def test_real_icbhi_recording_streams_bit_exact(start_sim, connect):
    path = str(shared_data_or_skip(ICBHI / "104_1b1_Ar_sc_Litt3200.wav", "the real ICBHI sample 104_1b1_Ar_sc_Litt3200.wav"))
    source, rate = read_wav_pcm(path)
    sim = start_sim(SimulatedDevice.from_wav(path))
    capture = capture_audio(connect(sim), seconds=20)
    assert rate == 4000 and capture.pcm.tobytes() == source[: 20 * rate].tobytes()


def test_short_source_ends_early_with_its_own_length(start_sim, connect):
    source = noise_pcm(4000)
    capture = capture_audio(connect(start_sim(stethoscope(source))), seconds=5)
    assert capture.complete and capture.pcm.tobytes() == source.tobytes()


def test_dropped_frames_fail_the_capture_naming_the_gaps(start_sim, connect):
    sim = start_sim(stethoscope(noise_pcm(8000), faults=FaultPlan(drop_every=7)))
    with pytest.raises(CaptureError, match=r"4 gap\(s\), 1024 samples missing \(1536\+256"):
        capture_audio(connect(sim), seconds=2)


def test_gaps_allowed_are_reported_and_everything_else_is_exact(start_sim, connect):
    source = noise_pcm(8000)
    sim = start_sim(stethoscope(source, faults=FaultPlan(drop_every=7, bit_flip_every=11, garbage_every=5, seed=3)))
    capture = capture_audio(connect(sim), seconds=2, allow_gaps=True)
    assert not capture.complete
    valid = np.ones(len(source), dtype=bool)
    for gap in capture.report.gaps:
        valid[gap.start_sample : gap.start_sample + gap.n_samples] = False
    assert np.array_equal(capture.pcm[valid], source[valid])
    assert not capture.pcm[~valid].any()
    link = capture.report.link
    assert link.bad_frames >= 6 + 2  # 6 garbage bursts, 2 flipped frames (31 frames)
    assert link.frames_missing >= 1


def test_buffer_overrun_on_the_board_is_a_gap_even_with_a_clean_link(start_sim, connect):
    source = noise_pcm(8000)
    device = connect(start_sim(stethoscope(source, faults=FaultPlan(overrun_every=10))))
    capture = capture_audio(device, seconds=2, allow_gaps=True)
    report = capture.report
    assert [(g.start_sample, g.n_samples) for g in report.gaps] == [(2560, 256), (5376, 256)]
    assert report.link.frames_missing == 0 and report.link.bad_frames == 0
    assert report.device_errors == ("BUFFER_OVERRUN: lost samples 2560..2815", "BUFFER_OVERRUN: lost samples 5376..5631")
    status = device.status()
    assert FaultFlag.BUFFER_OVERRUN in status.fault_flags and status.overrun_count == 2


def test_duplicated_and_reordered_frames_are_repaired_and_counted(start_sim, connect):
    source = noise_pcm(12000)
    sim = start_sim(stethoscope(source, faults=FaultPlan(duplicate_every=4, reorder_every=5)))
    capture = capture_audio(connect(sim), seconds=3)
    assert capture.complete and capture.pcm.tobytes() == source.tobytes()
    # 47 frames: every 5th is held back one frame (9), every 4th that is not held is sent twice (9).
    assert capture.report.link.duplicate_frames == 9
    assert capture.report.reordered_blocks == 9 and capture.report.link.frames_missing == 0


def test_commands_survive_damaged_answers_by_resending(start_sim, connect):
    source = noise_pcm(4000)
    sim = start_sim(stethoscope(source, faults=FaultPlan(answer_bit_flip_every=2, seed=1)))
    device = connect(sim, reply_timeout=0.2)
    device.connect()
    for _ in range(3):
        assert device.status().battery_pct > 0
    with pytest.raises(CommandRejected, match="NOT_CAPTURING"):
        device.request(StopCapture(99))
    capture = capture_audio(device, seconds=1)
    assert capture.complete and capture.pcm.tobytes() == source.tobytes()
    # Every second INFO/ACK/NAK was damaged, counted and answered again after a re-send.
    assert device.link_stats().bad_frames >= 3


def test_unplug_mid_capture_fails_cleanly_and_the_next_capture_works(start_sim, connect):
    source = noise_pcm(40000)
    sim = start_sim(stethoscope(source, faults=FaultPlan(unplug_after_frames=40)))
    device = connect(sim)
    with pytest.raises(CaptureError, match="disconnected during capture") as failure:
        capture_audio(device, seconds=10)
    assert isinstance(failure.value.__cause__, DeviceDisconnected)
    assert not device.connected
    sim.replug()
    assert sim.pty_path is not None
    # The rebooted board would unplug again after 40 frames; this capture needs 32.
    capture = capture_audio(device, seconds=2)
    assert capture.complete and capture.pcm.tobytes() == source[:8000].tobytes()


def test_capture_after_an_unplug_between_visits_reconnects_by_itself(start_sim, connect):
    source = noise_pcm(4000)
    sim = start_sim(stethoscope(source))
    device = connect(sim)
    assert capture_audio(device, seconds=1).complete
    sim.unplug()
    sim.replug()
    capture = capture_audio(device, seconds=1)
    assert capture.complete and capture.pcm.tobytes() == source.tobytes()


def test_reconnect_waits_with_backoff_until_the_board_is_back(start_sim, connect):
    sim = start_sim(stethoscope(noise_pcm(4000)))
    device = connect(sim)
    device.connect()
    sim.unplug()
    timer = threading.Timer(0.3, sim.replug)
    timer.start()
    try:
        info = device.connect()
    finally:
        timer.join()
    assert info.device_id == sim.info.device_id and device.connected


def test_board_that_never_comes_back_is_reported_disconnected(start_sim, connect):
    sim = start_sim(stethoscope(noise_pcm(4000)))
    device = connect(sim, connect_timeout=0.3)
    sim.unplug()
    with pytest.raises(DeviceDisconnected, match="not reachable after"):
        device.connect()


def test_silent_port_times_out_on_hello():
    master, slave = os.openpty()
    try:
        device = Device(SerialTransport(os.ttyname(slave)), reply_timeout=0.1, retries=1)
        with pytest.raises(DeviceTimeout, match="no INFO answer to HELLO"):
            device.connect()
        assert not device.transport.is_open
    finally:
        os.close(master)
        os.close(slave)


def test_board_speaking_another_protocol_version_is_named():
    """A pty 'board' that answers anything with a version-2 frame."""
    master, slave = os.openpty()
    tty.setraw(slave)
    body = bytearray(encode_body(SimulatedDevice(DeviceKind.ENOSE).info, seq=0, device_time_us=0))
    body[0] = 2
    stop = threading.Event()

    def answer():
        while not stop.is_set():
            if select.select([master], [], [], 0.05)[0]:
                os.read(master, 1024)
                os.write(master, encode_frame(bytes(body)))

    board = threading.Thread(target=answer)
    board.start()
    try:
        device = Device(SerialTransport(os.ttyname(slave)), reply_timeout=0.2, retries=1)
        with pytest.raises(ProtocolError, match="header.version: 2, this host speaks 1"):
            device.connect()
    finally:
        stop.set()
        board.join()
        os.close(master)
        os.close(slave)


def test_stale_stream_of_a_previous_capture_is_never_mixed_in(start_sim, connect):
    source = noise_pcm(8000)
    device = connect(start_sim(stethoscope(source, speed=20.0)))
    device.connect()
    device.request(StartCapture(capture_id=12345, sample_rate_hz=4000, sample_count=8000))
    time.sleep(0.2)  # frames of the abandoned capture queue up in the pty
    capture = capture_audio(device, seconds=2)
    assert capture.complete and capture.pcm.tobytes() == source.tobytes()
    assert capture.report.stale_frames >= 1


def test_wrong_kind_and_unsupported_rate_are_refused(start_sim, connect):
    device = connect(start_sim(stethoscope(noise_pcm(4000))))
    with pytest.raises(CaptureError, match="is a stethoscope, not a enose"):
        capture_enose(device)
    with pytest.raises(CaptureError, match="does not sample at 8000 Hz"):
        capture_audio(device, seconds=1, sample_rate_hz=8000)
    with pytest.raises(CaptureError, match=r"capture length must be in \(0, 600\] s, got 0"):
        capture_audio(device, seconds=0)


def test_status_and_self_test(start_sim, connect):
    device = connect(start_sim(SimulatedDevice(DeviceKind.ENOSE, faults=FaultPlan(sensor_fault=True))))
    status = device.status()
    assert FaultFlag.SENSOR_FAULT in status.fault_flags and status.to_dict()["faults"] == ["sensor_fault"]
    with pytest.raises(CommandRejected, match="SELF_TEST_FAILED"):
        device.self_test()
    with pytest.raises(CaptureError, match="SENSOR_FAULT during capture"):
        capture_enose(device, baseline_s=1, exposure_s=1, purge_s=1)


def test_set_phase_is_refused_when_idle(start_sim, connect):
    device = connect(start_sim(SimulatedDevice(DeviceKind.ENOSE)))
    device.connect()
    with pytest.raises(CommandRejected, match="NOT_CAPTURING"):
        device.request(SetPhase(Phase.EXPOSURE))


def test_enose_reading_follows_baseline_exposure_purge(start_sim, connect):
    device = connect(start_sim(SimulatedDevice(DeviceKind.ENOSE, n_sensors=4, seed=2)))
    reading = capture_enose(device, baseline_s=10, exposure_s=20, purge_s=30)
    assert reading.complete and reading.values.shape == (600, 4)
    assert reading.phase[:100].tolist() == [Phase.BASELINE] * 100
    assert set(reading.phase[100:300]) == {Phase.EXPOSURE} and set(reading.phase[300:]) == {Phase.PURGE}
    baseline = reading.values[90:100].mean(axis=0)
    exposed = reading.values[290:300].mean(axis=0)
    recovered = reading.values[-10:].mean(axis=0)
    # MOX resistance falls under reducing VOCs and recovers during purge.
    assert (exposed < 0.9 * baseline).all() and (recovered > exposed).all()
    assert reading.humidity_pct[290:300].mean() > reading.humidity_pct[:100].mean() + 20
    header = reading.to_board_csv().splitlines()[0].split(",")
    assert header[:5] == ["time_s", "phase", "temperature_c", "humidity_pct", "pressure_hpa"] and len(header) == 9


def test_enose_gap_is_nan_and_unknown_phase(start_sim, connect):
    device = connect(start_sim(SimulatedDevice(DeviceKind.ENOSE, faults=FaultPlan(drop_every=50))))
    reading = capture_enose(device, baseline_s=5, exposure_s=5, purge_s=5, allow_gaps=True)
    missing = [g.start_sample for g in reading.report.gaps]
    assert missing == [49, 99, 149]
    assert np.isnan(reading.values[49]).all() and reading.phase[49] == Phase.UNKNOWN
    assert not np.isnan(reading.values[48]).any()


def test_wav_reader_refuses_stereo(tmp_path):
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(4000)
        wav.writeframes(bytes(16))
    with pytest.raises(ValueError, match="expected mono, got 2 channels"):
        read_wav_pcm(str(path))


def test_set_phase_overrides_the_program_until_the_next_transition(start_sim, connect):
    device = connect(start_sim(SimulatedDevice(DeviceKind.ENOSE, speed=50.0)))
    device.connect()
    device.request(StartCapture(capture_id=9, sample_rate_hz=10, sample_count=60, exposure_start=40, purge_start=50))
    device.request(SetPhase(Phase.EXPOSURE))
    phases = {}
    while len(phases) < 60:
        payload = device.receive(2.0).payload
        if isinstance(payload, EnoseSample):
            phases[payload.sample_index] = payload.phase
    # Baseline until the override, exposure from it through the programmed exposure, then purge.
    switch = min(i for i, p in phases.items() if p == Phase.EXPOSURE)
    assert 0 < switch < 40
    assert all(phases[i] == Phase.BASELINE for i in range(switch))
    assert all(phases[i] == Phase.EXPOSURE for i in range(switch, 50))
    assert all(phases[i] == Phase.PURGE for i in range(50, 60))


def test_paced_simulator_streams_no_faster_than_its_speed(start_sim, connect):
    device = connect(start_sim(SimulatedDevice(DeviceKind.ENOSE, speed=4.0)))
    device.connect()
    started = time.monotonic()
    capture_enose(device, baseline_s=0.5, exposure_s=0.25, purge_s=0.25)
    # 1 s of e-nose time at 4x speed cannot arrive in less than 0.25 s (minus one sample).
    assert time.monotonic() - started >= 0.2
