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
