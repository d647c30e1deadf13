"""The evidence model: how each modality's output becomes a likelihood ratio (LR) for ILD.

Written down, with a source for every number, in ``docs/evidence.md``. In short:

- Evidence is earned. Each modality has a status, decided by one rule table
  (:class:`ValidationRule`): *validated* (an adult, patient-level validation in its manifest, or
  the clinic's own verified outcomes via ``ildscreen calibrate``) or *unvalidated*: LR 1,
  "measured, not yet counted", with the reason (:func:`_not_counted`). A model trained on
  synthetic data never counts from its manifest.
- Lung sounds. A chest site's finding is the maximum over its accepted recordings
  (``edge.modalities.site_probabilities``); the patient-level finding is *basal* when any basal
  site reaches the detector's threshold, *other sites* when only non-basal sites do, *none*
  otherwise. It becomes an ILD LR through the published accuracy of fine (Velcro) crackles
  combined with the detector's patient-level adult figures (manifest
  ``validation.populations.adults``, or the takes' devices' own: the least informative of them when
  they went through several); a clear chest counts fully only for a complete exam.
- Labs and breath, when they count: LR = odds(output) / odds(training prevalence).
- KL-6 by its published pooled accuracy in CTD (:data:`KL6_ACCURACY`).

Each evidence also carries a 95% range of its log LR from the numbers behind it (published
counts and CIs, the detector's CIs, the validated AUC CI), which the fused interval uses.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Collection, Mapping, Optional

from audio_models.aggregation import is_basal, site_side
from audio_models.scoring import ADULTS, cohort
from edge.errors import ValidationError
from edge.fusion.evidence_options import EvidenceOptions, ValidationRule
from edge.inference.models import validation_status

MODALITIES = ("auscultation", "breath", "labs")
# A numerical guard, not a clinical number: a probability is held within [1e-4, 1 - 1e-4] before its
# log-odds is taken, so a 0 or 1 (from few patients or a saturated model) never makes an infinite LR.
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


PROGRAMME_ASSUMPTION = "programme assumption"
ADULT_POPULATION = ADULTS  # KAUH's adults: what a take naming no stethoscope counts with, when present
PATIENT_CI_METHOD = "patient_cluster_bootstrap"
# What the nurse reads beside a modality that was measured but does not move the risk.
NOT_COUNTED = "measured, not yet counted"


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


def _regional_auc_lower(figures: dict, rule: ValidationRule) -> float:
    """The region's AUC lower bound as the rule judges it (:meth:`ValidationRule.auc_lower_bound`),
    on the Kish effective numbers of patients with and without ILD when the file carries them:
    verification weights make the region's figures rest on fewer people than its counts."""
    patients, positives = figures["patients"], figures["positive_patients"]
    if figures.get("effective_patients") is not None and figures.get("effective_positive_patients") is not None:
        patients, positives = figures["effective_patients"], figures["effective_positive_patients"]
    return rule.auc_lower_bound(figures["auc"], figures["auc_ci95"][0], with_ild=positives,
                                without_ild=patients - positives)


def regional_status(figures: Optional[dict], rule: ValidationRule, *, served_version: Optional[str] = None,
                    needs_finding: bool = False) -> Optional[dict]:
    """Whether the region's validation of a modality counts under ``rule`` (None when there is none).

    ``figures`` is one modality of the installed regional validation
    (:meth:`edge.regional_validation.SelectedRegionalValidation.figures`): ``patients``,
    ``positive_patients``, ``clinics``, ``auc``, ``auc_ci95``, ``region``. It counts only when as
    many clinics as ``region_min_clinics`` answered and the figures pass the ``site_`` rows a
    clinic's own outcomes must pass, and only where the model the region validated
    (``model_version``, which it must name) serves (``served_version``); otherwise the reason says
    what failed. Lung sounds (``needs_finding``) count through their basal finding's
    sensitivity and specificity, whose lower Wilson bounds must beat chance (the Youden row), as
    at a clinic; a counting status then carries ``accuracy``
    (:class:`PublishedAccuracy` of the finding in the region).
    """
    if not figures:
        return None
    patients, events, clinics = figures["patients"], figures["positive_patients"], figures["clinics"]
    where = f"{clinics} clinics, {patients} patients"
    code = "too_few"
    if figures.get("model_version") and figures["model_version"] != served_version:
        code, reason = "other_model", (f"the region validated {figures['model_version']}, this clinic "
                                       f"runs {served_version}")
    elif clinics < rule.region_min_clinics:
        reason = f"the region's validation comes from {clinics} clinics; {rule.region_min_clinics} are needed"
    elif patients < rule.site_min_patients or events < rule.site_min_events:
        reason = (f"the region validated it on {patients} patients ({events} with ILD); {rule.site_min_patients} "
                  f"({rule.site_min_events} with ILD) are needed")
    elif figures.get("auc_ci95") is None:
        code, reason = "uncertain", "the region's AUC could not be estimated"
    elif (auc_lower := _regional_auc_lower(figures, rule)) < rule.site_min_auc_lower:
        code, reason = "uncertain", (f"its AUC in the region could be as low as {auc_lower:.2f}; "
                                     f"{rule.site_min_auc_lower:.2f} is needed")
    elif needs_finding and figures.get("sensitivity") is None:
        code, reason = "no_finding", "the region's validation has no sensitivity and specificity of the finding"
    elif needs_finding and not rule.beats_chance(figures):
        code, reason = "uncertain", ("the finding's sensitivity and specificity in the region are still too "
                                     "uncertain")
    elif not figures.get("model_version"):
        # Figures tied to no model would count for every later model too.
        code, reason = "other_model", "the region did not name the model it validated"
    else:
        low, high = figures["auc_ci95"]
        status = {"validated": True, "auc": (float(figures["auc"]), float(low), float(high)), "source": "region",
                  "reason": f"validated by the region {figures['region']} ({where}; AUC {figures['auc']:.2f}, "
                            f"95% CI {low:.2f}-{high:.2f})"}
        if needs_finding:
            status["accuracy"] = measured_accuracy(figures, status["reason"])
        return status
    return {"validated": False, "reason": reason, "reason_code": code, "source": "region"}


