"""Metrics agree with scikit-learn and with the bootstrap; bad inputs are named."""
import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from evaluation.calibration import brier_score, calibration_curve, expected_calibration_error
from evaluation.decision import decision_curve
from evaluation.errors import EvaluationError
from evaluation.metrics import compare_aucs, operating_point, roc_auc, roc_points, wilson_interval, youden_threshold


def cohort(n=400, separation=1.0, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = rng.normal(labels * separation, 1.0)
    return labels, np.round(scores, 1)  # rounding creates ties, the hard case for AUC


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_scikit_learn_with_ties(seed):
    labels, scores = cohort(seed=seed)
    assert roc_auc(labels, scores).auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_delong_interval_matches_the_bootstrap_within_0_02():
    labels, scores = cohort(n=500, separation=1.2, seed=3)
    result = roc_auc(labels, scores)
    rng = np.random.default_rng(7)
    boot = []
    for _ in range(2000):
        idx = rng.integers(0, len(labels), len(labels))
        if labels[idx].min() != labels[idx].max():
            boot.append(roc_auc_score(labels[idx], scores[idx]))
    low, high = np.percentile(boot, [2.5, 97.5])
    assert abs(result.ci_low - low) < 0.02 and abs(result.ci_high - high) < 0.02


def test_paired_comparison_of_a_score_with_itself_shows_no_difference():
    labels, scores = cohort()
    same = compare_aucs(labels, scores, scores)
    assert same["difference"] == 0 and same["p_value"] == 1.0
    noisy = compare_aucs(labels, scores, np.random.default_rng(1).normal(size=len(labels)))
    assert noisy["difference"] > 0.1 and noisy["p_value"] < 0.001


def test_wilson_interval_known_values_and_edges():
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.15 < high < 0.17
    with pytest.raises(EvaluationError, match="successes must be between 0 and 10, got 11"):
        wilson_interval(11, 10)


def test_operating_point_counts_and_youden():
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.6, 0.4, 0.7, 0.9])
    point = operating_point(labels, scores, 0.5)
    assert point["counts"] == {"tp": 2, "fp": 1, "tn": 2, "fn": 1}
    assert point["sensitivity"]["value"] == pytest.approx(2 / 3)
    assert youden_threshold(labels, scores) in scores
    fpr, tpr, _ = roc_points(labels, scores)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1


def test_calibration_of_a_calibrated_and_a_miscalibrated_model():
    rng = np.random.default_rng(0)
    probs = rng.uniform(0, 1, 50_000)
    labels = (rng.uniform(0, 1, probs.size) < probs).astype(int)
    assert expected_calibration_error(labels, probs) < 0.01
    assert expected_calibration_error(labels, probs ** 3) > 0.15
    assert brier_score(labels, probs) == pytest.approx(brier_score_loss(labels, probs))
    assert sum(b["count"] for b in calibration_curve(labels, probs)) == probs.size


def test_decision_curve_of_a_perfect_model_is_the_prevalence():
    labels = np.array([0, 1] * 50)
    rows = decision_curve(labels, labels.astype(float), thresholds=[0.1, 0.5])
    assert [r["model"] for r in rows] == [0.5, 0.5]
    assert rows[0]["treat_all"] == pytest.approx(0.5 - 0.5 * 0.1 / 0.9)


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "labels must be 0 or 1, got 2"),
        ([0, 1], [0.1], "equal length"),
        ([1, 1], [0.1, 0.2], "both classes are needed"),
        ([0, 1], [0.1, float("nan")], "finite"),
    ],
)
def test_bad_inputs_name_the_problem(labels, scores, message):
    with pytest.raises(EvaluationError, match=message):
        roc_auc(labels, scores)


def test_platt_fit_recovers_a_known_calibration_and_refuses_an_inverted_score():
    from evaluation.calibration import fit_platt

    rng = np.random.default_rng(0)
    raw = rng.uniform(0.01, 0.99, 4000)
    truth = 1 / (1 + np.exp(-(2.0 * np.log(raw / (1 - raw)) - 1.0)))
    labels = (rng.random(4000) < truth).astype(int)
    fit = fit_platt(labels, raw)
    assert fit["slope"] == pytest.approx(2.0, abs=0.15) and fit["intercept"] == pytest.approx(-1.0, abs=0.15)
    with pytest.raises(EvaluationError, match="does not keep the ranking"):
        fit_platt(labels, 1 - raw)


def test_cluster_bootstrap_intervals_widen_when_positives_come_from_one_patient():
    """48 positive recordings from 10 patients say more than 48 from one child: resampling patients,
    not recordings, must show it (issue: 26 of 48 positives came from one child)."""
    from evaluation.metrics import cluster_bootstrap

    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(48), np.zeros(200)].astype(int)
    scores = np.r_[rng.uniform(0.3, 1.0, 48), rng.uniform(0.0, 0.7, 200)]
    spread = [f"p{i}" for i in range(48)] + [f"n{i % 40}" for i in range(200)]
    clustered = ["p0"] * 40 + [f"p{i}" for i in range(1, 9)] + [f"n{i % 40}" for i in range(200)]
    wide = cluster_bootstrap(labels, scores, clustered, threshold=0.5, replicates=500)
    narrow = cluster_bootstrap(labels, scores, spread, threshold=0.5, replicates=500)
    width = lambda r: r["sensitivity"]["ci95"][1] - r["sensitivity"]["ci95"][0]
    assert width(wide) > 1.5 * width(narrow)
    assert wide["sensitivity"]["value"] == narrow["sensitivity"]["value"] and wide["clusters"] == 49


def test_cluster_bootstrap_is_seeded_and_never_collapses_to_a_point():
    from evaluation.metrics import cluster_bootstrap

    args = ([0] * 12 + [1] * 3, [0.1] * 12 + [0.9, 0.8, 0.7], [str(i) for i in range(15)])
    first = cluster_bootstrap(*args, threshold=0.5, replicates=300, seed=3)
    assert first == cluster_bootstrap(*args, threshold=0.5, replicates=300, seed=3)
    assert first["specificity"]["value"] == 1.0 and first["specificity"]["ci95"][0] < 0.8  # Wilson floor on 12 patients
    assert first["sensitivity"]["ci95"][0] < 0.5


def test_cluster_bootstrap_refuses_mismatched_clusters():
    from evaluation.metrics import cluster_bootstrap

    with pytest.raises(EvaluationError, match="one cluster label per case"):
        cluster_bootstrap([0, 1], [0.2, 0.8], ["a"], threshold=0.5)
