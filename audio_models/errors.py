"""Domain errors of the lung-sound package.

Every error raised on purpose by ``audio_models`` derives from :class:`AudioError`, so the
service and the CLI can turn all of them into a 4xx JSON error or a one-line message.
"""


class AudioError(Exception):
    """Base class: an input or parameter the lung-sound code cannot work with."""


class UnreadableAudioError(AudioError):
    """The file or byte string is not a decodable WAV/FLAC recording."""


class AudioLimitError(UnreadableAudioError):
    """The header declares audio outside the configured limits; nothing was decoded.

    ``limit`` names the setting that refused it; ``too_large`` tells a recording that is
    too long or has too many channels (HTTP 413) from one with an unusable rate (422).
    """

    def __init__(self, message, *, limit, too_large):
        super().__init__(message)
        self.limit = limit
        self.too_large = too_large


class AudioQualityError(AudioError):
    """A recording failed the signal-quality gate where a usable one was required."""


class DatasetError(AudioError):
    """A dataset folder, annotation file, split file or checksum manifest is wrong."""


class ModelError(AudioError):
    """A shipped model is missing, does not match its manifest, or cannot be run."""
