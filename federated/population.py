"""SYNTHETIC clinics for the federated simulation: no patient, no recording, no real outcome.

Each clinic is one site of the synthetic lab generator
(:func:`tabular_models.training.synthetic_labs.make_lab_cohort`, which already draws per site
the size of each ILD effect, the confounders, the analyser's calibration offsets and which
panels are measured), so clinics differ in their device and case mix as that generator defines.
On top of it, this module makes clinics differ in:

- size: log-spaced from ``SMALLEST_CLINIC`` to ``LARGEST_CLINIC`` patients (times ``scale``),
  so some clinics have only a handful of confirmed outcomes;
- CTD mix: a Dirichlet draw over the CTD types (``CTD_MIX_CONCENTRATION``): some clinics see
  mostly RA, others are SSc or myositis centres;
- prevalence: follows from the mix, the CTD-type base rates of the clinical prior
  (:data:`edge.fusion.clinical_prior.BASE_PREVALENCE`, sourced there).

Each clinic is split, stratified by outcome, into training (the clinic's confirmed outcomes to
learn from) and held-out (``HELD_OUT_SHARE``) rows for the comparison.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.fusion.clinical_prior import BASE_PREVALENCE
from tabular_models.training.synthetic_labs import make_lab_cohort

# Simulation assumptions (settings of the demonstration, not clinical numbers):
SMALLEST_CLINIC = 40
LARGEST_CLINIC = 700
CTD_MIX_CONCENTRATION = 0.6  # < 1: clinics lean towards one or two CTD types
HELD_OUT_SHARE = 0.4
SYNTHETIC = ("synthetic: clinics drawn from tabular_models.training.synthetic_labs and the clinical prior's "
             "CTD base rates; not patient data, not a clinical validation")


@dataclass(frozen=True)
class Clinic:
    """One simulated clinic: its mix, expected prevalence and its training / held-out rows."""

    name: str
    ctd_mix: dict
    expected_prevalence: float
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def clinic_sizes(n_clinics: int, scale: float) -> list[int]:
    """Patients per clinic, smallest first."""
    return [max(10, int(round(size * scale))) for size in np.geomspace(SMALLEST_CLINIC, LARGEST_CLINIC, n_clinics)]


def _split(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """True for held-out rows, stratified: each class gives ``HELD_OUT_SHARE`` of its rows."""
    held = np.zeros(y.size, dtype=bool)
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(y == label))
        held[members[:int(round(HELD_OUT_SHARE * members.size))]] = True
    return held


def make_clinics(n_clinics: int, *, seed: int, scale: float = 1.0) -> list[Clinic]:
    """``n_clinics`` synthetic clinics, smallest first; the same seed gives the same clinics."""
    if n_clinics < 2:
        raise ValueError(f"a federation needs at least 2 clinics, got {n_clinics}")
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    rng = np.random.default_rng(seed)
    ctd_types = sorted(BASE_PREVALENCE)
    clinics = []
    for index, size in enumerate(clinic_sizes(n_clinics, scale)):
        mix = rng.dirichlet(np.full(len(ctd_types), CTD_MIX_CONCENTRATION))
        prevalence = float(sum(share * BASE_PREVALENCE[name] for share, name in zip(mix, ctd_types)))
        cohort = make_lab_cohort(size, seed=int(rng.integers(2**31)), prevalence=prevalence, n_sites=1)
        held = _split(cohort["y"], rng)
        clinics.append(Clinic(f"clinic-{index + 1:02d}", {name: round(float(share), 3) for name, share
                                                           in zip(ctd_types, mix)}, prevalence,
                              cohort["X"][~held], cohort["y"][~held], cohort["X"][held], cohort["y"][held]))
    return clinics


EDGE_SITE_SHARE = 0.5  # an edge site's patients per patient of its lab cohort: half keeps a 10-clinic run near a minute
EDGE_SITE_MIN_PATIENTS = 20


def make_edge_site(data_dir: Path, *, n_patients: int, seed: int) -> dict:
    """A clinic's real edge data folder (``ildscreen db init`` + the service's own screening,
    referral and outcome code, :func:`edge.simulation.simulate_site`): visits with each
    modality's output and verification-biased HRCT outcomes. Returns the site's summary."""
    from edge.config import load_settings
    from edge.service import prepare_data_folder
    from edge.simulation import simulate_site

    settings = load_settings(data_dir=data_dir)
    folder, _ = prepare_data_folder(settings)
    db = folder.connect()
    try:
        return simulate_site(db, site_secret=folder.site_secret, n_patients=max(EDGE_SITE_MIN_PATIENTS, n_patients),
                             seed=seed, thresholds=settings.triage_thresholds,
                             window_months=settings.outcome_window_months)
    finally:
        db.close()
