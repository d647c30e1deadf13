"""Domain errors of the firmware interface.

Every error raised by this package derives from :class:`DeviceError`, so the edge
service can turn any device problem into one clear message with a single ``except``.
"""


class DeviceError(Exception):
    """Base class for everything that can go wrong talking to a sensor board."""


class FrameError(DeviceError):
    """A frame failed COBS decoding, its CRC-16 or its length checks."""


class ProtocolError(DeviceError):
    """A well-framed message carries an invalid field or an unexpected reply."""


class CommandRejected(ProtocolError):
    """The device answered a command with NAK.

    Parameters
    ----------
    command : str
        Name of the rejected command, e.g. ``"START_CAPTURE"``.
    reason : str
        Name of the NAK reason code.
    detail : str
        Free text the device sent with the NAK.
    """

    def __init__(self, command: str, reason: str, detail: str) -> None:
        super().__init__(f"device rejected {command}: {reason} ({detail or 'no detail'})")
        self.command = command
        self.reason = reason
        self.detail = detail


class DeviceTimeout(DeviceError):
    """The device did not answer or stopped streaming within the allowed time."""


class DeviceDisconnected(DeviceError):
    """The port vanished, could not be opened, or failed while reading or writing."""


class CaptureError(DeviceError):
    """A capture could not deliver a complete recording; the message says why."""


class CaptureCancelled(CaptureError):
    """The host asked the capture to stop (STOP_CAPTURE sent); nothing of it is kept."""


class BoardBusy(DeviceError):
    """A capture is already running on this board; one capture per board at a time."""
