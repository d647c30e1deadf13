"""Wire protocol of the sensor boards, serial/BLE drivers and a device simulator.

The edge calls::

    device = open_device("/dev/ttyACM0")          # or DeviceManager().add(port)
    audio = capture_audio(device, seconds=20)      # AudioCapture: .pcm, .to_wav_bytes(), .metadata()
    breath = capture_enose(device)                 # EnoseReading: .values, .to_board_csv(), .metadata()

and catches :class:`DeviceError`. See PROTOCOL.md for the bytes on the wire.
"""

from firmware_interface.assembly import Gap
from firmware_interface.capture import AudioCapture, CaptureReport, EnoseReading, capture_audio, capture_enose
from firmware_interface.codes import DeviceKind, Phase
from firmware_interface.driver import Backoff, Device
from firmware_interface.errors import (
    BoardBusy,
    CaptureCancelled,
    CaptureError,
    CommandRejected,
    DeviceDisconnected,
    DeviceError,
    DeviceTimeout,
    FrameError,
    ProtocolError,
)
from firmware_interface.jobs import CaptureJob
from firmware_interface.link import LinkStats
from firmware_interface.manager import DeviceManager, open_device, serial_ports
from firmware_interface.messages import PROTOCOL_VERSION, Info, Status
from firmware_interface.simulator import FaultPlan, SimulatedDevice
from firmware_interface.transport import SerialTransport, Transport

__all__ = [
    "PROTOCOL_VERSION",
    "AudioCapture",
    "Backoff",
    "BoardBusy",
    "CaptureCancelled",
    "CaptureError",
    "CaptureJob",
    "CaptureReport",
    "CommandRejected",
    "Device",
    "DeviceDisconnected",
    "DeviceError",
    "DeviceKind",
    "DeviceManager",
    "DeviceTimeout",
    "EnoseReading",
    "FaultPlan",
    "FrameError",
    "Gap",
    "Info",
    "LinkStats",
    "Phase",
    "ProtocolError",
    "SerialTransport",
    "SimulatedDevice",
    "Status",
    "Transport",
    "capture_audio",
    "capture_enose",
    "open_device",
    "serial_ports",
]
