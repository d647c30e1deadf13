"""What a lung-sound recording may declare before it is decoded, and the rate the models work at.

Standard library only: the clinic service's settings (``edge.config``) declare the ``audio_*`` limits
from these defaults without loading numpy (``ildscreen bench cli-start``); ``audio_models.io`` applies them.
"""
import math
from dataclasses import dataclass

#: Rate every model in this package works at. Lung sounds of interest lie below 2 kHz
#: (Sovijärvi et al., Eur Respir Rev 2000;10:77, CORSA recording standards), which is also
#: the rate the ICBHI 2017 Littmann 3200 recordings were captured at.
MODEL_SAMPLE_RATE = 4000


@dataclass(frozen=True)
class AudioLimits:
    """What a recording's header may declare before anything is decoded.

    A header is a few bytes the sender controls: a 147 KB WAV saying 1 Hz, or a small silent
    FLAC saying one hour, would otherwise be decoded and resampled into gigabytes. The
    defaults are programme assumptions (the clinic service's ``audio_*`` settings change them):
    a recording below the model rate cannot carry the band the model listens to, and one
    chest site is recorded for well under a minute (ICBHI 2017's longest is 86 s).
    """

    min_sample_rate: int = MODEL_SAMPLE_RATE
    max_sample_rate: int = 192_000
    max_duration_s: float = 120.0
    max_channels: int = 2
    #: Frames x channels a header may declare: 24 million is 96 MB of float32, 125 s of mono
    #: or 62 s of stereo at 192 kHz (programme assumption: a chest site needs far less).
    max_decoded_samples: int = 24_000_000

    def __post_init__(self):
        if not 0 < self.min_sample_rate <= self.max_sample_rate:
            raise ValueError(f"need 0 < min_sample_rate <= max_sample_rate, got {self.min_sample_rate} and "
                             f"{self.max_sample_rate}")
        if not self.max_duration_s > 0 or self.max_channels < 1:
            raise ValueError(f"max_duration_s must be > 0 and max_channels >= 1, got {self.max_duration_s} and "
                             f"{self.max_channels}")
        if self.max_decoded_samples < 1:
            raise ValueError(f"max_decoded_samples must be >= 1, got {self.max_decoded_samples}")

    def max_frames(self, sample_rate):
        """The most frames a recording at ``sample_rate`` may hold."""
        return math.ceil(self.max_duration_s * sample_rate)


#: The limits of the clinic service's defaults.
DEFAULT_AUDIO_LIMITS = AudioLimits()
