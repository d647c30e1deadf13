"""Helpers shared by the firmware tests (a unique module name: conftest is not importable reliably)."""

import numpy as np


def noise_pcm(n_samples: int, seed: int = 0) -> np.ndarray:
    """Full-scale-ish int16 noise: every byte value occurs, zeros included."""
    return np.random.default_rng(seed).integers(-32768, 32768, n_samples, dtype=np.int16)
