"""Metrics agree with scikit-learn and with the bootstrap; bad inputs are named."""
import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from evaluation.calibration import brier_score, calibration_curve, expected_calibration_error
from evaluation.decision import decision_curve
from evaluation.errors import EvaluationError
from evaluation.metrics import compare_aucs, operating_point, roc_auc, roc_points, wilson_interval, youden_threshold
from evaluation.proportions import auc_score_interval


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


def newcombe_roots(auc, m, n, z=1.959963984540054):
    """Newcombe's Method 5 limits solved another way: the real roots in [0, 1] of the quartic
    m n (auc - t)^2 (2 - t)(1 + t) - z^2 t (1 - t) [(2 - t)(1 + t) + h (1 - t)(1 + t) + h t (2 - t)],
    h = (m + n) / 2 - 1 (the score equation times (2 - t)(1 + t) m n)."""
    t = np.polynomial.Polynomial([0, 1])
    h = (m + n) / 2 - 1
    quartic = (m * n * (auc - t) ** 2 * (2 - t) * (1 + t)
               - z * z * t * (1 - t) * ((2 - t) * (1 + t) + h * (1 - t) * (1 + t) + h * t * (2 - t)))
    return sorted(r.real for r in quartic.roots() if abs(r.imag) < 1e-9 and 0 <= r.real <= 1)


@pytest.mark.parametrize("auc, m, n", [(0.5, 20, 20), (0.75, 2, 2), (0.6, 7, 13), (0.88, 120, 280), (0.3, 9, 4)])
def test_auc_score_interval_solves_newcombes_score_equation(auc, m, n):
    assert list(auc_score_interval(auc, m, n)) == pytest.approx(newcombe_roots(auc, m, n), abs=1e-9)


def test_auc_score_interval_does_not_collapse_when_every_case_outranks_every_non_case():
    # Perfect separation: a percentile bootstrap or DeLong gives the point 1.00-1.00; this does not.
    assert roc_auc([0] * 17 + [1] * 3, list(range(20))).ci_low == 1.0
    low, high = auc_score_interval(1.0, 3, 17)
    assert high == 1.0 and low == pytest.approx(newcombe_roots(1.0, 3, 17)[0], abs=1e-9)
    assert 0.65 < low < 0.67  # below the evidence model's 0.70 row
    # ... and the bound rises with the numbers it rests on.
    lows = [auc_score_interval(1.0, m, 4 * m)[0] for m in (1, 3, 5, 10, 30, 100)]
    assert lows == sorted(lows) and lows[-1] > 0.97


def test_auc_score_interval_is_symmetric_about_one_half_and_mirrors():
    low, high = auc_score_interval(0.5, 20, 20)
    assert low + high == pytest.approx(1.0) and low == pytest.approx(0.3315, abs=1e-4)
    low, high = auc_score_interval(0.8, 12, 30)
    mirrored = auc_score_interval(0.2, 12, 30)
    assert (low, high) == pytest.approx((1 - mirrored[1], 1 - mirrored[0]))
    assert auc_score_interval(0.0, 5, 5)[0] == 0.0


def test_auc_score_interval_lower_bound_covers_the_true_auc():
    """Binormal scores with a true AUC of 0.8 (15 with, 35 without): the lower bound lies at or below
    it in at least 95% of draws (nominal 97.5%; Newcombe's interval is conservative at its low end)."""
    rng = np.random.default_rng(0)
    separation = np.sqrt(2) * 0.8416212335729143  # AUC = Phi(d / sqrt 2) = 0.8
    covered = 0
    for _ in range(400):
        cases, controls = rng.normal(separation, 1, 15), rng.normal(0, 1, 35)
        auc = float((cases[:, None] > controls[None, :]).mean())
        covered += auc_score_interval(auc, 15, 35)[0] <= 0.8
    assert covered / 400 >= 0.95


@pytest.mark.parametrize("args, message", [
    ((1.2, 5, 5), "auc must be between 0 and 1, got 1.2"),
    ((0.8, 0, 5), "with_condition must be a number of people > 0, got 0"),
    ((0.8, 5, float("nan")), "without_condition must be a number of people > 0, got nan"),
    ((0.8, True, 5), "with_condition must be a number of people > 0, got True"),
])
def test_auc_score_interval_refuses_impossible_inputs_naming_them(args, message):
    with pytest.raises(EvaluationError, match=message):
        auc_score_interval(*args)


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


def test_cluster_bootstrap_auc_of_a_perfect_ranking_gets_the_score_interval_of_its_patients_not_a_point():
    """3 adults with crackles all ranked above 12 without (the crackle detector's test adults): every
    resample gives AUC 1, so the percentile interval is [1, 1]; the floor is Newcombe's interval on
    3 and 12 patients, however many recordings each patient has."""
    from evaluation.metrics import cluster_bootstrap

    patients = [f"p{i}" for i in range(3)] + [f"n{i}" for i in range(12)]
    labels = [1] * 3 + [0] * 12
    scores = [0.9, 0.8, 0.7] + [0.1 + 0.01 * i for i in range(12)]
    one_each = cluster_bootstrap(labels, scores, patients, threshold=0.5, replicates=300)
    three_each = cluster_bootstrap(labels * 3, scores * 3, patients * 3, threshold=0.5, replicates=300)
    floor = auc_score_interval(1.0, 3, 12)
    for result in (one_each, three_each):
        assert result["auc"]["value"] == 1.0
        assert result["auc"]["ci95"] == pytest.approx([floor[0], 1.0]) and floor[0] < 0.75


def test_cluster_bootstrap_auc_interval_wider_than_the_score_floor_is_kept():
    from evaluation.metrics import cluster_bootstrap

    rng = np.random.default_rng(1)
    labels = np.r_[np.ones(30), np.zeros(30)].astype(int)
    scores = np.r_[rng.normal(0.6, 0.2, 30), rng.normal(0.4, 0.2, 30)]
    patients = [str(i % 6) for i in range(30)] + [str(6 + i % 6) for i in range(30)]  # 6 patients per class
    result = cluster_bootstrap(labels, scores, patients, threshold=0.5, replicates=400)
    low, high = auc_score_interval(result["auc"]["value"], 6, 6)
    assert result["auc"]["ci95"][0] <= low and result["auc"]["ci95"][1] >= high


def test_cluster_bootstrap_refuses_mismatched_clusters():
    from evaluation.metrics import cluster_bootstrap

    with pytest.raises(EvaluationError, match="one cluster label per case"):
        cluster_bootstrap([0, 1], [0.2, 0.8], ["a"], threshold=0.5)
