"""Discrimination and calibration from binned sums (what a clinic may share): sums of several
sites' bins give the pooled figures; the ECE is the row-level ECE exactly and the AUC is within a
bin's ties of it."""
import numpy as np
import pytest

from evaluation.binned import (BIN_LENGTH, binned_auc, binned_auc_ci95, binned_counts, binned_ece, finding_accuracy,
                               finding_counts, risk_bins)
from evaluation.metrics import roc_auc
from evaluation.errors import EvaluationError
from evaluation.recalibration import weighted_expected_calibration_error, weighted_roc_auc


def cohort(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(-1, 1.2, n) + 1.5 * y)))
    return y, p, rng.uniform(1, 8, n)


def test_summed_site_bins_give_the_pooled_weighted_auc_and_ece():
    sites = [cohort(seed, n) for seed, n in ((1, 30), (2, 200), (3, 700))]
    summed = sum(risk_bins(y, p, weights=w) for y, p, w in sites)
    y, p, w = (np.concatenate([site[i] for site in sites]) for i in range(3))
    assert binned_auc(summed) == pytest.approx(weighted_roc_auc(y, p, weights=w, n_boot=0)["auc"], abs=0.002)
    assert binned_ece(summed) == pytest.approx(weighted_expected_calibration_error(y, p, weights=w), abs=1e-12)
    assert binned_counts(summed) == (int(y.sum()), int((1 - y).sum()))


def test_risks_in_one_logit_bin_count_as_ties():
    bins = risk_bins([0, 1], [0.3, 0.3001])
    assert binned_auc(bins) == 0.5
    assert binned_auc(risk_bins([0, 1], [0.3, 0.4])) == 1.0


@pytest.mark.parametrize("bins, message", [
    (np.zeros(BIN_LENGTH), "both cases and non-cases"), (np.zeros(3), f"{BIN_LENGTH} numbers")])
def test_sums_without_both_classes_or_of_the_wrong_shape_are_refused(bins, message):
    with pytest.raises(EvaluationError, match=message):
        binned_auc(bins)


def test_the_binned_auc_interval_is_delongs_on_the_rows_and_narrows_with_more_sites():
    y, p, _ = cohort(4, 400)
    row_level = roc_auc(y, p)
    low, high = binned_auc_ci95(risk_bins(y, p))
    assert (low, high) == pytest.approx((row_level.ci_low, row_level.ci_high), abs=0.002)
    more = sum(risk_bins(*cohort(seed, 400)[:2]) for seed in (4, 5, 6))
    wider, narrower = high - low, float(np.subtract(*binned_auc_ci95(more)[::-1]))
    assert narrower < wider


def test_a_binned_auc_interval_needs_two_of_each_class():
    with pytest.raises(EvaluationError, match="at least 2 cases and 2 non-cases, got 1 and 3"):
        binned_auc_ci95(risk_bins([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4]))


def test_summed_finding_counts_give_the_pooled_weighted_sensitivity_and_specificity():
    y, p, w = cohort(7, 300)
    hit = p > 0.5
    parts = [finding_counts(y[i::3], hit[i::3], weights=w[i::3]) for i in range(3)]
    pooled = finding_accuracy(sum(parts))
    assert pooled == finding_accuracy(finding_counts(y, hit, weights=w))
    assert pooled["sensitivity"] == pytest.approx(w[(y == 1) & hit].sum() / w[y == 1].sum())
    assert finding_accuracy(finding_counts([0, 0], [1, 0]))["sensitivity"] is None
    with pytest.raises(EvaluationError, match="one shape"):
        finding_counts([0, 1], [1])