def tabular_validation(entry: dict, *, name: str, site: Optional[dict] = None,
                       rule: Optional[ValidationRule] = None, region: Optional[dict] = None) -> dict:
    """Whether a labs or breath model counts, and with which AUC (value, low, high).

    It counts when the clinic's own outcomes validated it (``site``: the per-modality status
    ``ildscreen calibrate`` applied, :mod:`edge.site_calibration`), or when its manifest carries an
    adult patient-level ``validation`` whose AUC lower bound, patients and events pass ``rule``,
    or else when the region's validation (``region``, :func:`regional_status`) passes it.
    A model trained on synthetic data, or validated only on held-out synthetic data, never counts
    from its manifest: its AUC describes the generator, not patients. The region measured the
    model's outputs on patients, so a regional validation counts for a synthetic-trained model.
    """
    rule = rule or ValidationRule()
    if site and site.get("validated"):
        low, high = site["auc_ci95"]
        return {"validated": True, "reason": site.get("reason") or "validated on this clinic's confirmed outcomes",
                "auc": (float(site["auc"]), float(low), float(high)), "source": "site"}
    status = validation_status(entry, name=name)
    synthetic = status.synthetic or (entry.get("training_data") or {}).get("kind") == "synthetic"
    validation = entry.get("validation") or {}
    adults = (validation.get("populations") or {}).get(ADULT_POPULATION) if isinstance(validation, dict) else None
    if synthetic:
        code, reason = "synthetic", "its model was trained on synthetic data only, not on patients"
    elif validation.get("unit") != "patient" or not isinstance(adults, dict):
        code, reason = "no_patient_validation", "its model has not been validated on adult patients"
    else:
        try:
            auc = float(adults["auc"]), *(float(v) for v in adults["auc_ci95"])
            patients, events = int(adults["patients"]), int(adults["positive_patients"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"{name} manifest validation.populations.adults is incomplete: {exc}") from None
        if patients < rule.min_patients or events < rule.min_positive_patients:
            code, reason = "too_few", f"its model was validated on {patients} patients ({events} with ILD): too few"
        elif (auc_lower := rule.auc_lower_bound(auc[0], auc[1], with_ild=events,
                                                without_ild=patients - events)) < rule.site_min_auc_lower:
            code, reason = "uncertain", f"its validated AUC could be as low as {auc_lower:.2f}"
        else:
            return {"validated": True, "reason": "validated in adults, per patient", "auc": auc, "source": "manifest"}
    regional = regional_status(region, rule, served_version=f"{entry.get('name')}-{entry.get('version')}")
    if regional and regional["validated"]:
        return regional
    if regional:  # why the region's figures did not count either
        return {"validated": False, "reason": f"{reason}; {regional['reason']}", "reason_code": code}
    return {"validated": False, "reason": reason, "reason_code": code}


def tabular_evidence(modality: str, probability: float, entry: dict, *, model_version: str,
                     site: Optional[dict] = None, rule: Optional[ValidationRule] = None,
                     region: Optional[dict] = None) -> ModalityEvidence:
    """Labs or breath: LR = odds(calibrated output) / odds(training prevalence) when the model
    counts (:func:`tabular_validation`); LR 1 ("measured, not yet counted") when it does not.

    The 95% range scales the log LR by how much weaker or stronger the model could be within its
    validated AUC CI (binormal d' at the CI ends over d' at the AUC).
    """
    probability = _probability(f"{modality} probability", probability)
    prevalence = training_prevalence(entry, name=modality)
    log_lr = logit(probability) - logit(prevalence)
    status = validation_status(entry, name=modality).as_dict()
    counts = tabular_validation(entry, name=modality, site=site, rule=rule, region=region)
    finding = {"probability": probability, "training_prevalence": prevalence,
               "likelihood_ratio_if_counted": math.exp(log_lr)}
    if not counts["validated"]:
        return _not_counted(modality, counts, model_version, status, finding)
    auc = counts["auc"]
    d = binormal_separation(auc[0])
    low, high = sorted(log_lr * binormal_separation(a) / d for a in auc[1:])
    finding.update(auc=auc[0], auc_ci95=list(auc[1:]), validation_source=counts["source"])
    if counts["source"] == "region":
        finding["region"] = region_summary(region)
    return ModalityEvidence(modality, log_lr, (min(low, log_lr), max(high, log_lr)), model_version, status,
                            _counted(finding, counts["reason"]))


def unscorable_evidence(modality: str, entry: dict, *, model_version: str, reason: str) -> ModalityEvidence:
    """Labs or breath measured, but the served model (``entry``, ``model_version``) cannot score what was
    stored (a breath reading whose features it does not take): LR 1, not counted, with ``reason``
    (``reason_code`` ``not_scorable``), never another model's score weighed with this entry."""
    status = validation_status(entry, name=modality).as_dict()
    return _not_counted(modality, {"reason": reason, "reason_code": "not_scorable"}, model_version, status,
                        {"probability": None})


# --- KL-6 ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PublishedAccuracy:
    """Published pooled sensitivity and specificity of a dichotomised test, with 95% CIs."""

    sensitivity: float
    sensitivity_ci95: tuple[float, float]
    specificity: float
    specificity_ci95: tuple[float, float]
    source: str

    def log_lrs(self) -> dict:
        """Log LR (value, low, high) of a positive and of a negative result; ranges from the CI corners."""
        def both(se, sp):
            return math.log(se / (1 - sp)), math.log((1 - se) / sp)
        positive, negative = both(self.sensitivity, self.specificity)
        corners = [both(se, sp) for se, sp in itertools.product(self.sensitivity_ci95, self.specificity_ci95)]
        return {"positive": (positive, min(c[0] for c in corners), max(c[0] for c in corners)),
                "negative": (negative, min(c[1] for c in corners), max(c[1] for c in corners))}


# Bivariate random-effects pooling of 29 studies of KL-6 for ILD on HRCT among CTD patients.
# Each study used its own cut-off (no threshold effect was found); most used the 500 U/mL of the
# commercial latex assay. KL-6 values depend on the assay (in one cohort ELISA read 3-4x the latex
# assay in the same patients: "KL-6 as a Biomarker of ILD Development in Patients with Sjogren
# Syndrome", J Inflamm Res 2022;15:2255-2262), so the cut-off must match the lab's assay.
KL6_ACCURACY = PublishedAccuracy(0.76, (0.68, 0.82), 0.89, (0.83, 0.93),
                            "Comparative diagnostic efficacy of serum KL-6 and SP-D for CTD-ILD: a meta-analysis. "
                            "Medicine (Baltimore) 2020;99(16):e19695 (doi:10.1097/MD.0000000000019695, 29 studies)")
KL6_STATUS = {"synthetic": False, "clinically_validated": False,
              "training_population": "CTD patients of 29 published studies (meta-analysis)",
              "statement": "KL-6 counts by its published pooled accuracy in CTD (Medicine 2020;99:e19695); not "
                           "validated at this clinic or with its assay; not for clinical use."}
KL6_VERSION = "kl6-published-2020"


def kl6_evidence(value: float, *, options: EvidenceOptions, measured_model: Optional[dict] = None
                 ) -> ModalityEvidence:
    """Serum KL-6 (U/mL) as labs evidence: the published LR of a result at or above
    ``options.kl6_cutoff`` (positive) or below it (negative).

    ``measured_model`` is the lab model's own (not counted) finding, kept for the record.
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"KL-6 must be a number of U/mL, got {value!r}") from None
    if math.isnan(value) or value < 0:
        raise ValidationError(f"KL-6 must be a number of U/mL >= 0, got {value}")
    result = "positive" if value >= options.kl6_cutoff else "negative"
    log_lr, low, high = KL6_ACCURACY.log_lrs()[result]
    finding = {"kl6_u_per_ml": value, "kl6_cutoff": options.kl6_cutoff, "kl6_result": result,
               "source": KL6_ACCURACY.source, "sensitivity": KL6_ACCURACY.sensitivity,
               "specificity": KL6_ACCURACY.specificity, "lab_model": measured_model}
    return ModalityEvidence("labs", log_lr, (low, high), KL6_VERSION, dict(KL6_STATUS),
                            _counted(finding, "KL-6 counts by its published accuracy in CTD"))


def tabular_potential_range(entry: dict, *, name: str = "labs", site: Optional[dict] = None,
                            rule: Optional[ValidationRule] = None,
                            region: Optional[dict] = None) -> Optional[tuple[float, float]]:
    """Log LRs a tabular model would likely give if measured: from the 5th centile of people
    without ILD to the 95th centile of people with it, binormal at the validated AUC; (0, 0)
    when the model does not count, None when no AUC is known."""
    counts = tabular_validation(entry, name=name, site=site, rule=rule, region=region)
    if not counts["validated"]:
        return 0.0, 0.0
    d = binormal_separation(counts["auc"][0])
    extreme = Z90 * d + d * d / 2
    return -extreme, extreme


def kl6_potential_range() -> tuple[float, float]:
    """Log LRs a KL-6 result would give: negative to positive."""
    lrs = KL6_ACCURACY.log_lrs()
    return lrs["negative"][0], lrs["positive"][0]


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


#: The figures of a population (or of one of its devices) that the likelihood ratios are read from and the
#: nurse's note quotes, as the manifest words them.
POPULATION_FIGURES = ("patients", "positive_patients", "sensitivity", "sensitivity_ci95", "specificity",
                      "specificity_ci95")


def _population_figures(block, *, name: str) -> dict:
    """One population of a patient-level validation block, checked; raises ``ValidationError``
    naming the first bad number."""
    if not isinstance(block, dict):
        raise ValidationError(f"{name} must be an object, got {type(block).__name__}")
    values = {}
    try:
        for key in ("patients", "positive_patients"):
            count = block[key]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValidationError(f"{name}.{key} must be a whole number >= 0, got {count!r}")
            values[key] = count
        if values["positive_patients"] > values["patients"]:
            raise ValidationError(f"{name}.positive_patients {values['positive_patients']} exceeds patients "
                                  f"{values['patients']}")
        for key in ("sensitivity", "specificity"):
            point = _probability(f"{name}.{key}", block[key])
            ci = block[f"{key}_ci95"]
            if not isinstance(ci, (list, tuple)) or len(ci) != 2:
                raise ValidationError(f"{name}.{key}_ci95 must be [low, high], got {ci!r}")
            low, high = (_probability(f"{name}.{key}_ci95", v) for v in ci)
            # A measured 0 or 1 (0 of 3 adults found, 12 of 12 cleared) and bootstrap bounds of
            # exactly 0 or 1 are real results with few patients: kept, but away from 0 and 1 so a
            # likelihood ratio built from them stays finite.
            point, low, high = (min(max(v, PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR) for v in (point, low, high))
            values[key], values[f"{key}_ci95"] = point, (min(low, point), max(high, point))
    except KeyError as exc:
        raise ValidationError(f"{name} is incomplete: missing {exc.args[0]!r}") from None
    except TypeError as exc:
        raise ValidationError(f"{name} is malformed: {exc}") from None
    _device_figures(block, name=name, patients=values["patients"])
    return {**{k: v for k, v in block.items() if k not in values}, **values}


def _device_figures(block: dict, *, name: str, patients: int) -> None:
    """A population's optional ``by_device`` (device -> the same figures over that device's recordings
    alone), checked: each device one of the population's ``devices``, with no more patients than it.
    A take through such a device is judged by them (:func:`device_weakness`) and counts with them, or with
    the least informative of its exam's devices' (:func:`detector_validation`)."""
    by_device = block.get("by_device")
    if by_device is None:
        return
    if not isinstance(by_device, dict):
        raise ValidationError(f"{name}.by_device must be an object of device -> figures, got {type(by_device).__name__}")
    devices = block.get("devices") if isinstance(block.get("devices"), list) else []
    for device, figures in by_device.items():
        where = f"{name}.by_device.{device}"
        if device not in devices:
            raise ValidationError(f"{where}: {device!r} is not one of the population's devices {devices!r}")
        checked = _population_figures(figures, name=where)
        if checked["patients"] > patients:
            raise ValidationError(f"{where}.patients {checked['patients']} exceeds the population's patients {patients}")


def population_counts(figures: dict, rule: "ValidationRule") -> Optional[tuple[str, str]]:
    """``(reason_code, reason)`` when a population's validation is too weak to count under
    ``rule``, or None when it counts."""
    if figures["patients"] < rule.min_patients:
        return "too_few", f"validated on {figures['patients']} patients; at least {rule.min_patients} are needed"
    if figures["positive_patients"] < rule.min_positive_patients:
        return "too_few", (f"validated on {figures['positive_patients']} patients with crackles; at least "
                           f"{rule.min_positive_patients} are needed")
    if not rule.beats_chance(figures):
        return "uncertain", (f"its accuracy is too uncertain: the lower 95% bounds of sensitivity "
                f"({figures['sensitivity_ci95'][0]:.2f}) and specificity ({figures['specificity_ci95'][0]:.2f}) "
                f"are no better than chance")
    return None


def device_weakness(population: dict, device: Optional[str], rule: "ValidationRule", *,
                    name: str = "adults") -> Optional[tuple[str, str]]:
    """``(reason_code, reason)`` when a take through ``device`` of an adult ``population`` (its block in
    the manifest's ``validation.populations``, named ``name``) must not count: the population's pooled
    figures pass ``rule`` but the device's own figures (``by_device``) do not (``device_too_few``,
    ``device_uncertain``; the reason names the device). None when the take is not judged by its device:
    the device has no figures of its own (the pooled ones stand for it), or the population itself fails
    ``rule`` (then nothing it validated counts, for the population's own reason: :func:`detector_validation`).
    Raises ``ValidationError`` for a malformed block, as :func:`detector_validation` does."""
    own = (population.get("by_device") or {}).get(device) if isinstance(population.get("by_device"), dict) else None
    if own is None:
        return None
    if population_counts(_population_figures(population, name=name), rule) is not None:
        return None
    weak = population_counts(_population_figures(own, name=f"{name}.by_device.{device}"), rule)
    if weak is None:
        return None
    subject = "the crackle detector was" if weak[0] == "too_few" else ""  # "validated on ..." / "its accuracy ..."
    return f"device_{weak[0]}", " ".join(filter(None, (f"through {device} alone", subject, weak[1])))


def adult_populations(populations: Mapping) -> list[str]:
    """The keys of a crackle manifest's adult validation populations (``adults``, ``adults_<folder>``:
    :func:`audio_models.scoring.cohort`), in the manifest's order."""
    return [name for name in populations if cohort(name) == ADULTS]


