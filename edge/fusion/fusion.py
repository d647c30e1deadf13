"""Fusing the modality models with the clinical prior into one ILD probability.

Each modality model outputs a probability calibrated at the prevalence of its training data.
Dividing its odds by that prevalence's odds gives the likelihood ratio of the evidence
(Bayes' theorem in odds form); assuming the modalities are conditionally independent given
ILD status, the post-test odds are the pre-test odds times every available likelihood ratio.
A missing modality has likelihood ratio 1: it contributes nothing rather than a guess.

The 90% interval says how far the risk could still move: for each missing modality, over
the distribution of likelihood ratios that modality would produce in this patient (a binormal
model with the modality's validated AUC, mixed by the current post-test probability), and for
each measured one, over its calibration uncertainty. Dropping a modality therefore always
widens the interval on the log-odds scale, where evidence adds; on the probability scale it
widens whenever the point estimate stays put, but a dropped modality that had moved the
estimate far towards 0 or 1 can leave a narrower-looking probability interval nearer the edge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from edge.errors import ValidationError
from edge.fusion.clinical_prior import ClinicalPrior

MODALITIES = ("auscultation", "breath", "labs")
PROBABILITY_FLOOR = 1e-4
INTERVAL = (0.05, 0.95)
INTERVAL_DRAWS = 4000
INTERVAL_SEED = 20231  # fixed: the same visit always gets the same interval
# Typical AUCs of each modality, used only to spread the interval of a missing one; callers
# pass the AUCs of the installed models' validation when they have them.
DEFAULT_MODALITY_AUC = {"auscultation": 0.85, "breath": 0.85, "labs": 0.80}
CALIBRATION_SD_LOG_ODDS = 0.25  # uncertainty of a measured modality's calibration, log-odds


def logit(p: float) -> float:
    p = min(max(p, PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR)
    return math.log(p / (1 - p))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


@dataclass(frozen=True)
class ModalityEvidence:
    """One modality model's output for this visit."""

    modality: str
    probability: float  # calibrated at ``training_prevalence``
    training_prevalence: float
    model_version: str
    synthetic: bool = False

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValidationError(f"unknown modality {self.modality!r}; expected one of {list(MODALITIES)}")
        for name in ("probability", "training_prevalence"):
            value = getattr(self, name)
            if not (0 <= value <= 1) or math.isnan(value):
                raise ValidationError(f"{self.modality} {name} must be in [0, 1], got {value}")

    @property
    def log_likelihood_ratio(self) -> float:
        return logit(self.probability) - logit(self.training_prevalence)


def binormal_separation(auc: float) -> float:
    """d' of an equal-variance binormal model with this AUC: AUC = Phi(d' / sqrt 2)."""
    return math.sqrt(2) * NormalDist().inv_cdf(min(max(auc, 0.5), 0.999))


def _missing_modality_draws(auc: float, posterior: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Log likelihood ratios a missing modality would give, for a patient with this risk.

    Binormal: the score is N(0, 1) without ILD and N(d', 1) with it, so log LR = d' x - d'^2/2.
    """
    d = binormal_separation(auc)
    has_ild = rng.uniform(size=posterior.shape) < posterior
    x = rng.standard_normal(posterior.shape) + d * has_ild
    return d * x - d * d / 2


def fuse(prior: ClinicalPrior, evidence: list[ModalityEvidence], *,
         modality_aucs: dict[str, float] = DEFAULT_MODALITY_AUC) -> dict:
    """Post-test ILD probability, 0-100 score, 90% interval and each modality's contribution.

    Returns
    -------
    dict
        ``probability``, ``score``, ``interval`` ([low, high]), ``pretest_probability``,
        ``contributions`` (per modality: likelihood ratio, log LR, probability, model version,
        synthetic flag; ``clinical_prior``: odds ratio of each factor), ``missing`` (expected
        modalities without evidence) and ``model_versions``.
    """
    seen = [item.modality for item in evidence]
    if len(set(seen)) != len(seen):
        raise ValidationError(f"each modality may be given once, got {seen}")
    log_odds = prior.log_odds + sum(item.log_likelihood_ratio for item in evidence)
    probability = float(sigmoid(log_odds))
    missing = [name for name in modality_aucs if name not in seen]

    rng = np.random.default_rng(INTERVAL_SEED)
    draws = np.full(INTERVAL_DRAWS, log_odds)
    for _item in evidence:
        draws += rng.normal(0.0, CALIBRATION_SD_LOG_ODDS, INTERVAL_DRAWS)
    for name in missing:
        draws += _missing_modality_draws(modality_aucs[name], sigmoid(draws), rng)
    low, high = np.quantile(sigmoid(draws), INTERVAL)

    contributions = {
        item.modality: {
            "probability": item.probability,
            "likelihood_ratio": math.exp(item.log_likelihood_ratio),
            "log_likelihood_ratio": item.log_likelihood_ratio,
            "model_version": item.model_version,
            "synthetic": item.synthetic,
        }
        for item in evidence
    }
    contributions["clinical_prior"] = {"probability": prior.probability, "base_prevalence": prior.base_prevalence,
                                       "odds_ratios": prior.factors}
    return {
        "probability": probability,
        "score": int(round(probability * 100)),
        "interval": [float(min(low, probability)), float(max(high, probability))],
        "pretest_probability": prior.probability,
        "contributions": contributions,
        "missing": missing,
        "model_versions": {item.modality: item.model_version for item in evidence},
        "synthetic_models": sorted(item.modality for item in evidence if item.synthetic),
    }
