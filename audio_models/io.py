"""Reading lung-sound recordings: WAV or FLAC, any rate, any integer/float width, mono or
multichannel, returned as float32 mono at the model rate (4 kHz).

Serving module: numpy and soundfile only.
"""

import io
import logging
import os

import numpy as np
import soundfile as sf

from audio_models.errors import UnreadableAudioError
from audio_models.resample import resample

logger = logging.getLogger(__name__)

#: Rate every model in this package works at. Lung sounds of interest lie below 2 kHz
#: (Sovijärvi et al., Eur Respir Rev 2000;10:77, CORSA recording standards), which is also
#: the rate the ICBHI 2017 Littmann 3200 recordings were captured at.
MODEL_SAMPLE_RATE = 4000

_FORMATS = ("WAV", "FLAC", "WAVEX", "RF64")


def read_audio(source):
    """Decode a recording at its own rate and mix it down to mono.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        A WAV or FLAC file (16/24/32-bit integer or 32/64-bit float, any channel count).

    Returns
    -------
    samples : numpy.ndarray
        float32 mono signal; integer formats are scaled to [-1, 1).
    sample_rate : int
        The file's own rate in Hz.

    Raises
    ------
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
    try:
        info = sf.info(source)
        if hasattr(source, "seek"):
            source.seek(0)
        data, sample_rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise UnreadableAudioError(f"cannot decode {name} as WAV or FLAC: {exc}") from exc
    if info.format not in _FORMATS:
        raise UnreadableAudioError(
            f"{name} is {info.format}, expected one of {', '.join(_FORMATS)}"
        )
    if not np.all(np.isfinite(data)):
        raise UnreadableAudioError(f"{name} holds NaN or infinite samples (corrupt float data)")
    logger.debug("decoded %s: %s Hz, %s channel(s), %s", name, sample_rate, data.shape[1], info.subtype)
    return data.mean(axis=1, dtype=np.float64).astype(np.float32), int(sample_rate)


def load_audio(source, *, target_sr=MODEL_SAMPLE_RATE):
    """Decode, mix down and resample a recording to ``target_sr``.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        See :func:`read_audio`.
    target_sr : int, keyword-only
        Output rate in Hz (default 4000, the model rate).

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
    samples, sample_rate = read_audio(source)
    return resample(samples, orig_sr=sample_rate, target_sr=target_sr), target_sr


def _describe(source):
    """A short name for error messages (never the file's content)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return getattr(source, "name", "<stream>")