def stethoscope_free_population(populations: Mapping) -> Optional[str]:
    """The adult population whose figures a take that names no stethoscope counts with: ``adults``
    (KAUH) when the manifest has it, as before clinics trained their own; else the only adult
    population; else None (several, and nothing says which the take's device belongs to)."""
    adults = adult_populations(populations)
    if ADULT_POPULATION in adults:
        return ADULT_POPULATION
    return adults[0] if len(adults) == 1 else None


def detector_validation(entry: dict, rule: Optional["ValidationRule"] = None, *,
                        take_populations: Collection[Optional[str]] = (),
                        devices: Collection[Optional[str]] = ()) -> dict:
    """Whether the crackle detector's manifest ``validation`` block lets it count for adults.

    ``take_populations``: the adult population of each counted take's device (``population`` of
    :func:`edge.auscultation.stethoscope_validation`; None for a take that names no stethoscope, read as
    :func:`stethoscope_free_population`); empty: a take naming none. The takes count with the figures of
    their one population; takes of several populations (figures over different devices and patients that
    cannot be combined) do not count (``mixed_populations``), nor takes naming no stethoscope when the
    manifest has several adult populations and no ``adults`` (``population_not_stated``). ``devices``: the
    device of each counted take when its population has figures of its own for it, None for a take through
    a device without (or naming no stethoscope) (:func:`edge.modalities.counted_device`); empty: none known.
    When the chosen population passes the rule and has figures of its own for every one of ``devices``
    (``by_device``), each must pass the rule too (:func:`device_weakness`; else not validated, for that
    device's reason), and the takes count with them: one device's (``figures_over: device``, with
    ``device``), or, through several, those of the least informative of them for the finding made
    (``figures_over: weakest_device``, with each device's figures in ``device_figures``, in the manifest's
    order, and no pooled figures: :func:`least_informative_device` chooses, from the finding, which count).
    Otherwise (a take through a device without figures of its own) with the population's pooled figures,
    which stand for that device (``figures_over: all_devices``).

    Returns ``{"validated": bool, "reason": str, ...}``; when validated, the chosen population's
    ``sensitivity``, ``specificity`` and their ``_ci95`` (patient level), ``patients``,
    ``positive_patients``, ``population`` (the manifest's words for it when it has them),
    ``population_key`` (its key in ``validation.populations``) and ``transfer`` (True when children's
    figures stand in for adults under the programme assumption ``ValidationRule.allow_child_transfer``).

    A block counts only at patient level (``unit == "patient"``) with patient-cluster bootstrap
    CIs, for an adult population, and when :func:`population_counts` passes. The old
    recording-level block, or none, means *unvalidated*: LR 1. A malformed patient-level block
    raises ``ValidationError``; ``models install`` (:mod:`edge.inference.bundle_checks`) calls this
    so such a bundle is refused at install.
    """
    rule = rule or ValidationRule()
    validation = entry.get("validation")
    if validation is None:
        return {"validated": False, "reason": "the crackle detector has no validation on patients",
                "reason_code": "no_patient_validation"}
    if not isinstance(validation, dict):
        raise ValidationError(f"auscultation manifest validation must be an object, got {type(validation).__name__}")
    if validation.get("unit") != "patient":
        return {"validated": False, "reason": "the crackle detector was validated per recording, not per patient",
                "reason_code": "no_patient_validation"}
    if validation.get("ci_method") != PATIENT_CI_METHOD:
        return {"validated": False, "reason": f"the crackle detector's confidence intervals are not by patient "
                                              f"({validation.get('ci_method')!r})", "reason_code": "no_patient_validation"}
    populations = validation.get("populations")
    if not isinstance(populations, dict):
        raise ValidationError("auscultation manifest validation.populations must be an object")
    checked = {name: _population_figures(block, name=f"auscultation validation.populations.{name}")
               for name, block in populations.items()}
    chosen = sorted({name or stethoscope_free_population(checked) or "" for name in take_populations or (None,)})
    if len(chosen) > 1:
        return {"validated": False, "reason_code": "mixed_populations",
                "reason": (f"the takes went through devices validated in different adult populations "
                           f"({', '.join(name or 'not stated' for name in chosen)}), whose figures cannot be combined")}
    population = chosen[0]
    if not population and len(adult_populations(checked)) > 1:
        return {"validated": False, "reason_code": "population_not_stated",
                "reason": (f"the takes name no stethoscope and the crackle detector was validated in several adult "
                           f"populations ({', '.join(adult_populations(checked))}): none says which to count with")}
    adults = checked.get(population) if population in adult_populations(checked) else None
    weak = (("no_patient_validation", "the crackle detector has not been validated in adults") if adults is None
            else population_counts(adults, rule))
    if weak is None:
        by_device = adults.get("by_device") if isinstance(adults.get("by_device"), dict) else {}
        named = list(dict.fromkeys(devices))
        if not named or any(device not in by_device for device in named):
            return {"validated": True, "reason": "validated in adults, per patient", "population": population,
                    "transfer": False, **adults, "population_key": population, "figures_over": "all_devices"}
        for device in named:
            weak_device = device_weakness(adults, device, rule, name=population)
            if weak_device is not None:
                return {"validated": False, "reason_code": weak_device[0], "reason": weak_device[1]}
        own = {device: _population_figures(by_device[device], name=f"{population}.by_device.{device}")
               for device in by_device if device in named}
        if len(own) == 1:
            [(device, figures)] = own.items()
            return {"validated": True, "reason": f"validated in adults, per patient, through {device} alone",
                    "population": population, "transfer": False, **adults, **figures,
                    "population_key": population, "figures_over": "device", "device": device}
        described = {key: value for key, value in adults.items()
                     if key not in (*POPULATION_FIGURES, "assessable_patients")}
        return {"validated": True, "population": population, "transfer": False, **described,
                "reason": f"validated in adults, per patient, through each of {', '.join(own)} alone",
                "population_key": population, "figures_over": "weakest_device", "device_figures": own}
    if rule.allow_child_transfer and rule.child_population in checked:
        child = checked[rule.child_population]
        if population_counts(child, rule) is None:
            return {"validated": True, "population": rule.child_population, "transfer": True, **child,
                    "population_key": rule.child_population, "figures_over": "all_devices",
                    "reason": "children's figures stand in for adults (programme assumption; it widens the range)"}
    return {"validated": False, "reason_code": weak[0], "reason": weak[1]}


