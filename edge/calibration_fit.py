"""Fitting a site calibration on the clinic's confirmed outcomes, and reporting what it changes.

The fit is a logistic recalibration of the fused probability (intercept and slope), weighted
for verification by triage tier x advice (:mod:`edge.outcome_labels`; visits still inside
their outcome window without an outcome left out) and shrunk towards "no change" by a Gaussian prior whose widths
are settings (``calibration_prior_sd_intercept``, ``calibration_prior_sd_slope``). "Before" is
the calibration in use now; "after" is the new one on cross-validation with folds by *patient*:
each labelled visit is predicted by a fit that saw no visit of its patient.

Each modality also gets its status at this clinic (:func:`modality_status`, the site rows of
``edge.fusion.evidence.ValidationRule``): enough verified patients with it measured and a
weighted AUC whose lower 95% bound clears the rule. It is reported and stored with the
calibration; once the calibration is active, a modality validated here counts in
assessments (``edge.modalities.site_validation``).

Per-modality recalibration (a weight on the clinical prior's log-odds and on each modality's
log likelihood ratio, shrunk towards 1) needs many more events than one intercept and slope
(about 10-20 events per estimated parameter: Peduzzi et al., J Clin Epidemiol 1996;49:1373-1379;
Riley et al., BMJ 2020;368:m441); below ``MODALITY_MIN_EVENTS`` it is not attempted. When it is,
it is reported, not applied: how the modalities combine belongs to the fusion (edge/fusion),
which can take the weights from this report.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

import numpy as np

from edge.errors import ValidationError
from edge.fusion.evidence import ValidationRule
from edge.fusion.fusion import MODALITIES
from edge.outcome_labels import awaiting_outcome, verified_with_weights
from edge.site_calibration import SiteCalibration
from evaluation.errors import EvaluationError
from evaluation.binned import finding_accuracy, finding_counts
from evaluation.recalibration import (
    calibration_in_the_large,
    calibration_slope,
    fit_logistic_recalibration,
    fit_penalised_logistic,
    logit,
    weighted_brier_score,
    weighted_expected_calibration_error,
    weighted_roc_auc,
)

FOLDS = 5
MODALITY_MIN_EVENTS = 100  # programme assumption: ~3 modality slopes x 20 events, plus margin
SEED = 0  # fixed: the same outcomes always give the same folds and report


def risk_metrics(y: np.ndarray, p: np.ndarray, w: np.ndarray, patients: np.ndarray) -> dict:
    """Weighted calibration-in-the-large, slope, ECE, Brier and AUC (null where undefined); the
    AUC's interval resamples ``patients`` (one per visit), not visits."""
    metrics = {"calibration_in_the_large": calibration_in_the_large(y, p, weights=w),
               "ece": weighted_expected_calibration_error(y, p, weights=w),
               "brier": weighted_brier_score(y, p, weights=w), "calibration_slope": None, "auc": None}
    try:
        metrics["calibration_slope"] = calibration_slope(y, p, weights=w)
        metrics["auc"] = weighted_roc_auc(y, p, weights=w, clusters=patients, seed=SEED)
    except EvaluationError:
        pass  # one class only, or perfectly separated: left null rather than guessed
    return metrics


def fold_of(y: np.ndarray, folds: int, groups=None) -> np.ndarray:
    """Fold numbers by patient (``groups``; default one per visit), stratified: every visit of a
    patient in one fold, each fold with its share of patients with and without ILD."""
    groups = np.arange(y.size) if groups is None else np.asarray(groups)
    unique, inverse = np.unique(groups, return_inverse=True)
    group_label = np.zeros(unique.size, dtype=int)
    np.maximum.at(group_label, inverse, y.astype(int))
    rng = np.random.default_rng(SEED)
    group_fold = np.empty(unique.size, dtype=int)
    for label in (0, 1):
        members = np.flatnonzero(group_label == label)
        group_fold[rng.permutation(members)] = np.arange(members.size) % folds
    return group_fold[inverse]


def patient_ids(labelled: list[dict]) -> np.ndarray:
    """Each labelled visit's patient (its own id when the visit names none)."""
    return np.array([str(visit.get("patient_id", f"visit-{index}")) for index, visit in enumerate(labelled)])


