"""The labs model the clinics learn together: the shared scaler equals the pooled one although
no clinic sends a row, and a FedProx step is the exact share of the federation's objective (one
clinic holding everything converges to the central fit)."""
import numpy as np
import pytest

from evaluation.recalibration import fit_penalised_logistic
from federated.model import (
    N_COEFFICIENTS,
    PRIOR_SD,
    Scaler,
    feature_statistics,
    fit_logistic,
    fit_proximal,
    log_features,
    predict,
)
from federated.population import make_clinics
from tabular_models.lab_panels import LAB_FEATURES


@pytest.fixture(scope="module")
def clinics():
    return make_clinics(4, seed=3)


def test_scaler_from_summed_clinic_statistics_equals_the_pooled_mean_and_sd(clinics):
    pooled = np.vstack([clinic.X_train for clinic in clinics])
    scaler = Scaler.from_statistics([feature_statistics(clinic.X_train) for clinic in clinics], len(pooled))
    logged = log_features(pooled)
    measured = np.isfinite(logged).sum(axis=0) > 1
    assert np.allclose(scaler.mean[measured], np.nanmean(logged, axis=0)[measured])
    assert np.allclose(scaler.sd[measured], np.nanstd(logged, axis=0)[measured])
    assert scaler.n_examples == len(pooled)


def test_a_feature_nobody_measured_stays_at_zero_and_does_not_break_the_fit(clinics):
    X = clinics[-1].X_train.copy()
    X[:, LAB_FEATURES.index("kl6")] = np.nan
    scaler = Scaler.of(X)
    kl6 = LAB_FEATURES.index("kl6")
    assert (scaler.mean[kl6], scaler.sd[kl6]) == (0.0, 1.0)
    assert np.all(scaler.design(X)[:, kl6 + 1] == 0.0)
    theta = fit_logistic(X, clinics[-1].y_train, scaler)
    assert theta[kl6 + 1] == pytest.approx(0.0, abs=1e-9)  # no data: the coefficient stays at its prior mean


def test_scaler_travels_as_bytes_and_a_wrong_length_is_refused(clinics):
    scaler = Scaler.of(clinics[0].X_train)
    again = Scaler.from_bytes(scaler.to_bytes(), scaler.n_examples)
    assert np.array_equal(again.mean, scaler.mean) and np.array_equal(again.sd, scaler.sd)
    with pytest.raises(ValueError, match="scaler must hold"):
        Scaler.from_bytes(scaler.to_bytes()[:-8], 10)


def test_a_lab_matrix_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match=f"n x {len(LAB_FEATURES)}"):
        log_features(np.ones((3, 5)))


def test_fedprox_steps_of_one_clinic_holding_all_rows_converge_to_the_central_fit(clinics):
    X, y = clinics[-1].X_train, clinics[-1].y_train
    scaler = Scaler.of(X)
    theta = np.zeros(N_COEFFICIENTS)
    for _ in range(40):
        theta = fit_proximal(X, y, scaler, theta, proximal_mu=0.002)
    assert np.abs(theta - fit_logistic(X, y, scaler)).max() < 1e-3


def test_a_strong_proximal_term_keeps_the_clinic_at_the_global_model(clinics):
    X, y = clinics[0].X_train, clinics[0].y_train
    scaler = Scaler.of(X)
    start = np.linspace(-0.5, 0.5, N_COEFFICIENTS)
    assert np.abs(fit_proximal(X, y, scaler, start, proximal_mu=1e6) - start).max() < 1e-3
    assert np.abs(fit_proximal(X, y, scaler, start, proximal_mu=0.01) - start).max() > 0.1


def test_proximal_weight_must_be_positive(clinics):
    scaler = Scaler.of(clinics[0].X_train)
    with pytest.raises(ValueError, match="proximal_mu must be > 0"):
        fit_proximal(clinics[0].X_train, clinics[0].y_train, scaler, np.zeros(N_COEFFICIENTS), proximal_mu=0)


def test_predictions_are_probabilities_that_rank_ild_higher(clinics):
    X = np.vstack([clinic.X_train for clinic in clinics])
    y = np.concatenate([clinic.y_train for clinic in clinics])
    scaler = Scaler.of(X)
    p = predict(fit_logistic(X, y, scaler), scaler, np.vstack([clinic.X_test for clinic in clinics]))
    y_test = np.concatenate([clinic.y_test for clinic in clinics])
    assert np.all((p > 0) & (p < 1))
    assert p[y_test == 1].mean() > p[y_test == 0].mean()


def test_a_clinic_with_half_the_rows_carries_half_the_prior(clinics):
    # Iterated alone, its FedProx steps converge to its own rows under half the prior's precision.
    X, y = clinics[-1].X_train, clinics[-1].y_train
    own = Scaler.of(X)
    half = Scaler(own.mean, own.sd, 2 * len(y))
    theta = np.zeros(N_COEFFICIENTS)
    for _ in range(40):
        theta = fit_proximal(X, y, half, theta, proximal_mu=0.002)
    expected, _ = fit_penalised_logistic(half.design(X), y, prior_mean=np.zeros(N_COEFFICIENTS),
                                         prior_sd=PRIOR_SD * np.sqrt(2))
    assert np.abs(theta - expected).max() < 1e-3
    assert np.abs(theta - fit_logistic(X, y, own)).max() > 0.01  # the full prior would give another fit
