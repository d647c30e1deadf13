"""Site recalibration recovers the truth when verification follows the real referral rule: a
simulated site whose HRCTs follow the guideline line's advice and the tier (edge.simulation
.verification_chance), triaged by the real triage (edge.fusion.triage)."""
import numpy as np
import pytest

from edge.calibration_fit import fit_site_calibration, fold_of
from edge.fusion.triage import RA_RISK_FACTORS, SJD_RISK_FACTORS, TriageThresholds, triage
from edge.outcome_labels import verified_with_weights
from edge.simulation import TRUE_INTERCEPT, TRUE_SLOPE, verification_chance
from edge.site_calibration import IDENTITY
from evaluation.recalibration import expit, fit_logistic_recalibration, logit
from evaluation.verification import inverse_probability_weights

BASE = {"SSc": 0.40, "IIM": 0.41, "MCTD": 0.40, "SjD": 0.23, "RA": 0.11, "SLE": 0.06}
# What the site's truth holds beyond the fused risk: more ILD in the CTDs a guideline line always
# refers (a site effect a one-map recalibration cannot model, so the weighting decides which
# population it is calibrated to).
TRUE_SHIFT = {"SSc": 1.5, "IIM": 1.5, "MCTD": 1.5}


def simulated_site(n, seed=0):
    """Visits of a site whose truth is TRUE_INTERCEPT + TRUE_SLOPE * logit(fused risk)."""
    rng = np.random.default_rng(seed)
    visits = []
    for index in range(n):
        ctd = str(rng.choice(list(BASE)))
        pool = sorted(RA_RISK_FACTORS if ctd == "RA" else SJD_RISK_FACTORS if ctd == "SjD" else ())
        factors = {factor for factor in pool if rng.uniform() < 0.2}
        fused = float(expit(logit(BASE[ctd]) + rng.normal(-0.3, 1.3)))
        truth = float(expit(TRUE_INTERCEPT + TRUE_SLOPE * logit(fused) + TRUE_SHIFT.get(ctd, 0.0)))
        triaged = triage(fused, thresholds=TriageThresholds(), flags=[], ctd_diagnosis=ctd, factors=factors)
        tier, advice = triaged["tier"], triaged["recommendation"]["advice"]
        verified = rng.uniform() < verification_chance(tier, advice)
        visits.append({"assessment_id": index, "patient_id": index // 2, "tier": tier, "advice": advice,
                       "fused_probability": fused, "truth": truth, "window_open": False,
                       "pretest_probability": BASE[ctd], "log_likelihood_ratios": {},
                       "label": int(rng.uniform() < truth) if verified else None})
    return visits


def recalibrated_prevalence(fit, visits):
    fused = np.array([visit["fused_probability"] for visit in visits])
    return float(np.mean(expit(fit["intercept"] + fit["slope"] * logit(fused))))


@pytest.fixture(scope="module")
def site():
    return simulated_site(20000)


def test_recalibrated_prevalence_is_within_001_of_the_truth(site):
    report, _ = fit_site_calibration(site, active=IDENTITY, prior_sd=(10.0, 10.0), window_months=6)
    truth = float(np.mean([visit["truth"] for visit in site]))
    assert abs(recalibrated_prevalence(report["fit"], site) - truth) <= 0.01
    assert any(name.startswith("low x hrct_pfts") for name in report["verification"]["by_stratum"])


def test_weighting_by_tier_alone_misses_what_advice_adds(site):
    """The old rule (strata by tier only) leaves a bias the tier x advice strata remove."""
    verified = [visit["label"] is not None for visit in site]
    labelled = [visit for visit in site if visit["label"] is not None]
    y = np.array([visit["label"] for visit in labelled])
    p = np.array([visit["fused_probability"] for visit in labelled])
    by_tier = inverse_probability_weights([visit["tier"] for visit in site], verified)
    _, by_stratum, _ = verified_with_weights(site)
    truth = float(np.mean([visit["truth"] for visit in site]))
    errors = {}
    for name, weights in (("tier", by_tier), ("tier x advice", by_stratum)):
        fit = fit_logistic_recalibration(y, p, weights=weights, prior_sd=(10.0, 10.0))
        errors[name] = abs(recalibrated_prevalence({"intercept": fit.intercept, "slope": fit.slope}, site) - truth)
    assert errors["tier x advice"] <= 0.01 < errors["tier"]


def test_visits_awaiting_their_outcome_are_left_out_not_counted_unverified(site):
    opened = [{**visit, "window_open": True, "label": None} if index % 3 == 0 else visit
              for index, visit in enumerate(site[:3000])]
    labelled, weights, fractions = verified_with_weights(opened)
    assert sum(row["screened"] for row in fractions.values()) == 2000
    assert all(visit["window_open"] is False for visit in labelled)
    # An outcome already in counts even while the window is open.
    early = [{**visit, "window_open": True} if visit["label"] is not None else visit for visit in site[:3000]]
    assert len(verified_with_weights(early)[0]) == len(verified_with_weights(site[:3000])[0])


def test_folds_keep_every_visit_of_a_patient_together():
    y = np.array([0, 1, 0, 0, 1, 0, 1, 0, 0, 0])
    patients = np.array([1, 1, 2, 2, 3, 3, 4, 5, 5, 6])
    folds = fold_of(y, 2, patients)
    for patient in set(patients):
        assert len(set(folds[patients == patient])) == 1
    assert set(folds) == {0, 1}


def test_the_clinic_measures_the_basal_finding_accuracy_that_lets_lung_sounds_count():
    from edge.calibration_fit import modality_status
    from edge.fusion.evidence import ValidationRule

    rng = np.random.default_rng(3)
    labelled = []
    for index in range(400):
        ild = int(rng.uniform() < 0.3)
        basal = rng.uniform() < (0.8 if ild else 0.15)
        labelled.append({"patient_id": index, "label": ild, "crackle_level": "basal" if basal else "none",
                         "modality_probabilities": {"auscultation": float(rng.uniform(0.5, 1) if basal
                                                                          else rng.uniform(0, 0.5))}})
    y = np.array([visit["label"] for visit in labelled])
    status = modality_status(labelled, y, np.ones(y.size), ValidationRule())["auscultation"]
    assert status["validated"], status["reason"]
    assert abs(status["sensitivity"] - 0.8) < 0.08 and abs(status["specificity"] - 0.85) < 0.06
    assert status["sensitivity_ci95"][0] < status["sensitivity"] < status["sensitivity_ci95"][1]