def cross_validated(y: np.ndarray, p: np.ndarray, w: np.ndarray, prior_sd: tuple[float, float],
                    folds: int, groups=None) -> np.ndarray:
    """Out-of-fold recalibrated probabilities (folds by patient)."""
    assignment = fold_of(y, folds, groups)
    predicted = np.empty_like(p)
    for fold in range(folds):
        held = assignment == fold
        fit = fit_logistic_recalibration(y[~held], p[~held], weights=w[~held], prior_sd=prior_sd)
        predicted[held] = fit.apply(p[held])
    return predicted


def per_modality_weights(labelled: list[dict], y: np.ndarray, weights: np.ndarray,
                         prior_sd: tuple[float, float]) -> dict:
    """Weights on the prior's log-odds and each modality's log LR (1 = as fused now), or why not."""
    n_events = int(y.sum())
    if n_events < MODALITY_MIN_EVENTS:
        return {"fitted": False, "reason": f"needs at least {MODALITY_MIN_EVENTS} events, has {n_events}"}
    names = ("clinical_prior", *MODALITIES)
    x = np.column_stack([np.ones(y.size), logit([visit["pretest_probability"] for visit in labelled]),
                         *[[visit["log_likelihood_ratios"].get(name, 0.0) for visit in labelled]
                           for name in MODALITIES]])
    try:
        theta, se = fit_penalised_logistic(x, y, weights=weights, prior_mean=(0.0,) + (1.0,) * len(names),
                                           prior_sd=(prior_sd[0],) + (prior_sd[1],) * len(names))
    except EvaluationError as exc:
        return {"fitted": False, "reason": str(exc)}
    return {"fitted": True, "applied": False, "intercept": float(theta[0]),
            "weights": {name: {"value": float(value), "se": float(error)}
                        for name, value, error in zip(names, theta[1:], se[1:])},
            "with_evidence": {name: sum(name in visit["log_likelihood_ratios"] for visit in labelled)
                              for name in MODALITIES},
            "note": "reported, not applied: the fusion (edge/fusion) owns how modalities combine"}


def basal_finding_accuracy(labelled: list[dict], y: np.ndarray, weights: np.ndarray, rows: list[int]) -> dict:
    """Sensitivity and specificity of the basal crackle finding for ILD at the clinic, weighted for
    verification; 95% CIs are Wilson intervals of the weighted proportions at their effective
    sizes (:func:`evaluation.binned.finding_accuracy`, which the region's secure sums use too)."""
    level = np.array([labelled[index].get("crackle_level") == "basal" for index in rows], dtype=bool)
    return finding_accuracy(finding_counts(y[rows], level, weights=weights[rows]))


def modality_status(labelled: list[dict], y: np.ndarray, weights: np.ndarray, rule: ValidationRule) -> dict:
    """Per modality: whether the clinic's own verified outcomes validate it (``rule``'s site rows).

    A modality's output is what its model said at the visit (``modality_probabilities``: counted
    or not), so a model measured but not yet counted can earn its weight here. ``patients`` and
    ``events`` count patients (verified, and with ILD at a visit with it measured), as the rule's
    rows do: a patient verified at several visits is one patient; ``event_visits`` counts the
    visits with ILD.
    """
    statuses = {}
    groups = patient_ids(labelled)  # the AUC's interval resamples patients, not visits
    for name in MODALITIES:
        rows = [index for index, visit in enumerate(labelled) if name in (visit.get("modality_probabilities") or {})]
        ys = y[rows] if rows else np.array([], dtype=int)
        members = groups[rows] if rows else np.array([], dtype=str)
        patients = len(set(members))
        events = len(set(members[ys == 1]))
        status = {"validated": False, "patients": patients, "events": events, "event_visits": int(ys.sum()),
                  "auc": None, "auc_ci95": None, "auc_lower_judged": None,
                  "rule": {"min_patients": rule.site_min_patients, "min_events": rule.site_min_events,
                           "min_auc_lower": rule.site_min_auc_lower}}
        if patients < rule.site_min_patients or events < rule.site_min_events:
            status["reason"] = (f"{patients} verified patients ({events} with ILD) at this clinic; "
                                f"{rule.site_min_patients} ({rule.site_min_events} with ILD) are needed")
        else:
            p = np.array([labelled[index]["modality_probabilities"][name] for index in rows])
            try:
                auc = weighted_roc_auc(ys, p, weights=weights[rows], clusters=members, seed=SEED)
            except EvaluationError as exc:
                status["reason"] = f"its AUC cannot be estimated: {exc}"
            else:
                # The rule judges the lower of the bootstrap's bound and Newcombe's score bound on
                # the patients with and without ILD: a bootstrap of perfectly ranked patients is a point.
                auc_lower = rule.auc_lower_bound(auc["auc"], auc["ci95"][0],
                                                 with_ild=events,
                                                 without_ild=len(set(members[ys == 0])))
                status.update(auc=auc["auc"], auc_ci95=auc["ci95"], auc_lower_judged=auc_lower)
                if name == "auscultation":
                    status.update(basal_finding_accuracy(labelled, y, weights, rows))
                if name == "auscultation" and not rule.beats_chance(status):
                    status["reason"] = ("its basal crackle finding's sensitivity and specificity at this clinic "
                                        "are still too uncertain")
                elif auc_lower >= rule.site_min_auc_lower:
                    status.update(validated=True, reason=f"validated on {patients} verified patients at this clinic "
                                                         f"(AUC {auc['auc']:.2f}, 95% CI {auc['ci95'][0]:.2f}-"
                                                         f"{auc['ci95'][1]:.2f})")
                else:
                    status["reason"] = (f"its AUC at this clinic could be as low as {auc_lower:.2f}; "
                                        f"{rule.site_min_auc_lower:.2f} is needed")
        statuses[name] = status
    return statuses