def least_informative_device(device_figures: Mapping[str, dict], sign: "CrackleSign", *, positive: bool) -> str:
    """Of the devices an exam's counted takes went through (``device_figures``: each one's own figures,
    :func:`detector_validation`'s ``device_figures``), the one whose figures give the finding made the least
    evidence: for a positive finding (``positive``) the lowest likelihood ratio of crackles, for a clear one
    the highest likelihood ratio of none (the nearest 1), each through ``sign`` (:func:`crackle_log_lrs`). A
    programme rule (docs/evidence.md, *Per device*): a finding over takes through several devices has no
    figures of its own, and the pooled ones are over recordings of every device of the population (those
    whose own figures fail the rule too) with up to one recording a site per device, so the takes count
    as if they had all gone through the weakest of them. On a tie, the first in ``device_figures``' order.

    Examples
    --------
    >>> figures = {"sensitivity_ci95": (0.5, 0.9), "specificity_ci95": (0.6, 0.9), "patients": 30}
    >>> devices = {"S bell": {**figures, "sensitivity": 0.6, "specificity": 0.9},
    ...            "S diaphragm": {**figures, "sensitivity": 0.9, "specificity": 0.7}}
    >>> sign = crackle_sign_for("SSc")
    >>> least_informative_device(devices, sign, positive=True), least_informative_device(devices, sign, positive=False)
    ('S diaphragm', 'S bell')
    """
    direction = "positive" if positive else "negative"
    log_lr = {device: crackle_log_lrs(sign, figures)[direction][0] for device, figures in device_figures.items()}
    return min(log_lr, key=log_lr.get) if positive else max(log_lr, key=log_lr.get)


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
    if detector.get("transfer"):
        # Children's figures standing in for adults: in adults the detector may tell nothing.
        positives.append(0.0)
        negatives.append(0.0)
    return {"positive": (positive, min(positives), max(positives)),
            "negative": (negative, min(negatives), max(negatives))}


