"""Weighted calibration metrics, logistic recalibration with shrinkage, verification weights
(Begg & Greenes) and the population stability index: each checked against an independent
computation or a known generating model."""
import numpy as np
import pytest

from evaluation.calibration import brier_score, expected_calibration_error
from evaluation.drift import population_stability_index
from evaluation.errors import EvaluationError
from evaluation.metrics import roc_auc
from evaluation.recalibration import (
    calibration_in_the_large,
    calibration_slope,
    expit,
    fit_logistic_recalibration,
    fit_penalised_logistic,
    logit,
    weighted_brier_score,
    weighted_expected_calibration_error,
    weighted_roc_auc,
)
from evaluation.verification import inverse_probability_weights, verification_fractions


def cohort(n, *, intercept=-0.8, slope=0.7, seed=0):
    """Risks from a shipped model and outcomes from a true model that recalibrates it."""
    rng = np.random.default_rng(seed)
    shipped = expit(rng.normal(-0.5, 1.5, n))
    truth = expit(intercept + slope * logit(shipped))
    return (rng.uniform(size=n) < truth).astype(int), shipped, truth


def test_unit_weights_reproduce_the_unweighted_metrics():
    y, p, _ = cohort(400)
    assert weighted_expected_calibration_error(y, p) == pytest.approx(expected_calibration_error(y, p))
    assert weighted_brier_score(y, p) == pytest.approx(brier_score(y, p))
    assert weighted_roc_auc(y, p)["auc"] == pytest.approx(roc_auc(y, p).auc)


def test_integer_weights_equal_repeating_the_cases():
    y, p, _ = cohort(200, seed=1)
    w = np.random.default_rng(2).integers(1, 4, y.size)
    y_rep, p_rep = np.repeat(y, w), np.repeat(p, w)
    assert weighted_roc_auc(y, p, weights=w)["auc"] == pytest.approx(roc_auc(y_rep, p_rep).auc)
    assert weighted_expected_calibration_error(y, p, weights=w) == pytest.approx(expected_calibration_error(y_rep, p_rep))
    assert calibration_in_the_large(y, p, weights=w) == pytest.approx(y_rep.mean() - p_rep.mean())


def test_weighted_auc_interval_contains_the_estimate_and_is_reproducible():
    y, p, _ = cohort(300, seed=3)
    first, second = weighted_roc_auc(y, p, seed=7), weighted_roc_auc(y, p, seed=7)
    assert first == second
    assert first["ci95"][0] < first["auc"] < first["ci95"][1]


def test_the_weighted_auc_interval_resamples_patients_not_visits():
    """Each patient seen at ten identical visits: resampling patients gives exactly the interval
    of one visit each; resampling visits would pretend ten times the data and narrow it."""
    y, p, _ = cohort(60, seed=5)
    w = np.random.default_rng(6).uniform(1, 3, y.size)
    patients = np.arange(y.size)
    once = weighted_roc_auc(y, p, weights=w, clusters=patients)
    repeated = weighted_roc_auc(np.repeat(y, 10), np.repeat(p, 10), weights=np.repeat(w, 10),
                                clusters=np.repeat(patients, 10))
    assert repeated["ci95"] == pytest.approx(once["ci95"]) and repeated["clusters"] == 60
    by_visit = weighted_roc_auc(np.repeat(y, 10), np.repeat(p, 10), weights=np.repeat(w, 10))
    assert by_visit["ci95"][1] - by_visit["ci95"][0] < 0.6 * (once["ci95"][1] - once["ci95"][0])


def test_a_cluster_label_is_needed_for_every_case():
    with pytest.raises(EvaluationError, match="one cluster label per case needed"):
        weighted_roc_auc([0, 1, 1], [0.1, 0.8, 0.7], clusters=["a", "b"])


def test_maximum_likelihood_recovers_the_true_recalibration():
    y, p, _ = cohort(20000, seed=4)
    fit = fit_logistic_recalibration(y, p)
    assert fit.intercept == pytest.approx(-0.8, abs=4 * fit.intercept_se)
    assert fit.slope == pytest.approx(0.7, abs=4 * fit.slope_se)
    assert calibration_slope(y, p) == fit.slope


def test_recalibrated_risks_are_calibrated_in_the_large_in_sample():
    y, p, _ = cohort(500, seed=5)
    w = np.where(p > 0.3, 1.0, 4.0)
    fit = fit_logistic_recalibration(y, p, weights=w)
    assert abs(calibration_in_the_large(y, p, weights=w)) > 0.05
    assert calibration_in_the_large(y, fit.apply(p), weights=w) == pytest.approx(0.0, abs=1e-9)


