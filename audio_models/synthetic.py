"""Synthetic lung-sound recordings built from published acoustics, widely randomised.

numpy only (no torch), so the generator can also make test fixtures anywhere.

Every recording is drawn at a random source rate (4-44.1 kHz), passes a random device
colouration, and is resampled to the 4 kHz model rate with the serving resampler.
Components and the sources of their parameters:

* Breathing: 10-30 breaths/min, I:E ratio 1:1 to 1:3, breath-to-breath jitter 10 %.
* Vesicular breath noise: noise with a spectrum flat to a corner of 100-300 Hz and
  falling 9-18 dB/octave above it, louder in inspiration than expiration (Pasterkamp
  et al., Am J Respir Crit Care Med 1997;156:974; Gavriely et al., J Appl Physiol 1981).
  One recording in five is bronchial-like (higher corner, loud expiration).
* Crackles, after the CORSA definitions (Sovijärvi et al., Eur Respir Rev 2000;10:77,
  "Characteristics of breath sounds and adventitious respiratory sounds"): an explosive
  transient whose first half cycle is the initial deflection width (IDW) and whose first
  two cycles last 2CD. Fine crackles: IDW 0.4-1.1 ms, 2CD 3-9.5 ms (< 10 ms), late
  inspiratory (IPF, Vyshedskiy et al., Chest 2009;135:156: crackles start in the second
  half of inspiration and run to its end), 1-25 per breath. Coarse crackles: IDW
  1.1-2.5 ms, 2CD 9.5-16 ms, early inspiratory and expiratory, 1-6 per breath.
  Peak level 3-26 dB above the local breath-noise RMS.
* Distractors, drawn independently of the label so they occur in both classes:
  wheezes (CORSA: tonal, dominant frequency > 100 Hz, > 100 ms; 100-1000 Hz with
  harmonics, mostly expiratory), heart sounds (S1 30-100 Hz over 100-150 ms, S2
  50-150 Hz over 80-120 ms, 50-110 beats/min), stethoscope handling (broadband rubs,
  low thumps, isolated clicks), ambient noise (white/pink/brown, speech-like babble,
  mains hum) at an SNR of 0-30 dB against the lung sound, device colouration (random
  smooth response +-4 dB per octave, optional diaphragm low-pass at 400-2000 Hz,
  high-pass at 20-120 Hz), level -40..-8 dBFS, 16-bit quantisation in half the files.

A recording is positive (``label`` 1) when it holds at least one crackle, fine or
coarse; ICBHI 2017 labels crackles the same way. ``events`` lists every crackle
(onset, duration, kind) so windows and frames can be labelled exactly.
"""

import dataclasses

import numpy as np

from audio_models.errors import AudioError
from audio_models.resample import resample

MODEL_RATE = 4000
SOURCE_RATES = (4000, 8000, 16000, 22050, 44100)
SOURCE_RATE_WEIGHTS = (0.35, 0.15, 0.1, 0.1, 0.3)


@dataclasses.dataclass
class Crackle:
    """One synthetic crackle: onset and duration in seconds, ``kind`` fine/coarse."""

    onset_s: float
    duration_s: float
    kind: str


@dataclasses.dataclass
class SyntheticRecording:
    """A generated recording at the 4 kHz model rate and what it contains."""

    samples: np.ndarray
    sample_rate: int
    label: int
    events: list
    params: dict


def crackle_waveform(*, idw_s, two_cd_s, sample_rate, polarity=1.0):
    """One crackle with a given initial deflection width and two-cycle duration.

    The phase is ``pi * (t / IDW) ** p`` with ``p`` chosen so that the first half cycle
    ends at IDW and the second full cycle at 2CD (the CORSA waveform parameters), i.e.
    a transient whose frequency falls as it rings, under a decay of time constant 2CD/2.

    Parameters
    ----------
    idw_s, two_cd_s : float, keyword-only
        Initial deflection width and two-cycle duration in seconds, ``0 < idw < 2CD/4``.
    sample_rate : int, keyword-only
        Rate in Hz.
    polarity : float, keyword-only
        +1 or -1.

    Returns
    -------
    numpy.ndarray
        Waveform with peak magnitude 1, lasting 2 * 2CD.

    Examples
    --------
    >>> w = crackle_waveform(idw_s=0.0007, two_cd_s=0.005, sample_rate=44100)
    >>> len(w), float(np.abs(w).max())
    (441, 1.0)
    """
    if not 0 < 4 * idw_s < two_cd_s:
        raise AudioError(f"crackle needs 0 < 4*IDW < 2CD, got IDW={idw_s} s, 2CD={two_cd_s} s")
    t = np.arange(int(round(2 * two_cd_s * sample_rate))) / sample_rate
    exponent = np.log(4.0) / np.log(two_cd_s / idw_s)
    wave = np.sin(np.pi * (t / idw_s) ** exponent) * np.exp(-t / (0.5 * two_cd_s))
    return polarity * wave / np.abs(wave).max()


