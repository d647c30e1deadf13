"""Numpy-only signal synthesis for the simulator: e-nose responses and lung-sound-like audio.

E-nose model
------------
Metal-oxide (MOX) sensors, n-type, exposed to reducing volatile organic compounds.

* Steady state follows the power law of Clifford & Tuma (Sensors and Actuators 3,
  1982/83, 233-254): ``R = R0 / (1 + A * C) ** beta``, with a per-sensor sensitivity
  ``A`` and exponent ``beta`` (0.3-0.8 for MOX).
* Transients are first order: the effective exposure relaxes towards its target with a
  rise time constant at exposure onset and a slower decay constant during purge, the
  shape whose exponential-moving-average features Vergara et al. (Sensors and
  Actuators B 166-167, 2012, 320-329) extract from MOX arrays.
* Humidity cross-sensitivity: water vapour is itself reducing, so relative humidity
  above the 40 % reference lowers R0 by a per-sensor fraction per %RH. Exhaled breath
  is near-saturated, so humidity (and temperature) rise during exposure.
* A slow linear baseline drift and 0.2 % Gaussian noise complete the signal.
"""

import numpy as np

from firmware_interface.codes import Phase

HUMIDITY_REFERENCE_PCT = 40.0


def phase_program(sample_count: int, *, exposure_start: int, purge_start: int) -> np.ndarray:
    """Phase of every sample: baseline, then exposure, then purge.

    Examples
    --------
    >>> phase_program(5, exposure_start=1, purge_start=3).tolist()
    [1, 2, 2, 3, 3]
    """
    phases = np.full(sample_count, Phase.BASELINE, dtype=np.uint8)
    phases[exposure_start:purge_start] = Phase.EXPOSURE
    phases[purge_start:] = Phase.PURGE
    return phases


def enose_response(
    phases: np.ndarray,
    *,
    sample_rate_hz: float,
    n_sensors: int,
    voc_ppm: float = 5.0,
    seed: int = 0,
) -> "dict[str, np.ndarray]":
    """Synthesise MOX sensor resistances and ambient readings for a phase sequence.

    Parameters
    ----------
    phases : np.ndarray
        Phase per sample (:class:`~firmware_interface.messages.Phase` values).
    sample_rate_hz : float
        Samples per second.
    n_sensors : int
        Number of MOX sensors.
    voc_ppm : float
        Total VOC concentration of the exhaled breath during exposure.
    seed : int
        Seed of the per-sensor parameters and the noise.

    Returns
    -------
    dict
        ``values`` (n, n_sensors) float32 resistances in kΩ, ``temperature_c``,
        ``humidity_pct`` and ``pressure_hpa`` (n,) float32.
    """
    if sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz}")
    rng = np.random.default_rng(seed)
    n = len(phases)
    exposed = (phases == Phase.EXPOSURE).astype(float)
    dt = 1.0 / sample_rate_hz
    r0 = rng.uniform(10.0, 80.0, n_sensors)
    sensitivity = rng.uniform(0.2, 1.5, n_sensors)
    beta = rng.uniform(0.3, 0.8, n_sensors)
    tau_rise = rng.uniform(3.0, 8.0, n_sensors)
    tau_decay = rng.uniform(10.0, 25.0, n_sensors)
    humidity_coeff = rng.uniform(0.002, 0.006, n_sensors)
    drift_per_s = rng.normal(0.0, 2e-4, n_sensors)

    # First-order relaxation of the effective exposure (0..1) and of breath humidity.
    level = np.zeros((n, n_sensors))
    breath = np.zeros(n)
    current = np.zeros(n_sensors)
    wet = 0.0
    for i in range(n):
        tau = np.where(exposed[i] > current, tau_rise, tau_decay)
        current = current + (exposed[i] - current) * (1.0 - np.exp(-dt / tau))
        wet += (exposed[i] - wet) * (1.0 - np.exp(-dt / 4.0))
        level[i] = current
        breath[i] = wet

    t = np.arange(n) * dt
    humidity = HUMIDITY_REFERENCE_PCT + 50.0 * breath + rng.normal(0.0, 0.3, n)
    temperature = 24.0 + 8.0 * breath + rng.normal(0.0, 0.05, n)
    pressure = 1013.0 + 0.4 * breath + rng.normal(0.0, 0.05, n)
    baseline = r0 * (1.0 - humidity_coeff * (humidity[:, None] - HUMIDITY_REFERENCE_PCT)) * (1.0 + drift_per_s * t[:, None])
    resistance = baseline / (1.0 + sensitivity * voc_ppm * level) ** beta
    resistance *= 1.0 + rng.normal(0.0, 0.002, resistance.shape)
    return {
        "values": resistance.astype(np.float32),
        "temperature_c": temperature.astype(np.float32),
        "humidity_pct": humidity.astype(np.float32),
        "pressure_hpa": pressure.astype(np.float32),
    }


def lung_sound(seconds: float, *, sample_rate_hz: int = 4000, breaths_per_min: float = 15.0, seed: int = 0) -> np.ndarray:
    """Lung-sound-like int16 PCM: band-limited noise under a breathing envelope.

    Vesicular sound is broadband noise concentrated below ~600 Hz, loudest in
    inspiration; this is a stand-in for demos, not a clinical signal.

    Parameters
    ----------
    seconds : float
        Duration.
    sample_rate_hz : int
        Output rate.
    breaths_per_min : float
        Respiratory rate of the envelope.
    seed : int
        Noise seed.

    Returns
    -------
    np.ndarray
        int16 samples.
    """
    if seconds <= 0 or sample_rate_hz <= 0:
        raise ValueError(f"seconds and sample_rate_hz must be > 0, got {seconds}, {sample_rate_hz}")
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate_hz))
    noise = rng.normal(0.0, 1.0, n)
    kernel_len = max(3, int(sample_rate_hz / 600))
    smoothed = np.convolve(noise, np.ones(kernel_len) / kernel_len, mode="same")
    t = np.arange(n) / sample_rate_hz
    envelope = 0.2 + 0.8 * np.clip(np.sin(2 * np.pi * breaths_per_min / 60.0 * t), 0.0, None)
    signal = smoothed * envelope
    return np.clip(signal / (np.abs(signal).max() + 1e-12) * 12000, -32768, 32767).astype(np.int16)
