"""Fusion: close to Bayes-optimal on a conditionally independent cohort, calibrated, robust to
missing modalities, monotone in the evidence."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edge.errors import ValidationError
from edge.fusion.clinical_prior import ClinicalPicture, clinical_prior
from edge.fusion.cohort import make_cohort
from edge.fusion.fusion import MODALITIES, ModalityEvidence, fuse
from edge.fusion.stacked import StackedFusion, cohort_design
from evaluation.calibration import expected_calibration_error
from evaluation.metrics import roc_auc

AUCS = {"auscultation": 0.86, "breath": 0.82, "labs": 0.78}
TRAINING_PREVALENCE = {"auscultation": 0.5, "breath": 0.35, "labs": 0.2}


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(6000, modality_auc=AUCS, training_prevalence=TRAINING_PREVALENCE, seed=11)


def fuse_patient(cohort, i, *, drop=()):
    evidence = [
        ModalityEvidence(m, float(cohort.modality_probability[m][i]), TRAINING_PREVALENCE[m], "test-1")
        for m in MODALITIES if m not in drop
    ]
    return fuse(clinical_prior(cohort.pictures[i]), evidence, modality_aucs=AUCS)


@pytest.fixture(scope="module")
def fused(cohort):
    return np.array([fuse_patient(cohort, i)["probability"] for i in range(len(cohort.prior))])


def test_fused_auc_is_within_0_01_of_the_bayes_optimal_auc(cohort, fused):
    bayes = roc_auc(cohort.has_ild, cohort.bayes_posterior).auc
    assert abs(roc_auc(cohort.has_ild, fused).auc - bayes) <= 0.01
    assert expected_calibration_error(cohort.has_ild, fused) <= 0.03


def test_the_stacked_alternative_learned_on_another_cohort_is_also_near_optimal(cohort):
    training = make_cohort(6000, modality_auc=AUCS, training_prevalence=TRAINING_PREVALENCE, seed=12)
    X_train, y_train = cohort_design(training, drop_rate=0.2, seed=1)
    model = StackedFusion().fit(X_train, y_train)
    X_test, y_test = cohort_design(cohort, drop_rate=0.0, seed=2)
    predicted = model.predict_proba(X_test)
    bayes = roc_auc(cohort.has_ild, cohort.bayes_posterior).auc
    assert abs(roc_auc(y_test, predicted).auc - bayes) <= 0.01
    assert expected_calibration_error(y_test, predicted) <= 0.03
    assert StackedFusion.from_json(model.to_json()).predict_proba(X_test[:5]) == pytest.approx(predicted[:5])


def log_odds_width(result):
    low, high = result["interval"]
    return np.log(high / (1 - high)) - np.log(low / (1 - low))


@pytest.mark.parametrize("dropped", [(m,) for m in MODALITIES] + [MODALITIES])
def test_dropping_modalities_never_fails_widens_the_interval_and_stays_calibrated(cohort, dropped):
    probabilities = []
    for i in range(len(cohort.prior)):
        partial = fuse_patient(cohort, i, drop=dropped)
        probabilities.append(partial["probability"])
        assert partial["missing"] == [m for m in MODALITIES if m in dropped]
        if i < 200:
            # Evidence adds on the log-odds scale, and there the interval always widens; on the
            # probability scale the point itself may move towards 0 or 1 (see the next test).
            assert log_odds_width(partial) > log_odds_width(fuse_patient(cohort, i))
            assert partial["interval"][0] <= partial["probability"] <= partial["interval"][1]
    assert expected_calibration_error(cohort.has_ild, np.array(probabilities)) <= 0.03


@pytest.mark.parametrize("dropped", MODALITIES)
def test_dropping_a_neutral_modality_widens_the_probability_interval(dropped):
    for ctd, age in (("RA", 50), ("SSc", 70), ("IIM", 62), ("SLE", 40)):
        prior = clinical_prior(ClinicalPicture(ctd, age, "F"))
        evidence = [ModalityEvidence(m, 0.6, 0.3, "v") if m != dropped else ModalityEvidence(m, 0.3, 0.3, "v")
                    for m in MODALITIES]
        full = fuse(prior, evidence, modality_aucs=AUCS)
        partial = fuse(prior, [e for e in evidence if e.modality != dropped], modality_aucs=AUCS)
        assert partial["probability"] == pytest.approx(full["probability"])
        assert partial["interval"][0] < full["interval"][0] and partial["interval"][1] > full["interval"][1]


@settings(max_examples=60, deadline=None)
@given(modality=st.sampled_from(MODALITIES), low=st.floats(0.001, 0.998), step=st.floats(0.0005, 0.5))
def test_stronger_evidence_never_lowers_the_risk(modality, low, step):
    prior = clinical_prior(ClinicalPicture("RA", 64, "F"))
    others = [ModalityEvidence(m, 0.4, 0.3, "v") for m in MODALITIES if m != modality]
    high = min(low + step, 0.999)
    weaker = fuse(prior, others + [ModalityEvidence(modality, low, 0.3, "v")])
    stronger = fuse(prior, others + [ModalityEvidence(modality, high, 0.3, "v")])
    assert stronger["probability"] >= weaker["probability"]


def test_a_modality_at_its_training_prevalence_changes_nothing():
    prior = clinical_prior(ClinicalPicture("SSc", 55, "F"))
    result = fuse(prior, [ModalityEvidence("labs", 0.2, 0.2, "labs-1", synthetic=True)])
    assert result["probability"] == pytest.approx(prior.probability)
    assert result["contributions"]["labs"]["likelihood_ratio"] == pytest.approx(1.0)
    assert result["synthetic_models"] == ["labs"] and result["model_versions"] == {"labs": "labs-1"}
    assert 0 <= result["score"] <= 100


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ([ModalityEvidence("labs", 0.2, 0.2, "v"), ModalityEvidence("labs", 0.3, 0.2, "v")], "given once"),
    ],
)
def test_duplicate_modalities_are_refused(evidence, message):
    with pytest.raises(ValidationError, match=message):
        fuse(clinical_prior(ClinicalPicture("RA", 60, "F")), evidence)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"modality": "xray"}, "unknown modality 'xray'"), ({"probability": 1.5}, "probability must be in"),
     ({"training_prevalence": -0.1}, "training_prevalence must be in")],
)
def test_bad_evidence_is_refused_naming_the_value(kwargs, message):
    values = {"modality": "labs", "probability": 0.3, "training_prevalence": 0.2, "model_version": "v", **kwargs}
    with pytest.raises(ValidationError, match=message):
        ModalityEvidence(**values)
