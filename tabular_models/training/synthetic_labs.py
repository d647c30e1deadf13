"""SYNTHETIC CBC + CMP panels of CTD patients with and without ILD. Not patient data.

Directions and rough magnitudes follow published CTD-ILD cohorts; each magnitude is drawn per
site from a range around the published value, so no single number is learnt:

- KL-6 markedly higher in ILD (median ~1,000 vs ~300 U/mL; Ohnishi et al., AJRCCM 2002;
  Lee et al., meta-analysis, Clin Rheumatol 2019): log shift 0.8-1.4.
- LDH higher in ILD (~+15-30 %; Mueller et al., Lung 2024, CMP + CBC, AUC 0.893 IPF vs CTD-ILD;
  Fan et al. 2020): log shift 0.12-0.25.
- Neutrophil/lymphocyte ratio higher (neutrophils up, lymphocytes down; Zhang et al., "NLR
  in CTD-ILD", meta-analysis 2022); CBC + lipids random forest separated ILD from non-ILD
  with AUC 0.885 (0.849 external).
- RDW higher (~+0.5-1.2 %; Wang et al. 2020), albumin lower (~2-5 g/L), CRP and ESR higher
  (log shifts 0.2-0.5), platelets modestly higher.

Confounders (prevalence and effects also drawn): infection raises CRP (x3-8), ESR and WBC /
neutrophils; glucocorticoids raise neutrophils and glucose and lower lymphocytes and
eosinophils; renal disease raises creatinine and urea (x2-3) and potassium, lowers Hgb and
bicarbonate; smoking raises WBC and Hct; age raises creatinine, urea, RDW and lowers Hgb and
albumin; male sex raises Hgb (+13 g/L) and creatinine (+20 umol/L). Every site has its own
analyser calibration offsets (1-4 % per analyte) and its own missingness: CMP-only or
CBC-only panels, no differential, LDH/CRP/ESR often and KL-6 usually not measured.
"""
from __future__ import annotations

import numpy as np

from tabular_models.lab_panels import LAB_FEATURES, derived_features

# Healthy elderly means and between-person SDs in SI units: (mean, sd, log-normal?)
BASE = {
    "wbc": (6.5, 0.25, True), "rbc": (4.5, 0.4, False), "hgb": (135.0, 12.0, False), "hct": (0.41, 0.035, False),
    "mcv": (90.0, 5.0, False), "platelets": (250.0, 0.25, True), "rdw": (13.5, 1.0, False),
    "neutrophils": (4.0, 0.3, True), "lymphocytes": (1.8, 0.3, True), "monocytes": (0.5, 0.3, True),
    "eosinophils": (0.15, 0.6, True), "sodium": (140.0, 2.5, False), "potassium": (4.3, 0.4, False),
    "chloride": (103.0, 2.5, False), "bicarbonate": (25.0, 2.5, False), "urea": (6.0, 0.3, True),
    "creatinine": (80.0, 0.2, True), "glucose": (5.6, 0.2, True), "calcium": (2.35, 0.1, False),
    "total_protein": (70.0, 5.0, False), "albumin": (40.0, 3.5, False), "bilirubin": (9.0, 0.4, True),
    "alp": (80.0, 0.3, True), "ast": (22.0, 0.3, True), "alt": (20.0, 0.4, True), "ldh": (190.0, 0.2, True),
    "crp": (3.0, 1.0, True), "esr": (18.0, 0.6, True), "kl6": (300.0, 0.45, True),
}
# ILD effect ranges: log shift for log-normal analytes, additive shift otherwise.
ILD_EFFECTS = {
    "kl6": (0.8, 1.4), "ldh": (0.12, 0.25), "neutrophils": (0.08, 0.2), "lymphocytes": (-0.25, -0.1),
    "rdw": (0.5, 1.2), "albumin": (-5.0, -2.0), "crp": (0.2, 0.5), "esr": (0.2, 0.5), "platelets": (0.03, 0.1),
    "hgb": (-5.0, 0.0),
}
CBC = ("wbc", "rbc", "hgb", "hct", "mcv", "platelets", "rdw", "neutrophils", "lymphocytes", "monocytes", "eosinophils")
DIFFERENTIAL = ("neutrophils", "lymphocytes", "monocytes", "eosinophils")
CMP = ("sodium", "potassium", "chloride", "bicarbonate", "urea", "creatinine", "glucose", "calcium",
       "total_protein", "albumin", "bilirubin", "alp", "ast", "alt")
OPTIONAL_MEASURED = {"ldh": (0.3, 0.8), "crp": (0.5, 0.9), "esr": (0.3, 0.7), "kl6": (0.05, 0.35)}


def _shift(values: dict, key: str, amount: np.ndarray) -> None:
    if BASE[key][2]:
        values[key] = values[key] * np.exp(amount)
    else:
        values[key] = values[key] + amount


