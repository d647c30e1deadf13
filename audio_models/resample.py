"""Polyphase windowed-sinc resampling in plain numpy (the serving path has no scipy).

The filter and the output alignment follow ``scipy.signal.resample_poly`` with its
default Kaiser window (beta 5.0, half length ``10 * max(up, down)`` taps), so the result
matches scipy to float rounding; ``tests/audio_models/test_audio_resample.py`` checks that.
Only the taps that meet non-zero input samples are evaluated, one filter phase at a time
as a strided matrix-vector product, so 44.1 kHz -> 4 kHz costs about 220 multiply-adds
per output sample.

Memory does not depend on how many factors the two rates share: a rate such as 44,101 Hz
(no common factor with 4 kHz, so 4000 phases of a 882,021-tap filter) once padded the input
by ``up * down`` samples (1.3 GiB). Now each phase's taps come from the window formula (kept
as one table only while small), and outputs are produced in blocks that each copy only the
input they read. Working memory is the output plus a 16 MB segment plus at most a
32 MB phase table, whatever the rates and the input's length.
"""

import math

import numpy as np

from audio_models.errors import AudioError

#: Input samples (float64) one block of outputs reads: 16 MB of working copy per block.
_SEGMENT_SAMPLES = 1 << 21
#: Largest phase table kept whole (float64 taps): 32 MB, enough for any rate to 200 kHz.
_TAPS_TABLE_MAX = 1 << 22
#: Taps evaluated per step when summing the whole filter for its DC gain.
_SUM_CHUNK = 1 << 18


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
    length = 2 * 10 * max_rate + 1
    h = _kernel_values(np.arange(length), max_rate, length, beta)
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
    x = np.asarray(samples)  # converted to float64 a block at a time, never whole
    if x.ndim != 1:
        raise AudioError(f"resample expects a 1-D signal, got shape {x.shape}")
    g = math.gcd(int(orig_sr), int(target_sr))
    up, down = int(target_sr) // g, int(orig_sr) // g
    if up == down:
        return x.astype(np.float32)
    max_rate = max(up, down)
    half_len = 10 * max_rate
    length = 2 * half_len + 1
    n_taps = -(-length // up)
    scale = up / _kernel_sum(max_rate, length)
    phase_taps = _PhaseTaps(up, n_taps, max_rate, length, scale)
    n_out = -(-len(x) * up // down)
    out = np.empty(n_out)
    # Output m is centred on input (m*down + half_len) / up and reads the n_taps inputs up to
    # there. Outputs go in blocks of whole phase cycles; each block copies only the input
    # samples it reads (zero outside the signal) into a float64 segment.
    per_phase = max(1, _SEGMENT_SAMPLES // down)
    for block_start in range(0, n_out, up * per_phase):
        block_stop = min(n_out, block_start + up * per_phase)
        lo = (block_start * down + half_len) // up - n_taps + 1
        hi = ((block_stop - 1) * down + half_len) // up + 1
        segment = _segment(x, lo, hi)
        windows = np.lib.stride_tricks.sliding_window_view(segment, n_taps)
        # outputs m = r, r + up, r + 2*up, ... share one filter phase and step ``down`` inputs
        for m0 in range(block_start, min(block_start + up, block_stop)):
            centre = m0 * down + half_len
            first = centre // up - n_taps + 1 - lo
            count = len(range(m0, block_stop, up))
            out[m0:block_stop:up] = windows[first : first + down * count : down] @ phase_taps(centre % up)
    return out.astype(np.float32)


def _segment(x, lo, hi):
    """``x[lo:hi]`` as float64, with zeros where the range runs past either end."""
    segment = np.zeros(hi - lo)
    start, stop = max(lo, 0), min(hi, len(x))
    if start < stop:
        segment[start - lo : stop - lo] = x[start:stop]
    return segment


class _PhaseTaps:
    """The reversed, normalised taps of one filter phase, ``h[phase + up*j]`` for j < n_taps.

    Kept as one table when it is small (any rate up to a few hundred kHz), else computed per
    call, so a rate pair without common factors never makes a filter of unbounded size.
    """

    def __init__(self, up, n_taps, max_rate, length, scale):
        self.up, self.n_taps, self.max_rate, self.length, self.scale = up, n_taps, max_rate, length, scale
        self.table = None
        if up * n_taps <= _TAPS_TABLE_MAX:
            self.table = np.stack([self._compute(phase) for phase in range(up)])

    def __call__(self, phase):
        return self.table[phase] if self.table is not None else self._compute(phase)

    def _compute(self, phase):
        n = phase + self.up * np.arange(self.n_taps)
        taps = np.zeros(self.n_taps)
        inside = n < self.length
        taps[inside] = _kernel_values(n[inside], self.max_rate, self.length)
        return taps[::-1] * self.scale


def _kernel_values(n, max_rate, length, beta=5.0):
    """Unnormalised taps ``n`` (indices into the full kernel) of :func:`lowpass_kernel`."""
    half_len = (length - 1) // 2
    cutoff = 1.0 / max_rate  # relative to Nyquist
    offset = n - half_len
    # np.kaiser(length, beta)[n], evaluated only at the requested taps
    ratio = offset / half_len
    window = np.i0(beta * np.sqrt(np.clip(1.0 - ratio * ratio, 0.0, None))) / np.i0(beta)
    return cutoff * np.sinc(cutoff * offset) * window


def _kernel_sum(max_rate, length):
    """Sum of the unnormalised kernel, in chunks so the kernel is never held whole."""
    total = 0.0
    for start in range(0, length, _SUM_CHUNK):
        total += float(_kernel_values(np.arange(start, min(length, start + _SUM_CHUNK)), max_rate, length).sum())
    return total
