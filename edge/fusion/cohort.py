"""A synthetic multimodal screening cohort with known per-modality AUCs, for testing and
fitting the fusion. Synthetic: no patient contributed to it.

Patients are drawn with a CTD type, age, sex, smoking, autoantibodies and symptoms at
frequencies typical of rheumatology clinics; ILD status is drawn from the clinical prior.
Each modality's score is then drawn, independently given ILD status, from an equal-variance
binormal model whose separation gives the requested AUC, and turned into the probability a
calibrated model trained at prevalence ``training_prevalence`` would output. So the
Bayes-optimal post-test probability is known exactly: prior odds times the likelihood ratios.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.fusion.clinical_prior import ClinicalPicture, clinical_prior
from edge.fusion.fusion import binormal_separation, sigmoid

CTD_MIX = {"RA": 0.35, "SSc": 0.2, "SjD": 0.15, "SLE": 0.12, "IIM": 0.1, "MCTD": 0.08}
ANTIBODIES_BY_CTD = {
    "SSc": {"anti-Scl-70": 0.3, "anti-centromere": 0.3, "anti-Ro52": 0.2},
    "RA": {"RF-high-titre": 0.35, "anti-CCP": 0.6},
    "IIM": {"anti-Jo-1": 0.25, "anti-MDA5": 0.1, "anti-PL-7": 0.05, "anti-Ro52": 0.3},
    "SjD": {"anti-Ro52": 0.5, "anti-SSA": 0.7},
    "SLE": {"anti-dsDNA": 0.6, "anti-Ro52": 0.2},
    "MCTD": {"anti-U1-RNP": 0.95, "anti-Scl-70": 0.05},
}
SYMPTOM_RATES = {"exertional_dyspnoea": 0.3, "dry_cough": 0.2, "finger_clubbing": 0.02}


@dataclass
class MultimodalCohort:
    pictures: list[ClinicalPicture]
    prior: np.ndarray  # pre-test probability from the clinical prior
    has_ild: np.ndarray
    modality_probability: dict[str, np.ndarray]  # calibrated model outputs
    modality_auc: dict[str, float]
    training_prevalence: dict[str, float]
    bayes_posterior: np.ndarray  # the exact post-test probability


def make_cohort(n: int, *, modality_auc: dict[str, float], training_prevalence: dict[str, float],
                seed: int) -> MultimodalCohort:
    """Draw ``n`` patients with all modalities measured (drop some afterwards to test gaps)."""
    rng = np.random.default_rng(seed)
    pictures, priors = [], []
    ctd_names = list(CTD_MIX)
    for _ in range(n):
        ctd = ctd_names[rng.choice(len(ctd_names), p=list(CTD_MIX.values()))]
        antibodies = tuple(name for name, rate in ANTIBODIES_BY_CTD[ctd].items() if rng.uniform() < rate)
        symptoms = tuple(name for name, rate in SYMPTOM_RATES.items() if rng.uniform() < rate)
        picture = ClinicalPicture(
            ctd_diagnosis=ctd, age=float(np.clip(rng.normal(60, 11), 18, 95)),
            sex="F" if rng.uniform() < 0.78 else "M",
            smoking=rng.choice(["never", "former", "current"], p=[0.6, 0.28, 0.12]),
            autoantibodies=antibodies, symptoms=symptoms,
        )
        pictures.append(picture)
        priors.append(clinical_prior(picture).probability)
    prior = np.array(priors)
    has_ild = rng.uniform(size=n) < prior
    log_odds = np.log(prior / (1 - prior))
    outputs = {}
    for name, auc in modality_auc.items():
        d = binormal_separation(auc)
        score = rng.standard_normal(n) + d * has_ild
        log_lr = d * score - d * d / 2
        pi = training_prevalence[name]
        outputs[name] = sigmoid(np.log(pi / (1 - pi)) + log_lr)
        log_odds = log_odds + log_lr
    return MultimodalCohort(pictures, prior, has_ild.astype(int), outputs, dict(modality_auc),
                            dict(training_prevalence), sigmoid(log_odds))
