"""Domain errors of the lung-sound package.

Every error raised on purpose by ``audio_models`` derives from :class:`AudioError`, so the
service and the CLI can turn all of them into a 4xx JSON error or a one-line message.
"""


class AudioError(Exception):
    """Base class: an input or parameter the lung-sound code cannot work with."""


class UnreadableAudioError(AudioError):
    """The file or byte string is not a decodable WAV/FLAC recording."""


class AudioQualityError(AudioError):
    """A recording failed the signal-quality gate where a usable one was required."""


class DatasetError(AudioError):
    """A dataset folder, annotation file, split file or checksum manifest is wrong."""


class ModelError(AudioError):
    """A shipped model is missing, does not match its manifest, or cannot be run."""