def test_the_prior_shrinks_a_small_sample_towards_no_change_and_barely_a_large_one():
    y, p, _ = cohort(5000, seed=6)
    prior = (0.5, 0.25)

    def distance(fit):
        return np.hypot(fit.intercept, fit.slope - 1)

    small_mle, small = fit_logistic_recalibration(y[:20], p[:20]), fit_logistic_recalibration(y[:20], p[:20], prior_sd=prior)
    large_mle, large = fit_logistic_recalibration(y, p), fit_logistic_recalibration(y, p, prior_sd=prior)
    assert distance(small) < 0.5 * distance(small_mle)
    assert distance(large) > 0.95 * distance(large_mle)


def test_weights_never_count_as_extra_outcomes():
    y, p, _ = cohort(40, seed=8)
    prior = (0.5, 0.25)
    once = fit_logistic_recalibration(y, p, prior_sd=prior)
    tenfold = fit_logistic_recalibration(y, p, weights=np.full(y.size, 10.0), prior_sd=prior)
    assert (tenfold.intercept, tenfold.slope) == pytest.approx((once.intercept, once.slope))


@pytest.mark.parametrize("call, message", [
    (lambda: calibration_in_the_large([0, 2], [0.1, 0.2]), "labels must be 0 or 1, got 2"),
    (lambda: calibration_in_the_large([0, 1], [0.1, 1.2]), r"probabilities must lie in \[0, 1\]"),
    (lambda: calibration_in_the_large([0, 1], [0.1, 0.2], weights=[1, 0]), "weights must be finite and > 0"),
    (lambda: calibration_in_the_large([0, 1], [0.1, 0.2], weights=[1]), "one weight per case"),
    (lambda: calibration_in_the_large([], []), "non-zero length"),
    (lambda: fit_logistic_recalibration([1, 1], [0.1, 0.2]), "both classes are needed"),
    (lambda: fit_logistic_recalibration([0, 1], [0.1, 0.2], prior_sd=(0, 1)), "prior standard deviations"),
    (lambda: weighted_roc_auc([0, 0], [0.1, 0.2]), "both classes are needed"),
])
def test_unusable_inputs_are_refused_naming_the_problem(call, message):
    with pytest.raises(EvaluationError, match=message):
        call()


def test_one_class_is_enough_for_a_shrunk_fit():
    fit = fit_logistic_recalibration([0, 0, 0], [0.2, 0.3, 0.4], prior_sd=(0.5, 0.25))
    assert fit.intercept < 0 and np.isfinite(fit.slope)


def test_inverse_probability_weighting_removes_verification_bias():
    rng = np.random.default_rng(9)
    y, p, truth = cohort(20000, seed=9)
    tier = np.where(p >= 0.3, "high", "low")
    verified = rng.uniform(size=y.size) < np.where(tier == "high", 0.9, 0.1)
    weights = inverse_probability_weights(tier, verified)
    naive = y[verified].mean()
    corrected = np.average(y[verified], weights=weights)
    assert naive - y.mean() > 0.05  # verified cases over-represent ILD
    assert corrected == pytest.approx(y.mean(), abs=0.02)
    assert verification_fractions(tier, verified)["high"]["fraction"] == pytest.approx(0.9, abs=0.02)


def test_weights_need_some_verification():
    with pytest.raises(EvaluationError, match="no screened patient has a verified outcome"):
        inverse_probability_weights(["low", "high"], [False, False])
    with pytest.raises(EvaluationError, match="one stratum per case"):
        inverse_probability_weights(["low"], [False, True])


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(10)
    reference = rng.beta(2, 5, 5000)
    assert population_stability_index(reference, rng.beta(2, 5, 2000)) < 0.02
    assert population_stability_index(reference, rng.beta(5, 2, 2000)) > 0.25
    with pytest.raises(EvaluationError, match="current must be a non-empty"):
        population_stability_index(reference, [])


def test_penalised_fit_converges_from_a_prior_centre_far_from_the_data():
    # A separated sample with the prior centred on the wrong sign: a full Newton step from there
    # overshoots (the fit failed to converge before step-halving; FedProx steps start this way).
    x = np.column_stack([np.ones(10), np.linspace(-1, 1, 10)])
    y = (x[:, 1] > 0).astype(int)
    centre, sd = np.array([0.0, -10.0]), np.array([3.0, 3.0])
    theta, _ = fit_penalised_logistic(x, y, prior_mean=centre, prior_sd=sd)
    gradient = x.T @ (y - expit(x @ theta)) - (theta - centre) / sd ** 2  # zero at the penalised optimum
    assert np.abs(gradient).max() < 1e-6
    assert theta[1] > 0  # the data win over the wrong-signed prior
