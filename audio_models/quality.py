"""Signal-quality gate for a lung-sound recording.

Serving module: numpy only. The gate runs on the decoded mono signal at its own rate
(clipping is only visible before resampling smears it) and on the 4 kHz model signal.

Thresholds (each issue string starts with its code, followed by the measured value):

================  =====================================================================
code              rule
================  =====================================================================
unreadable        not decodable as WAV/FLAC, truncated, or non-finite samples
too_short         shorter than ``MIN_DURATION_S`` = 6 s: one breath cycle at 10/min, the
                  slowest rate screened, and more than one 4 s model window
silent            RMS after DC removal below ``SILENCE_DBFS`` = -80 dBFS: a disconnected or
                  muted stethoscope gives digital silence or the converter's noise floor
                  (16-bit: about -101 dBFS). Real chest recordings on ``../shared/data`` sit
                  at -68 to -10 dBFS (SPRSound children median -43, KAUH adults -22), and the
                  model scales each window to unit RMS, so a stethoscope with 20 dB less gain
                  must still pass: the line was -60 dBFS, which refused a good SPRSound
                  recording (-67.6 dBFS, breathing clearly heard) and four in five children's
                  recordings made 20 dB quieter (``ildscreen audio evaluate --stress``).
                  Steady noise above the line is the breathing rule's (``no_breath_sounds``)
clipped           more than ``CLIP_FRACTION`` = 1 % of samples within 0.1 % of full scale
handling          more than ``HANDLING_FRACTION`` = 15 % of 100 ms frames are sustained
                  broadband bursts: every one of the frame's 10 ms slices
                  (``HANDLING_SUSTAIN`` = 1) has a 300-1800 Hz level ``HANDLING_BURST_DB`` =
                  20 dB above the recording's median slice (stethoscope rubbing lasts
                  hundreds of ms). Crackles are broadband bursts too, but each lasts < 20 ms
                  (fine crackles: two-cycle duration < 10 ms; CORSA, Sovijarvi et al., Eur
                  Respir Rev 2000), so between two crackles a slice falls back and the frame
                  is not sustained; heart sounds lie below 200 Hz. Checked on the expert
                  crackle recordings of SPRSound and KAUH (``ildscreen audio evaluate``
                  reports the gate's refusals of crackle recordings)
no_breath_sounds  the 100-1000 Hz level of 100 ms frames (``BREATH_BAND_HZ``, where chest-wall
                  breath sounds lie: their power falls with frequency and ends below about
                  1 kHz; Gavriely N et al., Thorax 1995;50:1292-1300) varies less than
                  ``BREATH_SPREAD_DB`` = 2.5 dB between its 10th and 90th centile: a steady
                  hiss with no breathing in it (the chest piece in the air, a noisy line).
                  Breath-sound amplitude grows with airflow (about flow^1.66) and
                  inspiratory chest-wall sounds are about twice as loud as expiratory ones
                  (Gavriely N, Cugell DW, J Appl Physiol 1996;80:5-13), so a chest recording
                  rises and falls with each breath. Steady white noise spreads 1.4-1.8 dB;
                  steady noise of a narrower band spreads more (low-passed white 1.9-3.3 dB,
                  pink 3.3-3.9 dB) and may pass. The 2.5 dB line is a programme assumption
                  checked on ``../shared/data``: the lowest of 1,985 real recordings
                  (SPRSound, KAUH in all three filter modes, ICBHI) spreads 4.4 dB (a KAUH
                  recording), 4.1 dB with white noise added 20 dB below each one's level (a
                  hissy stethoscope). A 300-1800 Hz band, tried first, refused a quarter of
                  such hissy recordings: hiss fills it
speech            more than ``SPEECH_FRACTION`` = 25 % of 64 ms frames have a cepstral
                  peak prominence above ``SPEECH_PROMINENCE`` = 0.6 at a pitch of
                  80-300 Hz (a harmonic series: voiced speech). Wheezes, which CORSA
                  defines as tonal sounds > 100 Hz lasting > 100 ms (Sovijärvi et al.,
                  Eur Respir Rev 2000), are one dominant tone and make no such peak
================  =====================================================================
"""

import dataclasses
import functools

import numpy as np

from audio_models.errors import AudioError
from audio_models.resample import resample

#: Rate of the spectral checks (the model rate), so thresholds do not depend on the file.
_CHECK_RATE = 4000
#: Samples per block of the level and clipping checks (8 MB as float64).
_BLOCK_SAMPLES = 1 << 20

MIN_DURATION_S = 6.0
SILENCE_DBFS = -80.0
CLIP_LEVEL = 0.999
CLIP_FRACTION = 0.01
HANDLING_BURST_DB = 20.0
HANDLING_FRACTION = 0.15
HANDLING_SLICE_S = 0.01
HANDLING_SUSTAIN = 1.0
HANDLING_BAND_HZ = (300.0, 1800.0)
BREATH_SPREAD_DB = 2.5
BREATH_BAND_HZ = (100.0, 1000.0)
BREATH_SPREAD_CENTILES = (10.0, 90.0)
SPEECH_PITCH_HZ = (80.0, 300.0)
SPEECH_PROMINENCE = 0.6
SPEECH_FRACTION = 0.25


