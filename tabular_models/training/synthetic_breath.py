"""SYNTHETIC e-nose readings of CTD patients with and without ILD. Not patient data.

Every reading is simulated as a full time series (baseline -> exposure -> purge -> reference)
and goes through the same processing as a real one (``tabular_models.breath_signal``), so the
model learns from features computed exactly as at the clinic.

Sensor model: a metal-oxide sensor's signal is its ambient level times
``(1 + sum_k S_ik c_k(t))`` times a humidity/temperature cross-sensitivity term, times a slow
linear drift; concentrations ``c_k`` follow first-order kinetics (rise in exposure, decay in
purge). Six latent VOC classes stand for the compound families reported in breath studies:

- carbonyls (aldehydes, ketones) and alkanes (lipid peroxidation products) are higher in
  fibrotic ILD: Taylor et al., "Carbonyl breath VOCs ... IPF vs CTD-ILD", 2024 (AUC 0.877);
  Yamada et al., J Breath Res 2017 (oxidative-stress VOCs in ILD); the SpiroNose separated ILD
  from other lung diseases with test AUC 0.99 (van der Sar et al., 2023), which is pattern
  separation across a sensor array, modelled here as a shift in several VOC classes at once;
- aromatics rise with smoking (benzene, toluene; Filipiak et al. 2012), which overlaps the
  carbonyl channel a little (a confounder);
- ammonia-like compounds rise with renal disease (Davies et al. 1997), acetone with steroid-
  induced hyperglycaemia, alcohols with diet (noise);
- infection raises alkanes and carbonyls modestly (airway inflammation, another confounder).

Device effects: every board has the same sensor types (one fixed design), with per-board
spread of selectivity (lognormal sd 0.15), gains (ageing: lognormal sd 0.25), humidity
cross-sensitivity 0.4-1.8 %/%RH by sensor type (Wang et al., Sensors 2010; per-board spread
sd 0.15), drift up to 0.1 %/s; ambient humidity 20-80 %RH, exhaled humidity 85-98 %RH.

Effect sizes are drawn per site from ranges, and each cohort mixes several sites, so the
model cannot learn one exact magnitude. Every row is flagged ``synthetic``.
"""
from __future__ import annotations

import numpy as np

from tabular_models.breath_signal import breath_feature_names, breath_features, check_breath_quality

N_SENSORS = 8
VOC_CLASSES = ("carbonyl", "alkane", "aromatic", "ammonia", "acetone", "alcohol")
SAMPLE_RATE_HZ = 2.0
PHASE_SECONDS = (("baseline", 30.0), ("exposure", 20.0), ("purge", 40.0), ("reference", 10.0))
FULL_SCALE = 4095.0
# Log-concentration shifts (in SD units of between-person variation), ranges sampled per site.
ILD_EFFECTS = {"carbonyl": (0.7, 1.3), "alkane": (0.4, 1.0)}
SMOKING_EFFECTS = {"aromatic": (0.8, 1.5), "carbonyl": (0.1, 0.4)}
INFECTION_EFFECTS = {"alkane": (0.2, 0.6), "carbonyl": (0.1, 0.4)}
RENAL_EFFECTS = {"ammonia": (0.8, 1.5)}
STEROID_EFFECTS = {"acetone": (0.3, 0.8)}


def _board_design() -> np.ndarray:
    """Selectivity to the VOC classes and humidity cross-sensitivity of the board's sensor types.

    One design for every board. Each sensor is most sensitive to one class and cross-sensitive to the others, as the
    metal-oxide sensors of an e-nose array are chosen.
    """
    design = np.random.default_rng(2023)
    selectivity = design.gamma(1.0, 1.0, size=(N_SENSORS, len(VOC_CLASSES)))
    for sensor in range(N_SENSORS):
        selectivity[sensor, sensor % len(VOC_CLASSES)] += 3.0
    humidity = design.uniform(0.004, 0.018, size=N_SENSORS)
    return 0.06 * selectivity / selectivity.sum(axis=1, keepdims=True) * len(VOC_CLASSES), humidity


BOARD_SELECTIVITY, BOARD_HUMIDITY_COEFFICIENT = _board_design()


def device_profile(rng: np.random.Generator) -> dict:
    """One e-nose board of that design: its own sensor spread, gains, cross-sensitivities and drift."""
    return {
        "sensitivity": BOARD_SELECTIVITY * rng.lognormal(0.0, 0.15, size=BOARD_SELECTIVITY.shape),
        "level": rng.uniform(200.0, 700.0, size=N_SENSORS),
        "gain": rng.lognormal(0.0, 0.25, size=N_SENSORS),
        "humidity_coefficient": BOARD_HUMIDITY_COEFFICIENT * rng.lognormal(0.0, 0.15, size=N_SENSORS),
        "temperature_coefficient": rng.uniform(-0.015, -0.005, size=N_SENSORS),
        "drift_per_s": rng.uniform(-1e-3, 1e-3, size=N_SENSORS),
    }


