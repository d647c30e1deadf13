"""16-bit PCM WAV in and out with the standard library (no audio dependency)."""

import io
import wave

import numpy as np


def read_wav_pcm(path: str) -> "tuple[np.ndarray, int]":
    """Read a mono 16-bit PCM WAV file.

    Parameters
    ----------
    path : str
        File to read.

    Returns
    -------
    pcm : np.ndarray
        int16 samples.
    sample_rate_hz : int

    Raises
    ------
    ValueError
        If the file is not mono 16-bit PCM (the stethoscope format).
    OSError
        If it cannot be read.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate, frames = wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()
            raw = wav.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path}: not a PCM WAV file ({exc})") from exc
    if width != 2:
        raise ValueError(f"{path}: expected 16-bit samples, got {8 * width}-bit")
    if channels != 1:
        raise ValueError(f"{path}: expected mono, got {channels} channels")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16), rate


def pcm_to_wav_bytes(pcm: np.ndarray, sample_rate_hz: int) -> bytes:
    """Encode int16 mono PCM as a WAV file in memory.

    Parameters
    ----------
    pcm : np.ndarray
        int16 samples.
    sample_rate_hz : int
        Sample rate written to the header.

    Returns
    -------
    bytes
        A complete RIFF/WAVE file whose data chunk is exactly ``pcm`` little-endian.
    """
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ValueError(f"expected 1-D int16 PCM, got {pcm.ndim}-D {pcm.dtype}")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(int(sample_rate_hz))
        wav.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()
