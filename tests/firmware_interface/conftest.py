"""Fixtures: real simulators on real ptys, real pyserial transports; everything closed after each test."""

import pytest

from firmware_interface.driver import Backoff, Device
from firmware_interface.transport import SerialTransport


@pytest.fixture
def start_sim():
    """Start a SimulatedDevice and close it after the test."""
    started = []

    def start(sim):
        started.append(sim)
        return sim.start()

    yield start
    for sim in started:
        sim.close()


@pytest.fixture
def connect(start_sim):
    """Open a Device on a simulator's port (not yet connected); closed before the simulator."""
    devices = []

    def make(sim, **kwargs):
        kwargs.setdefault("reply_timeout", 0.5)
        kwargs.setdefault("connect_timeout", 3.0)
        kwargs.setdefault("backoff", Backoff(initial_s=0.02, factor=2.0, max_delay_s=0.2))
        device = Device(SerialTransport(sim.port), **kwargs)
        devices.append(device)
        return device

    yield make
    for device in devices:
        device.close()