def _shaped_noise(rng, n, sample_rate, gain_fn):
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    x = np.fft.irfft(spectrum * gain_fn(freqs), n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _breath_schedule(rng, duration_s):
    """List of (inspiration start, inspiration end, expiration end) in seconds."""
    period = 60.0 / rng.uniform(10, 30)
    ie = rng.uniform(1.0, 3.0)
    t = -rng.uniform(0, period)
    breaths = []
    while t < duration_s:
        this = period * rng.uniform(0.9, 1.1)
        t_insp = this / (1 + ie)
        breaths.append((t, t + t_insp, t + this))
        t += this
    return breaths, {"breaths_per_min": 60.0 / period, "ie_ratio": ie}


def _breath_noise(rng, n, sr, breaths):
    bronchial = rng.random() < 0.2
    corner = rng.uniform(250, 500) if bronchial else rng.uniform(100, 300)
    order = rng.uniform(1.5, 3.0)
    noise = _shaped_noise(rng, n, sr, lambda f: 1.0 / np.sqrt(1 + (f / corner) ** (2 * order)))
    t = np.arange(n) / sr
    env = np.full(n, 0.03)
    exp_level = rng.uniform(0.5, 1.0) if bronchial else rng.uniform(0.1, 0.6)
    for start, mid, end in breaths:
        insp = (t >= start) & (t < mid)
        env[insp] = np.maximum(env[insp], np.sin(np.pi * (t[insp] - start) / (mid - start)) ** 0.7)
        expi = (t >= mid) & (t < end)
        phase = (t[expi] - mid) / (end - mid)
        env[expi] = np.maximum(env[expi], exp_level * np.clip(1.5 * (1 - phase), 0, 1) * np.sin(np.pi * np.clip(phase * 2, 0, 1)) ** 0.5)
    return noise * env, {"bronchial": bool(bronchial), "corner_hz": corner}


def _add_crackles(rng, x, sr, breaths, kind, breath_rms):
    events = []
    rate = rng.uniform(1, 15) if kind == "fine" else rng.uniform(1, 4)
    level_db = rng.uniform(3, 26)
    for start, mid, end in breaths:
        if rng.random() < 0.1:
            continue
        for _ in range(min(rng.poisson(rate), 25 if kind == "fine" else 6)):
            if kind == "fine":
                onset = start + (mid - start) * rng.beta(5, 2) if rng.random() < 0.9 else mid + (end - mid) * rng.beta(2, 5)
                idw, two_cd = rng.uniform(0.4e-3, 1.1e-3), rng.uniform(3e-3, 9.5e-3)
            else:
                onset = start + (mid - start) * rng.beta(2, 5) if rng.random() < 0.6 else mid + (end - mid) * rng.beta(2, 4)
                idw, two_cd = rng.uniform(1.1e-3, 2.5e-3), rng.uniform(9.5e-3, 16e-3)
            wave = crackle_waveform(idw_s=idw, two_cd_s=max(two_cd, 4.5 * idw), sample_rate=sr,
                                    polarity=rng.choice([-1.0, 1.0]))
            i = int(onset * sr)
            if i < 0 or i + len(wave) >= len(x):
                continue
            amp = breath_rms * 10 ** ((level_db + rng.normal(0, 3)) / 20)
            x[i : i + len(wave)] += amp * wave
            events.append(Crackle(onset_s=i / sr, duration_s=len(wave) / (2 * sr), kind=kind))
    return events


def _add_wheezes(rng, x, sr, breaths, ref_rms):
    t_all = len(x) / sr
    for _ in range(rng.integers(1, 4)):
        start, mid, end = breaths[rng.integers(len(breaths))]
        dur = rng.uniform(0.1, 1.0)
        onset = mid + rng.uniform(0, max(end - mid - dur, 0.01)) if rng.random() < 0.7 else start + rng.uniform(0, max(mid - start - dur, 0.01))
        if onset < 0 or onset + dur > t_all:
            continue
        t = np.arange(int(dur * sr)) / sr
        f0 = rng.uniform(100, 1000) * (1 + rng.uniform(-0.2, 0.2) * t / dur)
        phase = 2 * np.pi * np.cumsum(f0) / sr
        tone = sum(rng.uniform(0, 0.5) ** k * np.sin((k + 1) * phase) for k in range(3) if (k + 1) * f0.max() < sr / 2)
        i = int(onset * sr)
        x[i : i + len(t)] += ref_rms * 10 ** (rng.uniform(-6, 15) / 20) * tone * np.hanning(len(t))


def _transient(rng, sr, f_lo, f_hi, dur):
    t = np.arange(int(dur * sr)) / sr
    wave = sum(np.sin(2 * np.pi * rng.uniform(f_lo, f_hi) * t + rng.uniform(0, 6.3)) for _ in range(3))
    return wave * np.sin(np.pi * t / dur) ** 2


def _add_heart(rng, x, sr, ref_rms):
    beat = 60.0 / rng.uniform(50, 110)
    amp = ref_rms * 10 ** (rng.uniform(-10, 12) / 20)
    t = rng.uniform(0, beat)
    while t < len(x) / sr - 0.5:
        for offset, (lo, hi, dur, rel) in ((0.0, (30, 100, rng.uniform(0.1, 0.15), 1.0)),
                                           (0.3 * beat ** 0.5, (50, 150, rng.uniform(0.08, 0.12), rng.uniform(0.5, 1.0)))):
            wave = _transient(rng, sr, lo, hi, dur)
            i = int((t + offset) * sr)
            x[i : i + len(wave)] += amp * rel * wave[: len(x) - i]
        t += beat * rng.uniform(0.95, 1.05)


def _add_handling(rng, x, sr, ref_rms):
    n = len(x)
    for _ in range(rng.integers(1, 5)):
        choice = rng.random()
        if choice < 0.5:  # rub: broadband burst
            dur = rng.uniform(0.05, 0.5)
            m = int(dur * sr)
            wave = _shaped_noise(rng, m, sr, lambda f: (f > 80) / np.sqrt(1 + (f / 1500) ** 4)) * np.hanning(m)
        elif choice < 0.8:  # thump: low-frequency knock
            wave = _transient(rng, sr, 15, 80, rng.uniform(0.03, 0.1))
        else:  # isolated click: a single sharp transient, not tied to breathing
            wave = crackle_waveform(idw_s=rng.uniform(0.2e-3, 1e-3), two_cd_s=rng.uniform(5e-3, 12e-3), sample_rate=sr)
        i = rng.integers(0, max(n - len(wave), 1))
        x[i : i + len(wave)] += ref_rms * 10 ** (rng.uniform(5, 25) / 20) * wave[: n - i]


def _ambient(rng, n, sr):
    kind = rng.choice(["white", "pink", "brown", "babble", "hum"], p=[0.3, 0.25, 0.15, 0.2, 0.1])
    if kind == "babble":
        t = np.arange(n) / sr
        f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        voice = sum(np.sin(k * phase) / k for k in range(1, int(1800 / f0.max()) + 1))
        gate = np.sin(2 * np.pi * rng.uniform(2, 6) * t + rng.uniform(0, 6.3)) > 0
        x = voice * gate + 0.3 * _shaped_noise(rng, n, sr, lambda f: 1.0 / (1 + f / 500))
    elif kind == "hum":
        t = np.arange(n) / sr
        mains = rng.choice([50.0, 60.0])
        x = sum(np.sin(2 * np.pi * mains * k * t) / k for k in range(1, 4)) + 0.3 * rng.standard_normal(n)
    else:
        power = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]
        x = _shaped_noise(rng, n, sr, lambda f: 1.0 / np.maximum(f, 20.0) ** power)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12), str(kind)


