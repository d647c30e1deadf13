"""Numeric codes of protocol version 1: message types and every u8 enumeration."""

import enum


class MessageType(enum.IntEnum):
    """Message type byte of the header."""

    HELLO = 0x01
    INFO = 0x02
    START_CAPTURE = 0x10
    STOP_CAPTURE = 0x11
    SET_PHASE = 0x12
    SELF_TEST = 0x13
    GET_STATUS = 0x14
    ACK = 0x20
    NAK = 0x21
    AUDIO_CHUNK = 0x30
    ENOSE_SAMPLE = 0x31
    CAPTURE_END = 0x32
    STATUS = 0x40
    ERROR = 0x41


class DeviceKind(enum.IntEnum):
    """What kind of board answered HELLO."""

    STETHOSCOPE = 1
    ENOSE = 2


class Phase(enum.IntEnum):
    """Phase of an e-nose measurement; UNKNOWN marks samples lost in a gap."""

    UNKNOWN = 0
    BASELINE = 1
    EXPOSURE = 2
    PURGE = 3


class NakReason(enum.IntEnum):
    """Why a device refused a command."""

    UNSUPPORTED = 1
    BAD_ARGUMENT = 2
    BUSY = 3
    NOT_CAPTURING = 4
    SELF_TEST_FAILED = 5


class EndReason(enum.IntEnum):
    """Why a device ended a capture stream."""

    COMPLETED = 0
    STOPPED = 1
    FAULT = 2


class DeviceState(enum.IntEnum):
    """Coarse state reported in STATUS."""

    IDLE = 0
    CAPTURING = 1


class ErrorCode(enum.IntEnum):
    """Code of an asynchronous ERROR message."""

    SENSOR_FAULT = 1
    BUFFER_OVERRUN = 2
    LOW_BATTERY = 3
    INTERNAL = 4


class FaultFlag(enum.IntFlag):
    """Bits of ``Status.fault_flags``."""

    SENSOR_FAULT = 0x01
    BUFFER_OVERRUN = 0x02
    LOW_BATTERY = 0x04
