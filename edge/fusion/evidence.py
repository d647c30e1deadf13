"""The evidence model: how each modality's output becomes a likelihood ratio (LR) for ILD.

Written down, with a source for every number, in ``docs/evidence.md``. In short:

- Lung sounds. The crackle detector answers "does this recording contain fine crackles?", not
  "does this patient have ILD?". A chest site is positive when its crackle probability reaches
  the detector's validated threshold; the patient-level finding is *basal* when any basal site
  is positive (so a positive site can only raise it), *other sites* when only non-basal sites
  are, and *none* otherwise. That finding becomes an ILD likelihood ratio through the published
  sensitivity and specificity of fine (Velcro) crackles for CTD-ILD against HRCT, combined with
  the detector's own validated sensitivity and specificity (manifest ``validation``). Without a
  ``validation`` key the detector contributes nothing (LR 1, "crackle detector not validated").
- Labs and breath: calibrated probabilities against the prevalence their model was really
  trained at (manifest ``training_data.prevalence``): LR = odds(output) / odds(prevalence).

Each evidence also carries a 95% range of its log LR from the validation numbers (published
counts, the detector's CIs, the tabular model's AUC CI), which the fused interval uses.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field

from audio_models.aggregation import is_basal, site_side
from edge.errors import ValidationError
from edge.inference.models import validation_status

MODALITIES = ("auscultation", "breath", "labs")
PROBABILITY_FLOOR = 1e-4
Z95 = NormalDist().inv_cdf(0.975)
Z90 = NormalDist().inv_cdf(0.95)
NON_LUNG_SITES = frozenset({"trachea", "tc"})  # tracheal sounds say nothing about alveolar crackles
# tabular_models/training/train.py exports the XGBoost pipeline to ONNX; its held-out metrics
# are the ones that describe the shipped model.
EXPORTED_TABULAR_ESTIMATOR = "xgboost"


def logit(p: float) -> float:
    p = min(max(p, PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR)
    return math.log(p / (1 - p))


class EvidenceOptions(BaseModel):
    """Programme assumptions of the evidence model; each is a setting (see docs/evidence.md)."""

    model_config = ConfigDict(extra="forbid", title="Evidence model options")

    dependence_weight: float = Field(0.5, ge=0, le=1, title="Weight of non-strongest evidence",
                                     description="Modalities are not independent given ILD: the strongest "
                                                 "evidence in each direction counts in full, every other one at "
                                                 "this weight on the log-LR scale (1 = naive Bayes).")
    lr_cap: float = Field(10.0, gt=1, le=1000, title="Largest LR of one modality",
                          description="Each modality's likelihood ratio is held within [1/cap, cap].")
    other_site_weight: float = Field(0.5, ge=0, le=1, title="Weight of non-basal crackles",
                                     description="Crackles heard only away from the bases count at this "
                                                 "fraction of the basal log LR.")


@dataclass(frozen=True)
class CrackleSign:
    """Published accuracy of fine (Velcro) crackles for ILD on HRCT: counts and Wilson 95% CIs."""

    true_positive: int
    with_ild: int
    true_negative: int
    without_ild: int
    sensitivity_ci95: tuple[float, float]
    specificity_ci95: tuple[float, float]
    source: str

    @property
    def sensitivity(self) -> float:
        return self.true_positive / self.with_ild

    @property
    def specificity(self) -> float:
        return self.true_negative / self.without_ild


# Velcro crackles recorded with an electronic stethoscope at 8 sites (4 per side) and
# classified by the VECTOR algorithm, against HRCT read blind. CIs: Wilson, recomputed from the
# counts by tests/edge/fusion/test_evidence.py.
CRACKLE_SIGN = {
    "RA": CrackleSign(55, 59, 60, 78, (0.8382, 0.9733), (0.6644, 0.8487),
                      "Manfredi A et al. BMC Pulm Med 2019;19:111 (InSPIRAtE, 137 RA patients, 59 with ILD)"),
    "CTD": CrackleSign(37, 42, 44, 56, (0.7500, 0.9481), (0.6618, 0.8729),
                       "Manfredi A et al. Arch Rheumatol 2021 (PMC8140864; 98 CTD patients, 42 with ILD)"),
}


def crackle_sign_for(ctd_diagnosis: str) -> CrackleSign:
    """The RA cohort for RA; the mixed CTD cohort for every other CTD."""
    return CRACKLE_SIGN["RA" if ctd_diagnosis == "RA" else "CTD"]


@dataclass(frozen=True)
class ModalityEvidence:
    """What one modality's output this visit says about ILD, as a likelihood ratio."""

    modality: str
    log_likelihood_ratio: float
    log_lr_range: tuple[float, float]  # 95% range from the validation numbers
    model_version: str
    validation: dict  # edge.inference.models.ValidationStatus.as_dict()
    finding: dict = field(default_factory=dict)  # what the LR was read from

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValidationError(f"unknown modality {self.modality!r}; expected one of {list(MODALITIES)}")
        low, high = self.log_lr_range
        values = (self.log_likelihood_ratio, low, high)
        if any(math.isnan(v) or math.isinf(v) for v in values) or not low <= self.log_likelihood_ratio <= high:
            raise ValidationError(f"{self.modality} log LR {self.log_likelihood_ratio} must be finite and within "
                                  f"its range {list(self.log_lr_range)}")

    @property
    def likelihood_ratio(self) -> float:
        return math.exp(self.log_likelihood_ratio)