def colour(rng, x, sr):
    """Random stethoscope/device frequency response applied to a signal."""
    n = len(x)
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    points = np.array([25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600])
    gains_db = np.cumsum(rng.normal(0, 4, len(points))) - rng.normal(0, 4)
    gain = 10 ** (np.interp(np.log2(np.maximum(freqs, 1)), np.log2(points), gains_db) / 20)
    gain /= np.sqrt(1 + (rng.uniform(20, 120) / np.maximum(freqs, 1)) ** 4)
    if rng.random() < 0.5:
        gain /= np.sqrt(1 + (freqs / rng.uniform(400, 2000)) ** (2 * rng.integers(2, 5)))
    return np.fft.irfft(np.fft.rfft(x) * gain, n)


def synthesize(rng, *, duration_s, crackles=None, kind=None, snr_db_range=(0.0, 30.0)):
    """Draw one synthetic recording.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random choice (seeded by the caller for reproducibility).
    duration_s : float, keyword-only
        Length in seconds, > 0.5.
    crackles : bool or None, keyword-only
        Whether crackles are present; None draws it with probability 0.5.
    kind : {"fine", "coarse", "mixed"} or None, keyword-only
        Crackle type for a positive recording; None draws fine 70 %, coarse 20 %, mixed 10 %.
    snr_db_range : (float, float), keyword-only
        Range of the lung-sound to ambient-noise ratio in dB (default 0-30).

    Returns
    -------
    SyntheticRecording

    Examples
    --------
    >>> rec = synthesize(np.random.default_rng(0), duration_s=8.0, crackles=True, kind="fine")
    >>> rec.sample_rate, rec.samples.shape, rec.label
    (4000, (32000,), 1)
    """
    if not duration_s > 0.5:
        raise AudioError(f"duration_s must be > 0.5, got {duration_s}")
    if crackles is None:
        crackles = bool(rng.random() < 0.5)
    if kind is None:
        kind = rng.choice(["fine", "coarse", "mixed"], p=[0.7, 0.2, 0.1])
    sr = int(rng.choice(SOURCE_RATES, p=SOURCE_RATE_WEIGHTS))
    n = int(round(duration_s * sr))
    breaths, params = _breath_schedule(rng, duration_s)
    x, breath_params = _breath_noise(rng, n, sr, breaths)
    params.update(breath_params, source_rate=sr)
    breath_rms = float(np.sqrt(np.mean(x**2)))
    events = []
    if crackles:
        for k in (["fine", "coarse"] if kind == "mixed" else [kind]):
            events += _add_crackles(rng, x, sr, breaths, k, breath_rms)
        params["crackle_kind"] = str(kind)
    distractors = {"wheeze": rng.random() < 0.35, "heart": rng.random() < 0.6, "handling": rng.random() < 0.35}
    if distractors["wheeze"]:
        _add_wheezes(rng, x, sr, breaths, breath_rms)
    if distractors["heart"]:
        _add_heart(rng, x, sr, breath_rms)
    if distractors["handling"]:
        _add_handling(rng, x, sr, breath_rms)
    snr_db = rng.uniform(*snr_db_range)
    noise, params["ambient"] = _ambient(rng, n, sr)
    x = x + noise * np.sqrt(np.mean(x**2)) * 10 ** (-snr_db / 20)
    x = colour(rng, x, sr)
    x *= 10 ** (rng.uniform(-40, -8) / 20) / (np.sqrt(np.mean(x**2)) + 1e-12)
    x = np.clip(x, -1, 1)
    if rng.random() < 0.5:
        x = np.round(x * 32767) / 32767
    y = resample(x, orig_sr=sr, target_sr=MODEL_RATE)[: int(round(duration_s * MODEL_RATE))]
    params.update(snr_db=snr_db, distractors={k: bool(v) for k, v in distractors.items()})
    return SyntheticRecording(samples=y, sample_rate=MODEL_RATE, label=int(bool(events)), events=events, params=params)


def add_crackles_to_background(rng, background, *, cycles, kind="fine"):
    """Insert synthetic crackles into a real 4 kHz recording at its annotated breath cycles.

    An ICBHI cycle runs from the start of one inspiration to the next; inspiration is
    taken as the first 30-45 % of it. The crackles pass a random device colouration
    first, since the real background already carries its own stethoscope's response.

    Returns
    -------
    samples : numpy.ndarray
    events : list of Crackle
    """
    x = np.zeros(len(background))
    breaths = [(s, s + (e - s) * rng.uniform(0.3, 0.45), e) for s, e in cycles]
    events = _add_crackles(rng, x, MODEL_RATE, breaths, kind, 1.0)
    x = colour(rng, x, MODEL_RATE)
    peak = np.abs(x).max() + 1e-12
    target = np.sqrt(np.mean(np.asarray(background, dtype=np.float64) ** 2)) * 10 ** (rng.uniform(6, 24) / 20)
    return (background + x * target / peak).astype(np.float32), events
