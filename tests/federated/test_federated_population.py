"""The synthetic clinics differ as the simulation promises: in size (some very small), CTD mix
and so prevalence, each split stratified into training and held-out rows; reproducible by seed."""
import numpy as np
import pytest

from edge.fusion.clinical_prior import BASE_PREVALENCE
from federated.population import HELD_OUT_SHARE, LARGEST_CLINIC, SMALLEST_CLINIC, make_clinics


def test_clinics_come_smallest_first_spanning_the_size_range():
    clinics = make_clinics(6, seed=0)
    sizes = [clinic.y_train.size + clinic.y_test.size for clinic in clinics]
    assert sizes == sorted(sizes)
    assert (sizes[0], sizes[-1]) == (SMALLEST_CLINIC, LARGEST_CLINIC)


def test_prevalence_follows_each_clinics_ctd_mix():
    clinics = make_clinics(8, seed=1)
    for clinic in clinics:
        assert sum(clinic.ctd_mix.values()) == pytest.approx(1, abs=0.01)
        expected = sum(share * BASE_PREVALENCE[name] for name, share in clinic.ctd_mix.items())
        assert clinic.expected_prevalence == pytest.approx(expected, abs=0.01)
    assert max(c.expected_prevalence for c in clinics) - min(c.expected_prevalence for c in clinics) > 0.1


def test_each_class_is_split_into_held_out_rows_in_the_same_share():
    for clinic in make_clinics(5, seed=2):
        for label in (0, 1):
            total = np.sum(clinic.y_train == label) + np.sum(clinic.y_test == label)
            assert np.sum(clinic.y_test == label) == round(HELD_OUT_SHARE * total)


def test_the_same_seed_gives_the_same_clinics_and_another_seed_others():
    first, again, other = make_clinics(3, seed=4), make_clinics(3, seed=4), make_clinics(3, seed=5)
    assert all(np.array_equal(a.X_train, b.X_train, equal_nan=True) for a, b in zip(first, again))
    assert not np.array_equal(first[0].X_train, other[0].X_train, equal_nan=True)


@pytest.mark.parametrize("n_clinics, scale, message", [(1, 1.0, "at least 2 clinics"), (3, 0.0, "scale must be > 0")])
def test_impossible_federations_are_refused(n_clinics, scale, message):
    with pytest.raises(ValueError, match=message):
        make_clinics(n_clinics, seed=0, scale=scale)
