"""Reading lung-sound recordings: WAV or FLAC, any rate, any integer/float width, mono or
multichannel, returned as float32 mono at the model rate (4 kHz).

Serving module: numpy and soundfile only.
"""

import io
import logging
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from audio_models.errors import AudioLimitError, UnreadableAudioError
from audio_models.limits import MODEL_SAMPLE_RATE
from audio_models.resample import resample

logger = logging.getLogger(__name__)

_FORMATS = ("WAV", "FLAC", "WAVEX", "RF64")
#: Frames decoded per step (1.5 MB of float32 at two channels).
_DECODE_BLOCK_FRAMES = 1 << 16


@dataclass(frozen=True)
class AudioHeader:
    """What a WAV/FLAC header declares, read without decoding any sample."""

    format: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self):
        return self.frames / self.sample_rate


def read_header(source, *, limits=None):
    """Read and check a recording's header; no sample is decoded.

    Parameters
    ----------
    source : str, os.PathLike or seekable binary file object
        A WAV or FLAC file; a stream is left at its start.
    limits : AudioLimits or None, keyword-only
        Refuse headers outside these limits; None checks nothing but the format.

    Returns
    -------
    AudioHeader

    Raises
    ------
    AudioLimitError
        The rate, channel count or duration is outside ``limits`` (naming the limit).
    UnreadableAudioError
        The source is empty, not WAV/FLAC, or its header cannot be parsed.

    Examples
    --------
    >>> import io, soundfile
    >>> from audio_models.limits import DEFAULT_AUDIO_LIMITS
    >>> buf = io.BytesIO()
    >>> soundfile.write(buf, np.zeros(8000), 1, format="WAV", subtype="PCM_16")
    >>> _ = buf.seek(0)
    >>> read_header(buf, limits=DEFAULT_AUDIO_LIMITS)
    Traceback (most recent call last):
    ...
    audio_models.errors.AudioLimitError: sample rate 1 Hz is below the 4000 Hz minimum (min_sample_rate)
    """
    name = _describe(source)
    try:
        info = sf.info(source)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        # The message names the file (libsndfile's does too): a service shows its own message instead.
        raise UnreadableAudioError(f"cannot decode {name} as WAV or FLAC: {exc}") from exc
    finally:
        if hasattr(source, "seek"):
            source.seek(0)
    if info.format not in _FORMATS:
        raise UnreadableAudioError(f"{name} is {info.format}, expected one of {', '.join(_FORMATS)}")
    header = AudioHeader(format=info.format, sample_rate=int(info.samplerate), channels=int(info.channels),
                         frames=int(info.frames))
    if limits is not None:
        _check_limits(header, limits)
    return header


def _check_limits(header, limits):
    rate, channels = header.sample_rate, header.channels
    if rate < limits.min_sample_rate:
        raise AudioLimitError(f"sample rate {rate} Hz is below the {limits.min_sample_rate} Hz minimum "
                              "(min_sample_rate)", limit="min_sample_rate", too_large=False)
    if rate > limits.max_sample_rate:
        raise AudioLimitError(f"sample rate {rate} Hz is above the {limits.max_sample_rate} Hz maximum "
                              "(max_sample_rate)", limit="max_sample_rate", too_large=False)
    if channels > limits.max_channels:
        raise AudioLimitError(f"{channels} channels are more than the {limits.max_channels} allowed (max_channels)",
                              limit="max_channels", too_large=True)
    if header.frames > limits.max_frames(rate):
        raise AudioLimitError(f"recording is {header.duration_s:.1f} s long, more than the {limits.max_duration_s:g} s "
                              "maximum (max_duration_s)", limit="max_duration_s", too_large=True)
    if header.frames * channels > limits.max_decoded_samples:
        raise AudioLimitError(f"recording declares {header.frames * channels} samples over its channels, more than the "
                              f"{limits.max_decoded_samples} allowed (max_decoded_samples)",
                              limit="max_decoded_samples", too_large=True)


