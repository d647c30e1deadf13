"""Polyphase windowed-sinc resampling in plain numpy (the serving path has no scipy).

The filter and the output alignment follow ``scipy.signal.resample_poly`` with its
default Kaiser window (beta 5.0, half length ``10 * max(up, down)`` taps), so the result
matches scipy to float rounding; ``tests/audio_models/test_resample.py`` checks that.
Only the taps that meet non-zero input samples are evaluated, one filter phase at a time
as a strided matrix-vector product, so 44.1 kHz -> 4 kHz costs about 220 multiply-adds
per output sample.
"""

import math

import numpy as np

from audio_models.errors import AudioError


def lowpass_kernel(up, down, *, beta=5.0):
    """Anti-alias low-pass FIR for a rational rate change ``up/down``.

    Parameters
    ----------
    up, down : int
        Reduced interpolation and decimation factors.
    beta : float, keyword-only
        Kaiser window shape.

    Returns
    -------
    numpy.ndarray
        ``2 * 10 * max(up, down) + 1`` taps, DC gain ``up``.

    Examples
    --------
    >>> h = lowpass_kernel(1, 2)
    >>> len(h), round(float(h.sum()), 6)
    (41, 1.0)
    """
    max_rate = max(up, down)
    half_len = 10 * max_rate
    n = np.arange(2 * half_len + 1) - half_len
    cutoff = 1.0 / max_rate  # relative to Nyquist
    h = cutoff * np.sinc(cutoff * n) * np.kaiser(2 * half_len + 1, beta)
    return h / h.sum() * up


def resample(samples, *, orig_sr, target_sr):
    """Resample a 1-D signal from ``orig_sr`` to ``target_sr`` (polyphase, anti-aliased).

    Parameters
    ----------
    samples : numpy.ndarray
        1-D float signal.
    orig_sr, target_sr : int, keyword-only
        Sample rates in Hz, both > 0.

    Returns
    -------
    numpy.ndarray
        float32 signal of ``ceil(len(samples) * target_sr / orig_sr)`` samples.

    Examples
    --------
    >>> x = np.sin(2 * np.pi * 100 * np.arange(4410) / 44100)
    >>> resample(x, orig_sr=44100, target_sr=4000).shape
    (400,)
    """
    for name, rate in (("orig_sr", orig_sr), ("target_sr", target_sr)):
        if not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise AudioError(f"{name} must be a positive integer, got {rate!r}")
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise AudioError(f"resample expects a 1-D signal, got shape {x.shape}")
    g = math.gcd(int(orig_sr), int(target_sr))
    up, down = int(target_sr) // g, int(orig_sr) // g
    if up == down:
        return x.astype(np.float32)
    h = lowpass_kernel(up, down)
    half_len = (len(h) - 1) // 2
    n_taps = -(-len(h) // up)
    # phase p, tap j -> h[p + up*j]; y[m] = sum_j h[p_m + up*j] * x[i_m - j]
    poly = np.zeros(n_taps * up)
    poly[: len(h)] = h
    poly = poly.reshape(n_taps, up).T
    n_out = -(-len(x) * up // down)
    pad = n_taps
    xp = np.concatenate([np.zeros(pad), x, np.zeros(pad + down * up + 1)])
    # windows[i] = xp[i : i + n_taps]; output m reads xp[i_m + pad - n_taps + 1 : i_m + pad + 1]
    windows = np.lib.stride_tricks.sliding_window_view(xp, n_taps)
    out = np.empty(n_out)
    # outputs m = r, r + up, r + 2*up, ... share one filter phase and step ``down`` inputs
    for r in range(min(up, n_out)):
        centre = r * down + half_len
        first = centre // up + pad - n_taps + 1
        count = len(range(r, n_out, up))
        rows = windows[first : first + down * count : down]
        out[r::up] = rows @ poly[centre % up][::-1]
    return out.astype(np.float32)
