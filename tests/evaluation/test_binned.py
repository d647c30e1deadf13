"""Discrimination and calibration from binned sums (what a clinic may share): sums of several
sites' bins give the pooled figures; the ECE is the row-level ECE exactly and the AUC is within a
bin's ties of it. The intervals respect verification weights: the AUC's is the row-level weighted
DeLong interval (and near the weighted bootstrap's), the finding's Wilson intervals use the
weighted proportion's effective size, and with every weight 1 both are the unweighted intervals."""
import numpy as np
import pytest

from evaluation.binned import (BIN_LENGTH, RANK_BINS, binned_auc, binned_auc_ci95, binned_counts, binned_ece,
                               binned_effective_counts, finding_accuracy, finding_counts, risk_bins)
from evaluation.proportions import effective_wilson_interval, wilson_interval
from evaluation.metrics import roc_auc
from evaluation.errors import EvaluationError
from evaluation.recalibration import weighted_expected_calibration_error, weighted_roc_auc
from binned_reference import Z_975, unweighted_count_interval, verification_weighted_cohort


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
    whole = finding_accuracy(finding_counts(y, hit, weights=w))
    def flat(figures):
        return [figures["sensitivity"], *figures["sensitivity_ci95"], figures["specificity"], *figures["specificity_ci95"]]
    assert flat(pooled) == pytest.approx(flat(whole), rel=1e-12)  # the same up to the order of additions
    assert pooled["sensitivity"] == pytest.approx(w[(y == 1) & hit].sum() / w[y == 1].sum())
    assert finding_accuracy(finding_counts([0, 0], [1, 0]))["sensitivity"] is None
    with pytest.raises(EvaluationError, match="one shape"):
        finding_counts([0, 1], [1])


def row_level_weighted_delong(y, p, w):
    """The reference, on the rows: the weighted AUC's DeLong interval, each class's variance
    sum_i w_i^2 (V_i - AUC)^2 / (sum w)^2 times m / (m - 1), V_i the weighted placement."""
    cases, non_cases = y == 1, y == 0
    above = (p[cases][:, None] > p[non_cases][None, :]) + 0.5 * (p[cases][:, None] == p[non_cases][None, :])
    w1, w0 = w[cases], w[non_cases]
    auc = float(w1 @ above @ w0 / (w1.sum() * w0.sum()))
    v1, v0 = above @ w0 / w0.sum(), w1 @ above / w1.sum()
    m, k = cases.sum(), non_cases.sum()
    variance = (np.sum(w1 ** 2 * (v1 - auc) ** 2) / w1.sum() ** 2 * m / (m - 1)
                + np.sum(w0 ** 2 * (v0 - auc) ** 2) / w0.sum() ** 2 * k / (k - 1))
    return auc - Z_975 * np.sqrt(variance), auc + Z_975 * np.sqrt(variance)


@pytest.mark.parametrize("seed, n", [(0, 12), (1, 60), (2, 400), (3, 1500)])
def test_with_every_weight_one_the_intervals_are_the_unweighted_ones(seed, n):
    y, p, _ = cohort(seed, n)
    y[:2], y[2:4] = 1, 0  # two of each class at least
    bins = risk_bins(y, p, weights=np.ones(n))
    assert binned_auc_ci95(bins) == unweighted_count_interval(bins)  # to the last bit
    assert binned_effective_counts(bins) == (float(y.sum()), float(n - y.sum()))
    hit = p > 0.4
    figures = finding_accuracy(finding_counts(y, hit))
    tp, fn = int((hit & (y == 1)).sum()), int((~hit & (y == 1)).sum())
    tn, fp = int((~hit & (y == 0)).sum()), int((hit & (y == 0)).sum())
    assert figures["sensitivity_ci95"] == pytest.approx(list(wilson_interval(tp, tp + fn)), abs=1e-12)
    assert figures["specificity_ci95"] == pytest.approx(list(wilson_interval(tn, tn + fp)), abs=1e-12)


@pytest.mark.parametrize("seed, n", [(1, 300), (2, 800), (3, 2000)])
def test_with_verification_weights_the_binned_interval_is_the_row_level_weighted_one(seed, n):
    y, p, w = verification_weighted_cohort(seed, n)
    bins = risk_bins(y, p, weights=w)
    low, high = binned_auc_ci95(bins)
    row_low, row_high = row_level_weighted_delong(y, p, w)
    assert high - low == pytest.approx(row_high - row_low, rel=0.03)  # ties within a 0.025-logit bin
    bootstrap = weighted_roc_auc(y, p, weights=w, n_boot=1000, seed=seed)["ci95"]
    assert high - low == pytest.approx(bootstrap[1] - bootstrap[0], rel=0.10)
    old_low, old_high = unweighted_count_interval(bins)
    assert high - low > 1.4 * (old_high - old_low)  # the old interval was far too narrow
    effective_cases, effective_non_cases = binned_effective_counts(bins)
    assert effective_cases < 0.5 * y.sum() and effective_non_cases < (1 - y).sum()


def test_effective_counts_need_squared_weights():
    bins = risk_bins([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    bins[-2 * RANK_BINS:] = 0  # sums without the squared weights
    assert binned_effective_counts(bins) == (None, None)
    with pytest.raises(EvaluationError, match="squared weights of both classes"):
        binned_auc_ci95(bins)


def test_the_findings_intervals_cover_a_weighted_sensitivity_as_often_as_they_say():
    rng = np.random.default_rng(11)
    true, covered, covered_before = 0.8, 0, 0
    for _ in range(400):
        basal = rng.uniform(size=150) < true  # cases screened; those without the finding verified 1 in 5 or 10
        weight = np.where(basal, 1.0, rng.choice([5.0, 10.0], 150))
        verified = rng.uniform(size=150) < 1 / weight
        y = np.concatenate([np.ones(verified.sum()), np.zeros(5)])
        hit = np.concatenate([basal[verified], np.zeros(5, dtype=bool)])
        w = np.concatenate([weight[verified], np.ones(5)])
        low, high = finding_accuracy(finding_counts(y, hit, weights=w))["sensitivity_ci95"]
        covered += low <= true <= high
        hits, total = int(hit[y == 1].sum()), int((y == 1).sum())
        counts_low, counts_high = wilson_interval(hits, total)  # what the region used to publish
        covered_before += counts_low <= true <= counts_high
    assert covered / 400 > 0.89  # the Kish size alone: about 0.74 here
    assert covered_before / 400 < 0.2


def test_a_weighted_proportion_interval_names_a_bad_value():
    assert effective_wilson_interval(0.8, 10.0) == wilson_interval(8, 10)
    with pytest.raises(EvaluationError, match="effective total must be > 0, got 0.0"):
        effective_wilson_interval(0.5, 0.0)
    with pytest.raises(EvaluationError, match="proportion must be between 0 and 1, got 1.5"):
        effective_wilson_interval(1.5, 10.0)


def test_a_cell_without_rows_is_empty_whatever_a_secure_sum_left_in_it():
    counts = finding_counts([1, 1, 1, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0], weights=[1, 8, 1, 1, 12, 6, 1])
    exact = finding_accuracy(counts)
    assert exact["specificity"] == 1.0 and exact["specificity_ci95"][1] == 1.0
    noisy = counts.copy()
    noisy[[3, 11]] += [0.004, 0.004]  # the false-positive cell: no row, a few thousandths of rounding
    assert finding_accuracy(noisy) == exact