@dataclasses.dataclass(frozen=True)
class QualityReport:
    """Result of the gate: ``ok`` is True when ``issues`` is empty."""

    ok: bool
    issues: tuple

    def to_dict(self):
        """JSON-ready form: ``{"ok": bool, "issues": [str, ...]}``."""
        return {"ok": self.ok, "issues": list(self.issues)}


def unreadable_report(message):
    """The report for a file that could not be decoded at all."""
    return QualityReport(ok=False, issues=(f"unreadable: {message}",))


def assess_quality(samples, *, sample_rate):
    """Run every check of the gate on a decoded mono signal.

    Parameters
    ----------
    samples : numpy.ndarray
        1-D float signal in [-1, 1] at ``sample_rate`` (as :func:`audio_models.io.read_audio`
        returns it).
    sample_rate : int, keyword-only
        Rate in Hz, > 0.

    Returns
    -------
    QualityReport

    Examples
    --------
    >>> assess_quality(np.zeros(4000), sample_rate=4000).issues[0]
    'too_short: 1.00 s recorded, at least 6.0 s needed'
    """
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"sample rate must be a positive integer, got {sample_rate!r}")
    # Kept as decoded (float32): the recording at its own rate is never copied whole (120 s at
    # 192 kHz is 92 MB of float32, 184 MB per float64 copy); level and clipping go block by block
    # and the resampler converts the blocks it reads.
    x = np.asarray(samples)
    if x.ndim != 1:
        raise AudioError(f"quality gate expects a 1-D signal, got shape {x.shape}")
    issues = []
    duration = len(x) / sample_rate
    if duration < MIN_DURATION_S:
        issues.append(f"too_short: {duration:.2f} s recorded, at least {MIN_DURATION_S} s needed")
    if len(x) == 0:
        return QualityReport(ok=False, issues=tuple(issues))
    level, clipped = _level_and_clipped_fraction(x)
    if level < SILENCE_DBFS:
        issues.append(f"silent: level {level:.1f} dBFS, below {SILENCE_DBFS:.0f} dBFS")
        return QualityReport(ok=False, issues=tuple(issues))
    if clipped > CLIP_FRACTION:
        issues.append(
            f"clipped: {100 * clipped:.1f}% of samples at full scale, limit {100 * CLIP_FRACTION:.0f}%"
        )
    if sample_rate != _CHECK_RATE:
        x = resample(x, orig_sr=int(sample_rate), target_sr=_CHECK_RATE)
    spectra = slice_spectra(x, sample_rate=_CHECK_RATE)
    spread = breath_spread_db(spectra)
    if spread is not None and spread < BREATH_SPREAD_DB:
        issues.append(
            f"no_breath_sounds: the sound's level varies {spread:.1f} dB over the recording (10th to 90th centile "
            f"of 100 ms frames at 100-1000 Hz), at least {BREATH_SPREAD_DB:.1f} dB expected from breathing"
        )
    handling = handling_fraction(x, sample_rate=_CHECK_RATE, spectra=spectra)
    if handling > HANDLING_FRACTION:
        issues.append(
            f"handling_noise: {100 * handling:.0f}% of the recording is broadband bursts, "
            f"limit {100 * HANDLING_FRACTION:.0f}%"
        )
    speech = speech_fraction(x, sample_rate=_CHECK_RATE)
    if speech > SPEECH_FRACTION:
        issues.append(
            f"speech: {100 * speech:.0f}% of the recording is voiced speech, "
            f"limit {100 * SPEECH_FRACTION:.0f}%"
        )
    return QualityReport(ok=not issues, issues=tuple(issues))


def _level_and_clipped_fraction(x):
    """RMS level after DC removal (dBFS) and the fraction of samples at full scale, of a
    non-empty signal, in float64 a block at a time: working memory is two 8 MB blocks whatever
    the recording's length and rate."""
    n = len(x)
    blocks = range(0, n, _BLOCK_SAMPLES)
    mean = sum(float(np.sum(x[start : start + _BLOCK_SAMPLES], dtype=np.float64)) for start in blocks) / n
    power = 0.0
    clipped = 0
    for start in blocks:
        block = x[start : start + _BLOCK_SAMPLES].astype(np.float64)
        # compared in float64, as the level: a float32 0.999 is not the same threshold
        clipped += int(np.count_nonzero(np.abs(block) >= CLIP_LEVEL))
        block -= mean
        power += float(np.dot(block, block))
    return 20 * np.log10(np.sqrt(power / n) + 1e-12), clipped / n


