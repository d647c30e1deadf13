"""DeviceManager: registry for the edge service; status never blocks on a running capture."""

import threading
import time

import pytest

from firmware_interface import (
    DeviceDisconnected,
    DeviceError,
    DeviceKind,
    DeviceManager,
    SerialTransport,
    SimulatedDevice,
    Transport,
    capture_audio,
    open_device,
)

from fw_helpers import noise_pcm


def test_open_device_connects_and_reports_info(start_sim):
    sim = start_sim(SimulatedDevice(DeviceKind.ENOSE, n_sensors=2))
    device = open_device(sim.port)
    try:
        assert device.connected and device.info.sensors == sim.info.sensors
    finally:
        device.close()


def test_manager_lists_boards_without_waiting_for_a_capture(start_sim):
    sim = start_sim(SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=noise_pcm(8000), sample_rate_hz=4000, speed=2.0))
    manager = DeviceManager(reply_timeout=0.5)
    try:
        manager.add(sim.port)
        (before,) = manager.statuses()
        assert before["connected"] is False and before["info"] is None
        device = manager.get(sim.port)
        result = {}
        worker = threading.Thread(target=lambda: result.update(capture=capture_audio(device, seconds=2)))
        worker.start()
        # The capture streams for about 1 s (2 s of audio at speed 2); poll its status meanwhile.
        deadline = time.monotonic() + 5.0
        while not manager.statuses()[0]["busy"] and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        during = manager.statuses()[0]
        worker.join(timeout=10)
        assert during["busy"] is True and during["info"]["device_kind"] == "stethoscope"
        assert result["capture"].complete
        after = manager.statuses()[0]
        assert after["busy"] is False and after["link"]["frames_ok"] > 30
    finally:
        manager.close_all()
    assert manager.statuses() == []


def test_unknown_port_is_a_device_error():
    with pytest.raises(DeviceError, match="no device registered on port '/dev/none'"):
        DeviceManager().get("/dev/none")


def test_serial_transport_implements_the_transport_interface(tmp_path):
    transport = SerialTransport(str(tmp_path / "absent"))
    assert isinstance(transport, Transport) and not transport.is_open
    with pytest.raises(DeviceDisconnected, match="absent: port is not open"):
        transport.write(b"\x00")
    with pytest.raises(DeviceDisconnected, match="cannot open"):
        transport.open()