# Why a modality is not counted, as a code the result page words in the nurse's language.
REASON_CODES = ("synthetic", "no_patient_validation", "too_few", "uncertain", "not_scorable", "mixed_populations",
                "population_not_stated", "device_too_few", "device_uncertain")


def _not_counted(modality: str, why: dict, model_version: str, status: dict, finding: dict) -> ModalityEvidence:
    """A modality that was measured but does not count: LR 1, with the reason in plain words
    (``why``: ``{"reason", "reason_code"}``)."""
    reason = why["reason"]
    finding.update(validated=False, counted=False, status="unvalidated", reason=reason,
                   reason_code=why["reason_code"], note=f"{NOT_COUNTED}: {reason}")
    return ModalityEvidence(modality, 0.0, (0.0, 0.0), model_version, status, finding)


def _counted(finding: dict, reason: str) -> dict:
    finding.update(validated=True, counted=True, status="validated", reason=reason)
    return finding


def site_crackle_accuracy(site: Optional[dict]) -> Optional[PublishedAccuracy]:
    """The basal crackle finding's accuracy for ILD measured on the clinic's own verified patients
    (``ildscreen calibrate``), when that status validated lung sounds and carries it; else None."""
    if not site or not site.get("validated") or site.get("sensitivity") is None:
        return None
    return measured_accuracy(site, site.get("reason") or "this clinic's outcomes")