def fit_site_calibration(visits: list[dict], *, active: SiteCalibration, prior_sd: tuple[float, float],
                         window_months: float, rule: "ValidationRule | None" = None) -> tuple[dict, dict]:
    """``(report, document)``: the before/after report and the calibration file to store.

    Raises ``ValidationError`` when there is no confirmed outcome to learn from.
    """
    rule = rule or ValidationRule()
    labelled, weights, fractions = verified_with_weights(visits)
    y = np.array([visit["label"] for visit in labelled])
    fused = np.array([visit["fused_probability"] for visit in labelled])
    n_events = int(y.sum())
    before = np.array([active.apply(value) for value in fused])
    groups = patient_ids(labelled)
    event_patients = len(set(groups[y == 1]))
    folds = min(FOLDS, event_patients, len(set(groups[y == 0])))
    try:
        fit = fit_logistic_recalibration(y, fused, weights=weights, prior_sd=prior_sd)
    except EvaluationError as exc:
        raise ValidationError(f"cannot fit a site calibration: {exc}") from exc
    after: Optional[dict] = None
    if folds >= 2:
        after = risk_metrics(y, cross_validated(y, fused, weights, prior_sd, folds, groups), weights, groups)
    unverified = [name for name, row in fractions.items() if row["verified"] == 0]
    modalities = modality_status(labelled, y, weights, rule)
    report = {
        "n_outcomes": int(y.size), "n_events": n_events, "n_assessed": len(visits),
        "before": {"calibration_version": active.version, **risk_metrics(y, before, weights, groups)},
        "after": after, "cross_validation_folds": folds if folds >= 2 else 0,
        "fit": {"intercept": fit.intercept, "slope": fit.slope, "intercept_se": fit.intercept_se,
                "slope_se": fit.slope_se, "prior_sd": {"intercept": prior_sd[0], "slope": prior_sd[1]}},
        "per_modality": per_modality_weights(labelled, y, weights, prior_sd),
        "modalities": modalities,
        "verification": {
            "by_stratum": fractions,
            "method": "inverse probability of verification by triage tier x advice (Begg & Greenes 1983)",
            "left_out_awaiting_outcome": sum(1 for visit in visits if awaiting_outcome(visit)),
            "cannot_estimate": ([f"{name}: nobody verified, so its outcomes are unknown" for name in unverified]
                                + ["bias from verification decided on anything not recorded (e.g. a clinician's "
                                   "judgement beyond the tier)"]),
        },
        "window_months": window_months,
    }
    document = {"intercept": fit.intercept, "slope": fit.slope, "fitted_at": dt.datetime.now(dt.timezone.utc)
                .isoformat(timespec="seconds"), "n_outcomes": int(y.size), "n_events": n_events,
                "prior_sd": [prior_sd[0], prior_sd[1]], "window_months": window_months, "modalities": modalities,
                "before": report["before"], "after": after}
    return report, document