def simulate_reading(
    rng: np.random.Generator, *, concentrations: np.ndarray, device: dict, ambient_humidity: float = 45.0,
    breath_humidity: float = 92.0, temperature_c: float = 32.0, warmup_drift: float = 0.0,
    breath_delivered: bool = True,
) -> dict:
    """One reading (in the ``breath_io`` dict form) for VOC concentrations on a device.

    ``warmup_drift`` adds an exponentially settling heater transient (fraction of level);
    ``breath_delivered=False`` keeps ambient air in the chamber throughout.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> reading = simulate_reading(rng, concentrations=np.ones(6), device=device_profile(rng))
    >>> reading["sensors"].shape
    (200, 8)
    """
    phases = np.concatenate([[name] * int(seconds * SAMPLE_RATE_HZ) for name, seconds in PHASE_SECONDS])
    t = np.arange(phases.size) / SAMPLE_RATE_HZ
    exposed = (phases == "exposure") & breath_delivered
    exposure_start = t[phases == "exposure"][0]
    exposure_end = t[phases == "exposure"][-1]
    tau_rise, tau_decay = rng.uniform(2.0, 6.0), rng.uniform(4.0, 12.0)
    kinetics = np.where(
        exposed, 1 - np.exp(-(t - exposure_start) / tau_rise),
        np.where(t > exposure_end, (1 - np.exp(-(exposure_end - exposure_start) / tau_rise))
                 * np.exp(-(t - exposure_end) / tau_decay), 0.0),
    ) * breath_delivered
    voc_response = kinetics[:, None] * (concentrations @ device["sensitivity"].T)[None, :]
    humidity = ambient_humidity + (breath_humidity - ambient_humidity) * kinetics
    temperature = temperature_c + 1.0 * kinetics + rng.normal(0, 0.05, t.size)
    environment = (1 + device["humidity_coefficient"][None, :] * (humidity - ambient_humidity)[:, None]
                   + device["temperature_coefficient"][None, :] * (temperature - temperature_c)[:, None])
    drift = 1 + device["drift_per_s"][None, :] * t[:, None]
    warmup = 1 + warmup_drift * np.exp(-t / 20.0)[:, None]
    level = device["level"] * device["gain"]
    signal = level[None, :] * (1 + voc_response) * environment * drift * warmup
    signal *= 1 + rng.normal(0, 0.002, signal.shape)
    return {
        "t_s": t, "phase": phases, "sensors": np.clip(signal, 0.0, FULL_SCALE),
        "temperature_c": temperature, "humidity_pct": humidity + rng.normal(0, 0.3, t.size),
        "pressure_hpa": 1013.0 + rng.normal(0, 0.2, t.size), "full_scale": FULL_SCALE,
    }


def _shift(rng: np.random.Generator, effects: dict, present: np.ndarray) -> np.ndarray:
    shift = np.zeros((present.size, len(VOC_CLASSES)))
    for voc, (low, high) in effects.items():
        shift[:, VOC_CLASSES.index(voc)] = rng.uniform(low, high) * present
    return shift


def make_breath_cohort(n: int, *, seed: int, prevalence: float = 0.3, n_sites: int = 32) -> dict:
    """A SYNTHETIC cohort: ``{"X", "y", "feature_names", "confounders", "synthetic": True, ...}``.

    Readings that fail the quality checks are dropped (as at the clinic, where they are
    repeated); ``n_dropped`` says how many.

    Examples
    --------
    >>> cohort = make_breath_cohort(16, seed=1, n_sites=2)
    >>> cohort["X"].shape[1], cohort["synthetic"]
    (33, True)
    """
    rng = np.random.default_rng(seed)
    site = rng.integers(0, n_sites, size=n)
    y = (rng.random(n) < prevalence).astype(np.int64)
    confounders = {
        "smoking": (rng.random(n) < 0.25).astype(float), "infection": (rng.random(n) < 0.10).astype(float),
        "renal_disease": (rng.random(n) < 0.10).astype(float), "steroids": (rng.random(n) < 0.30).astype(float),
        "age": rng.uniform(55, 90, n),
    }
    log_concentration = rng.normal(0.0, 0.6, size=(n, len(VOC_CLASSES)))
    log_concentration += 0.01 * (confounders["age"] - 70)[:, None]
    features, kept = [], []
    for s in range(n_sites):
        rows = np.flatnonzero(site == s)
        device = device_profile(rng)
        for effects, key in ((ILD_EFFECTS, None), (SMOKING_EFFECTS, "smoking"), (INFECTION_EFFECTS, "infection"),
                             (RENAL_EFFECTS, "renal_disease"), (STEROID_EFFECTS, "steroids")):
            present = y[rows] if key is None else confounders[key][rows]
            log_concentration[rows] += _shift(rng, effects, present)
        for row in rows:
            reading = simulate_reading(
                rng, concentrations=np.exp(log_concentration[row]), device=device,
                ambient_humidity=rng.uniform(20, 80), breath_humidity=rng.uniform(85, 98),
                temperature_c=rng.uniform(28, 38),
            )
            if not check_breath_quality(reading)["ok"]:
                continue
            values = breath_features(reading)
            features.append([values[name] for name in breath_feature_names(N_SENSORS)])
            kept.append(row)
    kept = np.asarray(kept, dtype=np.int64)
    return {
        "X": np.asarray(features, dtype=np.float64).reshape(-1, 4 * N_SENSORS + 1), "y": y[kept],
        "feature_names": breath_feature_names(N_SENSORS),
        "confounders": {key: value[kept] for key, value in confounders.items()},
        "n_dropped": int(n - kept.size), "seed": seed, "prevalence": float(np.mean(y[kept])) if kept.size else 0.0,
        "synthetic": True, "generator": "tabular_models.training.synthetic_breath.make_breath_cohort",
    }