def measured_accuracy(figures: dict, source: str) -> PublishedAccuracy:
    """The finding's accuracy from outcome figures (``sensitivity``, ``sensitivity_ci95``,
    ``specificity``, ``specificity_ci95``: a clinic's or a region's), each held inside
    [PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]: a 0 or 1 from few patients would make an infinite LR."""
    def held(value) -> float:
        return min(max(float(value), PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR)

    return PublishedAccuracy(held(figures["sensitivity"]), tuple(held(v) for v in figures["sensitivity_ci95"]),
                             held(figures["specificity"]), tuple(held(v) for v in figures["specificity_ci95"]),
                             source)


def region_summary(region: dict) -> dict:
    """What a finding says about the regional validation that counted it."""
    return {key: region[key] for key in ("region", "version", "clinics", "patients", "positive_patients")}


def crackle_accuracy(entry: dict, options: EvidenceOptions, *, site: Optional[dict] = None,
                     region: Optional[dict] = None, take_populations: Collection[Optional[str]] = (),
                     devices: Collection[Optional[str]] = ()) -> tuple[dict, Optional[PublishedAccuracy], Optional[str]]:
    """``(detector, local, source)``: which validation lets lung sounds count, in order of
    precedence. ``source`` is ``"manifest"`` (the detector's adult validation: ``local`` None, the
    sign's accuracy through the detector's), ``"site"`` (the clinic's own outcomes) or ``"region"``
    (:func:`regional_status`), with ``local`` the finding's accuracy for ILD; None when nothing
    counts, and then ``detector["reason"]`` says why (the region's reason added). ``take_populations``: the
    adult population of each counted take's device; ``devices``: each counted take's device with figures of
    its own, None for one without (:func:`detector_validation`)."""
    detector = detector_validation(entry, options.validation_rule, take_populations=take_populations, devices=devices)
    if detector["validated"]:
        return detector, None, "manifest"
    local = site_crackle_accuracy(site)
    if local is not None:
        return detector, local, "site"
    if region:
        regional = regional_status(region, options.validation_rule, needs_finding=True,
                                   served_version=f"{entry.get('name')}-{entry.get('version')}")
        if regional["validated"]:
            return detector, regional["accuracy"], "region"
        detector = {**detector, "reason": f"{detector['reason']}; {regional['reason']}"}
    return detector, None, None


def crackle_evidence(site_probabilities: Mapping[str, Optional[float]], entry: dict, *, ctd_diagnosis: str,
                     model_version: str, options: EvidenceOptions, site: Optional[dict] = None,
                     region: Optional[dict] = None, take_populations: Collection[Optional[str]] = (),
                     devices: Collection[Optional[str]] = ()) -> Optional[ModalityEvidence]:
    """The visit's patient-level lung-sound evidence for ILD, or None when no lung site was usable.

    ``site_probabilities`` holds each site's finding: the maximum over its accepted recordings
    (:func:`edge.modalities.site_probabilities`). A positive finding counts in full; a clear chest
    counts fully only for a complete exam (every ``options.protocol_basal_sites`` accepted), else
    by the share of them that was accepted. Without an adult validation in the manifest, the
    clinic's own outcomes (``site``, when they validated lung sounds) give the finding's accuracy
    for ILD directly; failing those, the region's (``region``, :func:`regional_status`). The manifest's
    figures are those of the counted takes' devices' adult population (``take_populations``,
    :func:`detector_validation`), or, when that population has figures of its own for each of the takes'
    ``devices``, those of their one device, or of the least informative of several for the finding made
    (:func:`least_informative_device`); the finding says which (``figures_over``: ``device`` or
    ``weakest_device``, with its ``device``; ``all_devices``) and keeps ``counted_devices`` (the takes'
    ``devices``, in order, once each), which :func:`edge.freshness.models_changed` reads.
    """
    finding = crackle_finding(site_probabilities, threshold=entry.get("threshold"))
    if finding["level"] is None:
        return None
    status = validation_status(entry, name="auscultation").as_dict()
    protocol = options.protocol_basal_sites
    accepted = [site for site in protocol if site in finding["sites"]]
    finding.update(protocol_basal_sites=list(protocol), accepted_protocol_basal_sites=accepted,
                   complete_exam=len(accepted) == len(protocol))
    detector, local, source = crackle_accuracy(entry, options, site=site, region=region,
                                               take_populations=take_populations, devices=devices)
    if source == "region":
        finding["region"] = region_summary(region)
    if source is None:
        return _not_counted("auscultation", detector, model_version, status, finding)
    sign = crackle_sign_for(ctd_diagnosis)
    if not local and detector["figures_over"] == "weakest_device":
        device = least_informative_device(detector["device_figures"], sign, positive=finding["level"] != "none")
        detector = {**detector, **detector["device_figures"][device], "device": device}
    lrs = local.log_lrs() if local else crackle_log_lrs(sign, detector)
    if finding["level"] == "basal":
        value, low, high = lrs["positive"]
    elif finding["level"] == "other_sites":
        value, low, high = (options.other_site_weight * x for x in lrs["positive"])
    else:
        # A clear chest rules out basal crackles only as far as the protocol's bases were heard.
        share = len(accepted) / len(protocol)
        value, low, high = (share * x for x in lrs["negative"])
        finding["negative_share"] = share
    if local:
        finding.update(validation_source=source, site_sensitivity=local.sensitivity,
                       site_specificity=local.specificity)
        return ModalityEvidence("auscultation", value, (min(low, value), max(high, value)), model_version, status,
                                _counted(finding, local.source))
    _counted(finding, detector["reason"])
    finding.update(sign_source=sign.source, detector_population=detector["population"],
                   detector_population_key=detector["population_key"],
                   detector_transfer=detector["transfer"], detector_dataset=detector.get("dataset"),
                   figures_over=detector["figures_over"], device=detector.get("device"),
                   counted_devices=list(dict.fromkeys(devices)),
                   sign_sensitivity=sign.sensitivity, sign_specificity=sign.specificity,
                   detector_sensitivity=detector["sensitivity"], detector_specificity=detector["specificity"])
    return ModalityEvidence("auscultation", value, (min(low, value), max(high, value)), model_version, status,
                            finding)


def crackle_potential_range(entry: dict, *, ctd_diagnosis: str, options: Optional[EvidenceOptions] = None,
                            site: Optional[dict] = None, region: Optional[dict] = None) -> tuple[float, float]:
    """Log LRs lung sounds would give after a complete exam: clear to basal crackles, from the
    same validation :func:`crackle_evidence` would count (the manifest's, the clinic's own or the
    region's); (0, 0) when none counts. From the manifest: the pooled figures of the population a take
    naming no stethoscope counts with, the range of the population, not of a device (an exam through one
    device with figures of its own counts with those, one through several such devices with the least
    informative of them: which devices the missing takes would go through is not known), and (0, 0) when
    no device of that population can count (each one's own figures fail the rule: :func:`device_weakness`),
    since then no take would."""
    options = options or EvidenceOptions()
    detector, local, source = crackle_accuracy(entry, options, site=site, region=region)
    if source == "manifest" and not detector["transfer"] and all(
            device_weakness(detector, device, options.validation_rule, name=detector["population_key"]) is not None
            for device in detector.get("devices") or [None]):
        source = None
    if source is None:
        return 0.0, 0.0
    lrs = local.log_lrs() if local else crackle_log_lrs(crackle_sign_for(ctd_diagnosis), detector)
    return lrs["negative"][0], lrs["positive"][0]