def _frames(x, length, hop):
    if len(x) < length:
        return np.zeros((0, length))
    return np.lib.stride_tricks.sliding_window_view(x, length)[::hop]


def slice_spectra(samples, *, sample_rate):
    """Power spectra of the signal's 10 ms slices, ``(spectra, freqs, per_frame)``: one row per
    slice, ``per_frame`` slices to a 100 ms frame; None when the signal holds fewer than 3 frames.
    One spectrum feeds both the handling rule and the breathing rule."""
    frame = int(0.1 * sample_rate)
    slice_length = int(HANDLING_SLICE_S * sample_rate)
    per_frame = frame // slice_length
    x = np.asarray(samples, dtype=np.float64)
    n_frames = len(x) // frame
    if n_frames < 3:
        return None
    slices = x[: n_frames * per_frame * slice_length].reshape(n_frames * per_frame, slice_length)
    spectra = np.abs(np.fft.rfft(slices * np.hanning(slice_length), axis=1)) ** 2
    return spectra, np.fft.rfftfreq(slice_length, 1.0 / sample_rate), per_frame


def band_power(spectra, band_hz):
    """Power of ``band_hz`` in each slice of :func:`slice_spectra`, shape ``(frames, slices)``."""
    power, freqs, per_frame = spectra
    band = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    return power[:, band].sum(axis=1).reshape(-1, per_frame)


def breath_spread_db(spectra):
    """Spread (dB) between the 10th and 90th centile of the 100 ms frame levels in the breath band
    (``BREATH_BAND_HZ``) of :func:`slice_spectra`: how much the sound rises and falls (see the
    module table); None without frames."""
    if spectra is None:
        return None
    frame_level = 10 * np.log10(band_power(spectra, BREATH_BAND_HZ).sum(axis=1) + 1e-20)
    low, high = np.percentile(frame_level, BREATH_SPREAD_CENTILES)
    return float(high - low)


def handling_fraction(samples, *, sample_rate, spectra=None):
    """Fraction of 100 ms frames that are sustained broadband bursts (see the module table).

    ``spectra`` is :func:`slice_spectra` of the same signal when the caller has it already.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(handling_fraction(0.01 * rng.standard_normal(40000), sample_rate=4000), 2)
    0.0
    """
    spectra = slice_spectra(samples, sample_rate=sample_rate) if spectra is None else spectra
    if spectra is None:
        return 0.0
    level = 10 * np.log10(band_power(spectra, HANDLING_BAND_HZ) + 1e-20)
    loud = level > np.median(level) + HANDLING_BURST_DB
    return float(np.mean(loud.mean(axis=1) >= HANDLING_SUSTAIN))


@functools.lru_cache(maxsize=8)
def _cepstrum_basis(bins, lo, hi):
    """``log_power @ basis`` is ``np.fft.irfft(log_power)[:, lo:hi + 1]`` (tested).

    The pitch search reads about 40 of the cepstrum's quefrencies; one small matrix product
    gives just those, several times faster than the whole inverse FFT of every frame.
    For the irfft's output length M = 2 (bins - 1) and a real spectrum X:
    c[q] = (X[0] + 2 sum_{0<k<M/2} X[k] cos(2 pi k q / M) + X[M/2] cos(pi q)) / M.
    """
    size = 2 * (bins - 1)
    weights = np.full(bins, 2.0)
    weights[[0, -1]] = 1.0
    k, q = np.arange(bins), np.arange(lo, hi + 1)
    return weights[:, None] * np.cos(2 * np.pi * np.outer(k, q) / size) / size


def speech_fraction(samples, *, sample_rate):
    """Fraction of 64 ms frames with a voiced-speech cepstral peak (see the module table).

    The cepstral peak prominence (Hillenbrand et al., J Speech Hear Res 1994) at a
    quefrency of 1/300..1/80 s measures how strongly a frame is a harmonic series with a
    speech pitch. Breath noise has a smooth spectrum and a wheeze a single tone (one
    spectral peak), so neither makes a cepstral peak.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> speech_fraction(0.01 * rng.standard_normal(40000), sample_rate=4000)
    0.0
    """
    x = np.asarray(samples, dtype=np.float64)
    length = int(0.064 * sample_rate)
    frames = _frames(x - x.mean(), length, length // 2)
    if len(frames) < 3:
        return 0.0
    frames = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames * np.hanning(length), axis=1)
    log_power = np.log(spectrum.real**2 + spectrum.imag**2 + 1e-12)
    lo = int(sample_rate / SPEECH_PITCH_HZ[1])
    hi = min(int(sample_rate / SPEECH_PITCH_HZ[0]), length // 2 - 1)
    segment = log_power @ _cepstrum_basis(log_power.shape[1], lo, hi)
    prominence = segment.max(axis=1) - np.median(segment, axis=1)
    return float(np.mean(prominence > SPEECH_PROMINENCE))