def _probability(name: str, value, *, open_interval: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a number, got {value!r}") from None
    bad = not (0 < value < 1) if open_interval else not (0 <= value <= 1)
    if math.isnan(value) or bad:
        raise ValidationError(f"{name} must be in {'(0, 1)' if open_interval else '[0, 1]'}, got {value}")
    return value


# --- labs and breath ---------------------------------------------------------------------

def binormal_separation(auc: float) -> float:
    """d' of an equal-variance binormal model with this AUC: AUC = Phi(d' / sqrt 2)."""
    return math.sqrt(2) * NormalDist().inv_cdf(min(max(auc, 0.5001), 0.999))


def tabular_auc(entry: dict) -> Optional[tuple[float, float, float]]:
    """(AUC, low, high) of the exported model on its held-out set, or None when not in the manifest."""
    metrics = (entry.get("metrics") or {}).get(EXPORTED_TABULAR_ESTIMATOR) or {}
    if "auc" not in metrics or "auc_95ci" not in metrics:
        return None
    low, high = metrics["auc_95ci"]
    return float(metrics["auc"]), float(low), float(high)


def training_prevalence(entry: dict, *, name: str) -> float:
    """The prevalence a tabular model's probability is calibrated at (manifest ``training_data``)."""
    return _probability(f"{name} training_data.prevalence", (entry.get("training_data") or {}).get("prevalence"),
                        open_interval=True)


def tabular_evidence(modality: str, probability: float, entry: dict, *, model_version: str) -> ModalityEvidence:
    """Labs or breath: LR = odds(calibrated output) / odds(training prevalence).

    The 95% range scales the log LR by how much weaker or stronger the model could be within its
    AUC CI (binormal d' at the CI ends over d' at the AUC); without an AUC in the manifest the
    range runs from no evidence to the stated evidence.
    """
    probability = _probability(f"{modality} probability", probability)
    prevalence = training_prevalence(entry, name=modality)
    log_lr = logit(probability) - logit(prevalence)
    auc = tabular_auc(entry)
    if auc is None:
        factors = (0.0, 1.0)
    else:
        d = binormal_separation(auc[0])
        factors = (binormal_separation(auc[1]) / d, binormal_separation(auc[2]) / d)
    low, high = sorted(log_lr * f for f in factors)
    return ModalityEvidence(modality, log_lr, (min(low, log_lr), max(high, log_lr)), model_version,
                            validation_status(entry, name=modality).as_dict(),
                            {"probability": probability, "training_prevalence": prevalence,
                             "auc": auc[0] if auc else None, "auc_ci95": list(auc[1:]) if auc else None})


def tabular_potential_range(entry: dict) -> Optional[tuple[float, float]]:
    """Log LRs a tabular model would likely give if measured: from the 5th centile of people
    without ILD to the 95th centile of people with it, binormal at the validated AUC."""
    auc = tabular_auc(entry)
    if auc is None:
        return None
    d = binormal_separation(auc[0])
    extreme = Z90 * d + d * d / 2
    return -extreme, extreme


# --- lung sounds --------------------------------------------------------------------------

def crackle_finding(site_probabilities: Mapping[str, Optional[float]], *, threshold: float) -> dict:
    """From per-site crackle probabilities to the patient-level finding.

    ``level`` is ``"basal"`` (any basal site at or above ``threshold``), ``"other_sites"`` (only
    non-basal lung sites), ``"none"`` or None (no usable lung site). Raising any site's
    probability, or adding a site, can only keep or raise the level.
    """
    threshold = _probability("crackle threshold", threshold)
    usable = {}
    for site, p in site_probabilities.items():
        if p is None or site.lower() in NON_LUNG_SITES:
            continue
        usable[site] = _probability(f"crackle probability of {site!r}", p)
    basal = {site: p for site, p in usable.items() if is_basal(site)}
    positive_basal = sorted(site for site, p in basal.items() if p >= threshold)
    positive_other = sorted(site for site, p in usable.items() if site not in basal and p >= threshold)
    level = None if not usable else "basal" if positive_basal else "other_sites" if positive_other else "none"
    any_base = None
    if basal:
        any_base = 1 - math.prod(1 - p for p in basal.values())
    return {
        "level": level,
        "threshold": threshold,
        "positive_basal_sites": positive_basal,
        "positive_other_sites": positive_other,
        "basal_sides_recorded": sorted({site_side(s) for s in basal} - {None}),
        "bilateral_basal": {"left", "right"} <= {site_side(s) for s in positive_basal},
        # Reported, not used as the test: P(at least one base has fine crackles) if sites were independent.
        "any_base_probability": any_base,
        "sites": usable,
    }


def detector_validation(entry: dict) -> Optional[dict]:
    """The crackle detector's validation block, checked; None when the manifest has none.

    Also run by ``models install`` (:mod:`edge.inference.bundle_checks`), so that a bundle whose
    block the assessment would refuse is refused at install instead.
    """
    validation = entry.get("validation")
    if validation is None:
        return None
    if validation.get("unit") == "patient":
        # Patient-level figures per population: the screened patients are adults.
        validation = (validation.get("populations") or {}).get("adults")
        if validation is None:
            return None
    values = {}
    try:
        for name in ("sensitivity", "specificity"):
            point = _probability(f"auscultation validation {name}", validation[name], open_interval=True)
            low, high = (_probability(f"auscultation validation {name}_ci95", v, open_interval=True)
                         for v in validation[f"{name}_ci95"])
            values[name], values[f"{name}_ci95"] = point, (min(low, point), max(high, point))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"auscultation manifest validation block is incomplete: {exc}") from None
    if values["sensitivity"] + values["specificity"] <= 1:
        # A positive call from such a detector would lower the risk: refuse it rather than invert it.
        raise ValidationError(f"auscultation validation: sensitivity {values['sensitivity']} + specificity "
                              f"{values['specificity']} must exceed 1 (a detector better than chance)")
    return {**validation, **values}