def read_audio(source, *, limits=None):
    """Decode a recording at its own rate and mix it down to mono.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        A WAV or FLAC file (16/24/32-bit integer or 32/64-bit float, any channel count).
    limits : AudioLimits or None, keyword-only
        Checked on the header before decoding, and decoding stops at ``max_duration_s`` (or
        ``max_decoded_samples``) even when the header understates the length; None (training on
        known datasets) decodes all. Blocks are mixed down as they are decoded, so memory is the
        mono float32 result whatever the channel count.

    Returns
    -------
    samples : numpy.ndarray
        float32 mono signal; integer formats are scaled to [-1, 1).
    sample_rate : int
        The file's own rate in Hz.

    Raises
    ------
    AudioLimitError
        The header or the decoded length is outside ``limits``.
    UnreadableAudioError
        The source is missing, empty, truncated, not WAV/FLAC, or holds NaN/inf samples.

    Examples
    --------
    >>> import io, soundfile
    >>> buf = io.BytesIO()
    >>> soundfile.write(buf, np.zeros((800, 2)), 8000, format="WAV", subtype="PCM_16")
    >>> x, sr = read_audio(buf.getvalue())
    >>> x.shape, sr
    ((800,), 8000)
    """
    name = _describe(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    header = read_header(source, limits=limits)
    # A header can understate the length (a FLAC may not declare it at all): stop decoding one
    # block past the limit instead of trusting it.
    most = None if limits is None else min(limits.max_frames(header.sample_rate),
                                           limits.max_decoded_samples // header.channels)
    try:
        mono = _decode_mono(source, header, most)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise UnreadableAudioError(f"cannot decode {name} as WAV or FLAC: {exc}") from exc
    if mono is None:
        if most < limits.max_frames(header.sample_rate):
            raise AudioLimitError(f"recording holds more than the {limits.max_decoded_samples} samples over its "
                                  "channels allowed (max_decoded_samples)", limit="max_decoded_samples",
                                  too_large=True)
        raise AudioLimitError(f"recording is longer than the {limits.max_duration_s:g} s maximum (max_duration_s)",
                              limit="max_duration_s", too_large=True)
    if not np.all(np.isfinite(mono)):
        raise UnreadableAudioError(f"{name} holds NaN or infinite samples (corrupt float data)")
    logger.debug("decoded %s: %s Hz, %s channel(s)", name, header.sample_rate, header.channels)
    return mono, header.sample_rate


def _decode_mono(source, header, most):
    """Decode block by block, mixing each block down as it comes: memory is the mono float32
    result (never the multichannel float array). None when more than ``most`` frames arrive."""
    mono = np.empty(header.frames if most is None else min(header.frames, most), dtype=np.float32)
    filled = 0
    with sf.SoundFile(source) as handle:
        for block in handle.blocks(blocksize=_DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True):
            end = filled + len(block)
            if most is not None and end > most:
                return None
            if end > len(mono):  # the header understated the length
                grown = np.empty(max(end, 2 * len(mono)) if most is None else min(max(end, 2 * len(mono)), most),
                                 dtype=np.float32)
                grown[:filled] = mono[:filled]
                mono = grown
            mono[filled:end] = block.mean(axis=1, dtype=np.float64)
            filled = end
    return mono[:filled]


def load_audio(source, *, target_sr=MODEL_SAMPLE_RATE, limits=None):
    """Decode, mix down and resample a recording to ``target_sr``.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        See :func:`read_audio`.
    target_sr : int, keyword-only
        Output rate in Hz (default 4000, the model rate).
    limits : AudioLimits or None, keyword-only
        See :func:`read_audio`.

    Returns
    -------
    samples : numpy.ndarray
        float32 mono signal at ``target_sr``.
    sample_rate : int
        ``target_sr``.

    Examples
    --------
    >>> import io, soundfile
    >>> buf = io.BytesIO()
    >>> soundfile.write(buf, np.zeros(44100), 44100, format="FLAC")
    >>> x, sr = load_audio(buf.getvalue())
    >>> x.shape, sr
    ((4000,), 4000)
    """
    samples, sample_rate = read_audio(source, limits=limits)
    return resample(samples, orig_sr=sample_rate, target_sr=target_sr), target_sr


def _describe(source):
    """A short name for error messages (never the file's content)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return getattr(source, "name", "<stream>")