def _confounders(rng: np.random.Generator, n: int) -> dict:
    return {
        "age": rng.uniform(55, 90, n), "male": (rng.random(n) < 0.3).astype(float),
        "smoking": (rng.random(n) < rng.uniform(0.1, 0.3)).astype(float),
        "infection": (rng.random(n) < rng.uniform(0.05, 0.15)).astype(float),
        "steroids": (rng.random(n) < rng.uniform(0.2, 0.45)).astype(float),
        "renal_disease": (rng.random(n) < rng.uniform(0.05, 0.15)).astype(float),
    }


def _site_panels(rng: np.random.Generator, y: np.ndarray) -> tuple[dict, dict]:
    n = y.size
    c = _confounders(rng, n)
    values = {}
    for key, (mean, sd, lognormal) in BASE.items():
        values[key] = mean * np.exp(rng.normal(0, sd, n)) if lognormal else rng.normal(mean, sd, n)
    for key, (low, high) in ILD_EFFECTS.items():
        _shift(values, key, rng.uniform(low, high) * y * rng.lognormal(0, 0.3, n))
    age = (c["age"] - 70) / 10
    for key, per_decade in (("creatinine", 0.06), ("urea", 0.08), ("rdw", 0.3), ("hgb", -3.0), ("albumin", -1.0)):
        _shift(values, key, per_decade * age)
    for key, amount in (("hgb", 13.0), ("creatinine", 0.22), ("hct", 0.035), ("rbc", 0.4)):
        _shift(values, key, amount * c["male"])
    for key, (low, high) in (("wbc", (0.1, 0.2)), ("hct", (0.01, 0.02)), ("crp", (0.1, 0.4))):
        _shift(values, key, rng.uniform(low, high) * c["smoking"])
    for key, (low, high) in (("crp", (1.1, 2.1)), ("esr", (0.3, 0.8)), ("wbc", (0.2, 0.5)),
                             ("neutrophils", (0.3, 0.6)), ("kl6", (0.0, 0.15))):
        _shift(values, key, rng.uniform(low, high) * c["infection"])
    for key, (low, high) in (("neutrophils", (0.3, 0.6)), ("wbc", (0.15, 0.35)), ("lymphocytes", (-0.5, -0.2)),
                             ("eosinophils", (-1.0, -0.4)), ("glucose", (0.1, 0.3))):
        _shift(values, key, rng.uniform(low, high) * c["steroids"])
    for key, (low, high) in (("creatinine", (0.7, 1.1)), ("urea", (0.7, 1.1)), ("potassium", (0.2, 0.6)),
                             ("hgb", (-20.0, -8.0)), ("bicarbonate", (-4.0, -1.0))):
        _shift(values, key, rng.uniform(low, high) * c["renal_disease"])
    values["total_protein"] = values["total_protein"] + (values["albumin"] - BASE["albumin"][0])
    for key in values:  # analyser calibration offsets of this site
        values[key] = values[key] * rng.normal(1.0, rng.uniform(0.01, 0.04))
    return values, c


def _missingness(rng: np.random.Generator, values: dict) -> None:
    n = values["wbc"].size
    panel = rng.choice(3, size=n, p=rng.dirichlet([16.0, 2.0, 2.0]))  # 0 both, 1 CMP only, 2 CBC only
    no_differential = rng.random(n) < rng.uniform(0.0, 0.2)
    for key in values:
        gone = rng.random(n) < 0.02
        if key in CBC:
            gone |= panel == 1
        if key in DIFFERENTIAL:
            gone |= no_differential
        if key in CMP:
            gone |= panel == 2
        if key in OPTIONAL_MEASURED:
            gone |= rng.random(n) > rng.uniform(*OPTIONAL_MEASURED[key])
        values[key] = np.where(gone, np.nan, values[key])


def make_lab_cohort(n: int, *, seed: int, prevalence: float = 0.3, n_sites: int = 12) -> dict:
    """A SYNTHETIC cohort: ``{"X", "y", "feature_names", "confounders", "synthetic": True, ...}``.

    ``X`` holds SI values in ``LAB_FEATURES`` order (derived ratios included), NaN where not
    measured.

    Examples
    --------
    >>> cohort = make_lab_cohort(200, seed=1)
    >>> cohort["X"].shape, cohort["synthetic"]
    ((200, 33), True)
    """
    rng = np.random.default_rng(seed)
    site = rng.integers(0, n_sites, size=n)
    y = (rng.random(n) < prevalence).astype(np.int64)
    X = np.full((n, len(LAB_FEATURES)), np.nan)
    confounders = {}
    for s in range(n_sites):
        rows = np.flatnonzero(site == s)
        values, c = _site_panels(rng, y[rows])
        _missingness(rng, values)
        for row_index, row in enumerate(rows):
            present = {key: float(v[row_index]) for key, v in values.items() if np.isfinite(v[row_index])}
            present.update(derived_features(present))
            X[row] = [present.get(name, np.nan) for name in LAB_FEATURES]
        for key, value in c.items():
            confounders.setdefault(key, np.zeros(n))[rows] = value
    return {
        "X": X, "y": y, "feature_names": LAB_FEATURES, "confounders": confounders, "seed": seed,
        "prevalence": float(np.mean(y)), "synthetic": True,
        "generator": "tabular_models.training.synthetic_labs.make_lab_cohort",
    }