def _positive_rates(se_sign, sp_sign, se_detector, sp_detector) -> tuple[float, float]:
    """P(detector positive | ILD), P(detector positive | no ILD): the detector's errors are
    assumed to depend only on whether fine crackles are there."""
    with_ild = se_detector * se_sign + (1 - sp_detector) * (1 - se_sign)
    without_ild = se_detector * (1 - sp_sign) + (1 - sp_detector) * sp_sign
    return with_ild, without_ild


def crackle_log_lrs(sign: CrackleSign, detector: dict) -> dict:
    """Log LR (value, low, high) of a positive and of a negative basal finding.

    The ranges take every corner of the four 95% CIs (sign and detector sensitivity/specificity).
    """
    def both(se, sp, dse, dsp):
        pos_ild, pos_well = _positive_rates(se, sp, dse, dsp)
        return math.log(pos_ild / pos_well), math.log((1 - pos_ild) / (1 - pos_well))

    positive, negative = both(sign.sensitivity, sign.specificity, detector["sensitivity"], detector["specificity"])
    corners = [both(*c) for c in itertools.product(sign.sensitivity_ci95, sign.specificity_ci95,
                                                   detector["sensitivity_ci95"], detector["specificity_ci95"])]
    positives = [c[0] for c in corners] + [positive]
    negatives = [c[1] for c in corners] + [negative]
    return {"positive": (positive, min(positives), max(positives)),
            "negative": (negative, min(negatives), max(negatives))}


def crackle_evidence(site_probabilities: Mapping[str, Optional[float]], entry: dict, *, ctd_diagnosis: str,
                     model_version: str, options: EvidenceOptions) -> Optional[ModalityEvidence]:
    """The visit's lung-sound evidence for ILD, or None when no lung site was usable."""
    finding = crackle_finding(site_probabilities, threshold=entry.get("threshold"))
    if finding["level"] is None:
        return None
    status = validation_status(entry, name="auscultation").as_dict()
    detector = detector_validation(entry)
    if detector is None:
        finding.update(validated=False, note="crackle detector not validated: contributes nothing (LR 1)")
        return ModalityEvidence("auscultation", 0.0, (0.0, 0.0), model_version, status, finding)
    sign = crackle_sign_for(ctd_diagnosis)
    lrs = crackle_log_lrs(sign, detector)
    if finding["level"] == "basal":
        value, low, high = lrs["positive"]
    elif finding["level"] == "other_sites":
        value, low, high = (options.other_site_weight * x for x in lrs["positive"])
    else:
        # A clear chest rules out basal crackles only as far as both bases were heard.
        share = len(finding["basal_sides_recorded"]) / 2
        value, low, high = (share * x for x in lrs["negative"])
    finding.update(validated=True, sign_source=sign.source, detector_dataset=detector.get("dataset"),
                   sign_sensitivity=sign.sensitivity, sign_specificity=sign.specificity,
                   detector_sensitivity=detector["sensitivity"], detector_specificity=detector["specificity"])
    return ModalityEvidence("auscultation", value, (low, high), model_version, status, finding)


def crackle_potential_range(entry: dict, *, ctd_diagnosis: str) -> tuple[float, float]:
    """Log LRs lung sounds would give if recorded at both bases: clear to basal crackles."""
    detector = detector_validation(entry)
    if detector is None:
        return 0.0, 0.0
    lrs = crackle_log_lrs(crackle_sign_for(ctd_diagnosis), detector)
    return lrs["negative"][0], lrs["positive"][0]
