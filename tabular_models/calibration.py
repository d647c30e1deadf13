"""Applying a model's probability calibration at the edge, identically to training.

The shipped ONNX graph outputs the classifier's raw probability. Calibration is an isotonic
regression fitted on a held-out split at training time; it is stored in the manifest as its
knots (``x`` ascending raw probabilities, ``y`` calibrated ones) and applied here by linear
interpolation, clipped at the ends: exactly what ``sklearn.isotonic.IsotonicRegression(
out_of_bounds="clip").predict`` computes, which a test checks.
"""
from __future__ import annotations

import numpy as np


def apply_calibration(raw_probability: np.ndarray, *, knots_x: list, knots_y: list) -> np.ndarray:
    """Calibrated probabilities for raw ones.

    Raises
    ------
    ValueError
        When the knots are empty, of different lengths, or ``knots_x`` is not ascending.

    Examples
    --------
    >>> apply_calibration(np.array([0.0, 0.25, 0.9]), knots_x=[0.1, 0.5], knots_y=[0.2, 0.6]).tolist()
    [0.2, 0.35, 0.6]
    """
    x, y = np.asarray(knots_x, dtype=np.float64), np.asarray(knots_y, dtype=np.float64)
    if x.size == 0 or x.shape != y.shape:
        raise ValueError(f"calibration needs matching non-empty knots, got {x.size} x and {y.size} y")
    if np.any(np.diff(x) < 0):
        raise ValueError("calibration knots_x must be ascending")
    return np.interp(np.asarray(raw_probability, dtype=np.float64), x, y)
