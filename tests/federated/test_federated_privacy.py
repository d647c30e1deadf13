"""The epsilon reported for Flower's server-side DP follows the zCDP accounting it states."""
import math

import pytest

from federated.privacy import PrivacySettings, epsilon


def test_rounds_compose_as_zcdp_rho_adds_up():
    # rho = rounds / (2 z^2): 4 rounds at z = 2 spend what 1 round at z = 1 spends.
    assert epsilon(2.0, 4, 1e-5) == pytest.approx(epsilon(1.0, 1, 1e-5))
    rho = 0.5
    assert epsilon(1.0, 1, 1e-6) == pytest.approx(rho + 2 * math.sqrt(rho * math.log(1e6)))


def test_more_noise_or_fewer_rounds_give_a_smaller_epsilon():
    assert epsilon(5.0, 60, 1e-5) < epsilon(2.0, 60, 1e-5)
    assert epsilon(5.0, 30, 1e-5) < epsilon(5.0, 60, 1e-5)


@pytest.mark.parametrize("z, rounds, delta", [(0.0, 1, 1e-5), (1.0, 0, 1e-5), (1.0, 1, 0.0), (1.0, 1, 1.0)])
def test_impossible_accounting_inputs_are_refused(z, rounds, delta):
    with pytest.raises(ValueError):
        epsilon(z, rounds, delta)


@pytest.mark.parametrize("kwargs, message", [({"noise_multiplier": 0, "clipping_norm": 1}, "noise multiplier"),
                                             ({"noise_multiplier": 1, "clipping_norm": -1}, "clipping norm"),
                                             ({"noise_multiplier": 1, "clipping_norm": 1, "delta": 2}, "delta")])
def test_privacy_settings_name_the_bad_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PrivacySettings(**kwargs)


# --- clinic-side DP on the deployment engine (LocalPrivacy) -------------------------------------

import numpy as np  # noqa: E402

from federated.model import N_COEFFICIENTS, NEWTON_LENGTH, Scaler, newton_sums, newton_step, predict  # noqa: E402
from federated.population import make_clinics  # noqa: E402
from federated.privacy import LocalPrivacy  # noqa: E402


def test_one_patient_moves_the_clipped_sums_by_at_most_the_sensitivity_the_noise_is_scaled_to():
    clinic = make_clinics(2, seed=3, scale=0.5)[0]
    scaler = Scaler.of(clinic.X_train)
    theta = np.full(N_COEFFICIENTS, 0.1)
    near, far = clinic.X_train[:1] * 3, clinic.X_train[:1] * 1e6
    for clip, outlier in ((1.5, near), (3.0, near), (3.0, far)):
        without = newton_sums(clinic.X_train, clinic.y_train, scaler, theta, clip_norm=clip)
        with_one = newton_sums(np.vstack([clinic.X_train, outlier]), np.append(clinic.y_train, 0), scaler, theta,
                               clip_norm=clip)
        change = with_one - without
        assert np.linalg.norm(change[1:1 + N_COEFFICIENTS]) <= clip + 1e-9
        assert np.linalg.norm(change[1 + N_COEFFICIENTS:]) <= clip ** 2 / 4 + 1e-9
    outlier = clinic.X_train[:1] * 1e6  # a patient far outside the others
    unclipped = newton_sums(np.vstack([clinic.X_train, outlier]), np.append(clinic.y_train, 0), scaler, theta)
    plain = newton_sums(clinic.X_train, clinic.y_train, scaler, theta)
    assert np.linalg.norm((unclipped - plain)[1:1 + N_COEFFICIENTS]) > 3


def test_the_noise_has_the_stated_size_and_the_log_likelihood_is_not_sent():
    privacy = LocalPrivacy(noise_multiplier=2.0, clipping_norm=3.0)
    sums = np.arange(NEWTON_LENGTH, dtype=float)
    noisy = np.array([privacy.privatise(sums, np.random.default_rng(seed)) for seed in range(400)])
    assert np.all(noisy[:, 0] == 0)
    assert np.std(noisy[:, 1:1 + N_COEFFICIENTS] - sums[1:1 + N_COEFFICIENTS]) == pytest.approx(6.0, rel=0.05)
    assert np.std(noisy[:, 1 + N_COEFFICIENTS:] - sums[1 + N_COEFFICIENTS:]) == pytest.approx(4.5, rel=0.05)


def test_each_newton_round_spends_two_gaussian_mechanisms():
    privacy = LocalPrivacy(noise_multiplier=4.0, clipping_norm=2.0)
    assert privacy.epsilon(6) == pytest.approx(epsilon(4.0, 12, 1e-5))
    assert privacy.epsilon(3) < privacy.epsilon(6)
    assert LocalPrivacy.from_metrics(privacy.metrics()) == privacy
    assert LocalPrivacy.from_node_config({k: str(v) for k, v in privacy.node_config().items()}) == privacy
    assert LocalPrivacy.from_node_config({"clinic": "c"}) is None


@pytest.mark.parametrize("config, message", [
    ({"dp-noise-multiplier": "2"}, "needs dp-clipping-norm"),
    ({"dp-noise-multiplier": "two", "dp-clipping-norm": "2"}, "must be numbers"),
    ({"dp-noise-multiplier": "2", "dp-clipping-norm": "0.5"}, "clipping norm must be >= 1"),
])
def test_a_bad_clinic_dp_setting_is_refused_naming_it(config, message):
    with pytest.raises(ValueError, match=message):
        LocalPrivacy.from_node_config(config)


def test_federated_newton_on_noisy_sums_stays_near_the_noise_free_model():
    from evaluation.metrics import roc_auc

    clinics = make_clinics(5, seed=2, scale=0.6)
    X = np.vstack([c.X_train for c in clinics])
    scaler = Scaler.of(X)
    X_test, y_test = np.vstack([c.X_test for c in clinics]), np.concatenate([c.y_test for c in clinics])
    privacy, rng = LocalPrivacy(noise_multiplier=4.0, clipping_norm=2.0), np.random.default_rng(0)
    plain, noisy = np.zeros(N_COEFFICIENTS), np.zeros(N_COEFFICIENTS)
    total_sd = np.sqrt(len(clinics)) * privacy.information_noise_sd
    for _ in range(6):
        plain, _ = newton_step(sum(newton_sums(c.X_train, c.y_train, scaler, plain) for c in clinics), plain)
        sums = sum(privacy.privatise(newton_sums(c.X_train, c.y_train, scaler, noisy, clip_norm=2.0), rng)
                   for c in clinics)
        noisy, _ = newton_step(sums, noisy, information_noise_sd=total_sd)
    assert not np.allclose(noisy, plain)  # the noise changes the model...
    auc_plain = roc_auc(y_test, predict(plain, scaler, X_test)).auc
    auc_noisy = roc_auc(y_test, predict(noisy, scaler, X_test, clip_norm=2.0)).auc
    assert auc_plain - 0.06 < auc_noisy < auc_plain + 0.02  # ...without running away (the eigenvalue floor)
