"""Cutting a recording into model windows and putting window outputs back together.

Serving module: numpy only. Shared by evaluation and by the edge service, so a metric
measured in training is the number the clinic gets.
"""

import numpy as np

from audio_models.errors import AudioError

WINDOW_S = 4.0
HOP_S = 2.0
#: Recording score = mean of the highest ``TOP_K`` window probabilities. Crackles of
#: fibrotic ILD recur in every breath (Vyshedskiy et al., Chest 2009), so a true finding
#: shows in more than one window, while a single window lit by one artefact is halved.
TOP_K = 2


def split_windows(samples, *, sample_rate, window_s=WINDOW_S, hop_s=HOP_S):
    """Cut a signal into overlapping fixed-length windows covering all of it.

    The last window is aligned to the end of the recording; a recording shorter than
    one window is zero-padded into a single window.

    Parameters
    ----------
    samples : numpy.ndarray
        1-D signal.
    sample_rate : int, keyword-only
    window_s, hop_s : float, keyword-only
        Window length and step in seconds, ``0 < hop_s <= window_s``.

    Returns
    -------
    windows : numpy.ndarray
        float32 array ``(n_windows, window_s * sample_rate)``.
    starts_s : numpy.ndarray
        Start time of each window in seconds.

    Examples
    --------
    >>> w, starts = split_windows(np.zeros(4000 * 9), sample_rate=4000)
    >>> w.shape, starts.tolist()
    ((4, 16000), [0.0, 2.0, 4.0, 5.0])
    """
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"sample rate must be a positive integer, got {sample_rate!r}")
    if not 0 < hop_s <= window_s:
        raise AudioError(f"need 0 < hop_s <= window_s, got hop_s={hop_s}, window_s={window_s}")
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise AudioError(f"split_windows expects a 1-D signal, got shape {x.shape}")
    length = int(round(window_s * sample_rate))
    hop = int(round(hop_s * sample_rate))
    if len(x) <= length:
        return np.pad(x, (0, length - len(x)))[None, :], np.zeros(1)
    starts = list(range(0, len(x) - length + 1, hop))
    if starts[-1] + length < len(x):
        starts.append(len(x) - length)
    windows = np.stack([x[s : s + length] for s in starts])
    return windows, np.asarray(starts, dtype=np.float64) / sample_rate


def aggregate_windows(window_probabilities, *, top_k=TOP_K):
    """Recording-level crackle probability: the mean of the ``top_k`` highest windows.

    Examples
    --------
    >>> aggregate_windows([0.1, 0.9, 0.7, 0.2])
    0.8
    """
    p = np.sort(np.asarray(window_probabilities, dtype=np.float64))[::-1]
    if p.size == 0:
        raise AudioError("no window probabilities to aggregate")
    if top_k < 1:
        raise AudioError(f"top_k must be >= 1, got {top_k}")
    return round(float(p[:top_k].mean()), 6)


def stitch_frame_map(frame_probabilities, starts_s, *, frame_s, duration_s):
    """Overlay per-window frame maps onto the recording's timeline, averaging overlaps.

    Parameters
    ----------
    frame_probabilities : numpy.ndarray
        ``(n_windows, n_frames)`` per-frame crackle probabilities.
    starts_s : array-like
        Window start times in seconds.
    frame_s : float, keyword-only
        Duration of one frame in seconds.
    duration_s : float, keyword-only
        Recording duration in seconds.

    Returns
    -------
    numpy.ndarray
        One value per ``frame_s`` of the recording.

    Examples
    --------
    >>> stitch_frame_map(np.array([[0.0, 1.0], [1.0, 0.5]]), [0.0, 1.0], frame_s=1.0, duration_s=3.0).tolist()
    [0.0, 1.0, 0.5]
    """
    frames = np.asarray(frame_probabilities, dtype=np.float64)
    n_total = max(int(np.ceil(duration_s / frame_s - 1e-9)), 1)
    total = np.zeros(n_total)
    count = np.zeros(n_total)
    for row, start in zip(frames, starts_s):
        first = int(round(start / frame_s))
        stop = min(first + len(row), n_total)
        if stop > first:
            total[first:stop] += row[: stop - first]
            count[first:stop] += 1
    return np.divide(total, count, out=np.zeros(n_total), where=count > 0)
