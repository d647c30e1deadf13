"""The hospital's plan and the clinic's answers, without processes: federated Newton on summed
clinic vectors reaches the central fit; the strategy reads each secure sum right, names a clinic
that stops answering and leaves it out; a clinic's ClientApp reads its edge database read-only
and sends only sums divided by its rows. The validation sums' squared verification weights survive
SecAgg+'s clipping and quantisation, and a region that passed the rule only on an interval that
ignored the weights no longer counts."""
import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest

from evaluation.binned import BIN_LENGTH, binned_auc, binned_auc_ci95, binned_counts, risk_bins
from federated.apps import (CLIPPING_RANGE, MAX_CLINIC_ROWS, NEWTON, QUANTIZATION_RANGE, STATISTICS, VALIDATION,
                            ClinicClient, RegionalFederation)
from federated.clinic_data import LABS_MODEL, ClinicData
from federated.errors import FederatedError
from federated.model import N_COEFFICIENTS, NEWTON_LENGTH, Scaler, feature_statistics, fit_logistic, newton_step, newton_sums
from federated.population import make_clinics, make_edge_site
from support import packages_loaded_after


@pytest.fixture(scope="module")
def clinics():
    return make_clinics(3, seed=5, scale=0.5)


def test_newton_on_summed_clinic_vectors_reaches_the_central_fit_in_six_rounds(clinics):
    X = np.vstack([clinic.X_train for clinic in clinics])
    y = np.concatenate([clinic.y_train for clinic in clinics])
    scaler = Scaler.of(X)
    theta = np.zeros(N_COEFFICIENTS)
    for _ in range(6):
        theta, _ = newton_step(sum(newton_sums(c.X_train, c.y_train, scaler, theta) for c in clinics), theta)
    assert np.abs(theta - fit_logistic(X, y, scaler)).max() < 1e-4


class Proxy(SimpleNamespace):
    pass


def answers(client_data, stage, theta, scaler=None, targets=(), first_cid=0, *, quantised=False):
    """What SecAgg+ hands the strategy: every result carries the weighted mean of the clinics'
    vectors (``quantised``: as SecAgg+ encodes them, :func:`secure_mean`)."""
    config = {"stage": stage}
    if scaler is not None:
        config.update(scaler=scaler.to_bytes(), n_examples=scaler.n_examples)
    if targets:
        config["targets"] = json.dumps(list(targets))
    fits = [ClinicClient(data).fit([theta], config) for data in client_data]
    rows = sum(fit[1] for fit in fits)
    mean = secure_mean(fits) if quantised else sum(fit[0][0] * fit[1] for fit in fits) / rows
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
    return [(Proxy(cid=str(first_cid + index)), FitRes(Status(Code.OK, ""), ndarrays_to_parameters([mean]), fit[1], fit[2]))
            for index, fit in enumerate(fits)]


def secure_mean(fits):
    """The mean SecAgg+ unmasks, with Flower's own quantisation as ``federated.apps`` sets it up:
    each clinic's vector times its quantised weight (rows / MAX_CLINIC_ROWS), clipped to
    +-CLIPPING_RANGE and stochastically rounded to QUANTIZATION_RANGE levels; the hospital
    dequantises the sum and divides by the summed weights (Flower 1.39's secaggplus_mod and
    SecAggPlusWorkflow; the masks cancel and are left out)."""
    from flwr.common.secure_aggregation.quantization import dequantize, quantize

    total, ratios = 0, 0
    for vectors, rows, _ in fits:
        ratio = round(rows / MAX_CLINIC_ROWS * QUANTIZATION_RANGE)
        total = total + quantize([vectors[0] * (ratio / QUANTIZATION_RANGE)], CLIPPING_RANGE,
                                 QUANTIZATION_RANGE)[0].astype(np.int64)
        ratios += ratio
    summed = dequantize([total], CLIPPING_RANGE, QUANTIZATION_RANGE)[0] - (len(fits) - 1) * CLIPPING_RANGE
    return summed * QUANTIZATION_RANGE / ratios


def test_the_strategy_reads_statistics_newton_and_validation_sums_and_names_a_silent_clinic(clinics):
    data = [ClinicData(c.name, c.X_train, c.y_train, c.X_test, c.y_test) for c in clinics]
    strategy = RegionalFederation(n_clinics=3, newton_rounds=1, targets=[LABS_MODEL])
    strategy.rounds.append({"round": 1, "stage": STATISTICS, "completed": False})
    strategy.aggregate_fit(1, answers(data, STATISTICS, strategy.theta), [])
    pooled = Scaler.from_statistics([feature_statistics(c.X_train) for c in clinics],
                                    sum(c.y_train.size for c in clinics))
    assert np.allclose(strategy.scaler.mean, pooled.mean) and np.allclose(strategy.scaler.sd, pooled.sd)
    assert strategy.clinics == {"0": clinics[0].name, "1": clinics[1].name, "2": clinics[2].name}

    strategy.rounds.append({"round": 2, "stage": NEWTON, "completed": False})
    results = answers(data[1:], NEWTON, strategy.theta, strategy.scaler, first_cid=1)  # the first clinic is silent
    strategy.aggregate_fit(2, results, [])
    expected, _ = newton_step(sum(newton_sums(c.X_train, c.y_train, strategy.scaler, np.zeros(N_COEFFICIENTS))
                                  for c in clinics[1:]), np.zeros(N_COEFFICIENTS))
    assert np.allclose(strategy.theta, expected)
    assert strategy.rounds[-1]["missing_clinics"] == [clinics[0].name] and strategy.missing == {"0"}

    strategy.rounds.append({"round": 3, "stage": VALIDATION, "completed": False})
    strategy.aggregate_fit(3, answers(data[1:], VALIDATION, strategy.theta, strategy.scaler, [LABS_MODEL], 1), [])
    y = np.concatenate([c.y_test for c in clinics[1:]])
    p = np.concatenate([1 / (1 + np.exp(-(strategy.scaler.design(c.X_test) @ strategy.theta))) for c in clinics[1:]])
    assert strategy.validation[LABS_MODEL]["auc"] == pytest.approx(binned_auc(risk_bins(y, p)))
    assert strategy.validation[LABS_MODEL]["n"] == y.size and strategy.validation[LABS_MODEL]["clinics"] == 2
    assert strategy.validation[LABS_MODEL]["auc_ci95"] == pytest.approx(list(binned_auc_ci95(risk_bins(y, p))))
    assert strategy.result()["missing_clinics"] == [clinics[0].name]


def test_a_clinic_sends_only_sums_over_its_rows_and_its_name(clinics):
    clinic = clinics[0]
    data = ClinicData(clinic.name, clinic.X_train, clinic.y_train, clinic.X_test, clinic.y_test)
    vectors, rows, metrics = ClinicClient(data).fit([np.zeros(N_COEFFICIENTS)], {"stage": STATISTICS})
    assert rows == clinic.y_train.size and metrics == {"clinic": clinic.name}
    assert len(vectors) == 1 and vectors[0].shape == (3 * (N_COEFFICIENTS - 1),)
    scaler = Scaler.of(clinic.X_train)
    vectors, _, _ = ClinicClient(data).fit([np.zeros(N_COEFFICIENTS)], {
        "stage": NEWTON, "scaler": scaler.to_bytes(), "n_examples": scaler.n_examples})
    assert vectors[0].shape == (NEWTON_LENGTH,)
    with pytest.raises(ValueError, match="unknown round stage 'rows'"):
        ClinicClient(data).fit([np.zeros(N_COEFFICIENTS)], {"stage": "rows"})


@pytest.fixture(scope="module")
def edge_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clinic-edge")
    make_edge_site(folder, n_patients=60, seed=4)
    return folder


def test_the_clinic_reads_its_labelled_visits_read_only_with_verification_weights(edge_site):
    database = edge_site / "ildscreen.db"
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    data = ClinicData.from_node_config({"clinic": "clinic-x", "edge-data": str(edge_site)})
    y, p, w = data.modality_outcomes("labs")
    assert 0 < y.size < 60 and set(np.unique(y)) <= {0.0, 1.0}
    assert np.all((p > 0) & (p < 1)) and np.all(w >= 1) and w.max() > 1  # verification-biased: weights above 1
    bins = ClinicClient(data)._bins("labs", np.zeros(N_COEFFICIENTS), Scaler.of(np.ones((2, N_COEFFICIENTS - 1))))
    assert bins.shape == (BIN_LENGTH,) and sum(binned_counts(bins)) == y.size
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before


def test_the_clinic_read_leaves_no_journal_files_in_a_data_folder_no_service_uses(tmp_path):
    """A read-only connection to a WAL database makes -wal and -shm files it cannot remove: the
    federation's read leaves the clinic's data folder as it found it (edge.store.database.read_only)."""
    folder = tmp_path / "clinic-edge"
    make_edge_site(folder, n_patients=20, seed=4)
    before = sorted(path.name for path in folder.iterdir())
    assert "ildscreen.db-wal" not in before

    labelled, _ = ClinicData("clinic-x", edge_data=folder).labelled_visits()

    assert labelled
    assert sorted(path.name for path in folder.iterdir()) == before


def test_a_clinics_client_app_loads_no_scipy_and_the_edge_service_only_when_it_reads_a_data_folder(tmp_path):
    """Flower starts a fresh ClientApp process for every message of every round (four per SecAgg+ round per
    clinic): importing ``federated.apps`` there loads no scipy (only the hospital's AUC interval needs it), nor
    the edge service's settings and store (only a round that reads the clinic's data folder needs them). With
    scipy.stats the import was most of each process's start-up and of ``ildscreen federated simulate``'s time."""
    light = ("scipy", "sqlite_utils", "pydantic", "pydantic_settings")
    assert packages_loaded_after("federated.apps", packages=light) == []
    make_edge_site(tmp_path, n_patients=20, seed=4)
    read = f"federated.apps.ClinicData('clinic-x', edge_data=pathlib.Path({str(tmp_path)!r})).labelled_visits()"
    assert "sqlite_utils" in packages_loaded_after("federated.apps", "pathlib", packages=light, then=read)


def test_a_patient_counts_once_in_the_region_validation_with_their_first_labelled_visit():
    visits = [{"patient_id": 7, "label": 1, "modality_probabilities": {"labs": 0.8}},
              {"patient_id": 8, "label": 0, "modality_probabilities": {"breath": 0.3}},
              {"patient_id": 7, "label": 1, "modality_probabilities": {"labs": 0.6}},
              {"patient_id": 8, "label": 0, "modality_probabilities": {"labs": 0.2}}]
    data = ClinicData("clinic-x", _labelled=(visits, np.array([1.0, 2.0, 3.0, 4.0])))
    y, p, w = data.modality_outcomes("labs")
    assert y.tolist() == [1, 0] and p.tolist() == [0.8, 0.2] and w.tolist() == [1.0, 4.0]


@pytest.mark.parametrize("config, message", [({}, "names no clinic"),
                                             ({"clinic": "c", "training-rows": "/nonexistent.npz"}, "cannot read")])
def test_a_supernode_without_a_clinic_name_or_with_unreadable_rows_is_refused(config, message):
    with pytest.raises(FederatedError, match=message):
        ClinicData.from_node_config(config)


class HaltingSecAgg:
    """SecAgg+ as Flower 1.39 runs it when a clinic never answers setup: the first try halts."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.calls = 0

    def __call__(self, grid, context):
        self.calls += 1
        self.strategy.rounds.append({"round": 2, "stage": NEWTON, "completed": self.calls > 1})


class Grid:
    """Answers the liveness query for the nodes in ``alive`` only."""

    def __init__(self, alive):
        self.alive = alive
        self.asked = []

    def send_and_receive(self, messages, *, timeout=None):
        self.asked = [message.metadata.dst_node_id for message in messages]
        return [SimpleNamespace(metadata=SimpleNamespace(src_node_id=node), has_error=lambda: False)
                for node in self.asked if node in self.alive]


def outside_a_run(**fields):
    """A message as the query builds it (Flower's Message needs a running ServerApp's identity)."""
    return SimpleNamespace(metadata=SimpleNamespace(dst_node_id=fields["dst_node_id"]))


def test_a_halted_secure_round_runs_again_without_the_clinic_that_stopped_answering(monkeypatch):
    from federated.apps import ResilientSecureFit

    monkeypatch.setattr("flwr.common.Message", outside_a_run)
    strategy = RegionalFederation(n_clinics=3, newton_rounds=1, targets=[])
    strategy.clinics = {"11": "clinic-01", "12": "clinic-02", "13": "clinic-03"}
    secure = HaltingSecAgg(strategy)
    grid = Grid(alive={11, 13})
    manager = SimpleNamespace(all=lambda: {"11": None, "12": None, "13": None})
    ResilientSecureFit(secure, strategy, timeout_s=1)(grid, SimpleNamespace(client_manager=manager))
    assert secure.calls == 2 and sorted(grid.asked) == [11, 12, 13]
    assert strategy.missing == {"12"}
    assert strategy.rounds == [{"round": 2, "stage": NEWTON, "completed": True, "missing_clinics": ["clinic-02"],
                                "retried": True}]


def test_a_halted_round_is_not_retried_when_no_clinic_answers(monkeypatch):
    from federated.apps import ResilientSecureFit

    monkeypatch.setattr("flwr.common.Message", outside_a_run)
    strategy = RegionalFederation(n_clinics=2, newton_rounds=1, targets=[])
    strategy.clinics = {"11": "clinic-01", "12": "clinic-02"}
    secure = HaltingSecAgg(strategy)
    manager = SimpleNamespace(all=lambda: {"11": None})  # the SuperLink already dropped clinic-02
    ResilientSecureFit(secure, strategy, timeout_s=1)(Grid(alive=set()), SimpleNamespace(client_manager=manager))
    assert secure.calls == 1 and strategy.missing == set() and not strategy.rounds[-1]["completed"]


def test_a_value_secagg_would_clip_is_refused_rather_than_sent(clinics):
    clinic = clinics[0]
    X = clinic.X_train.copy()
    X[:, 0] = 1e30  # log value 69: its square per row is far beyond the clipping range
    data = ClinicData(clinic.name, X, clinic.y_train)
    with pytest.raises(ValueError, match="exceeds SecAgg\\+'s clipping range"):
        ClinicClient(data).fit([np.zeros(N_COEFFICIENTS)], {"stage": STATISTICS})


def test_without_a_scaler_later_rounds_ask_no_clinic_and_are_recorded_as_not_completed():
    strategy = RegionalFederation(n_clinics=2, newton_rounds=1, targets=[])
    manager = SimpleNamespace(wait_for=lambda n: True, all=lambda: {"1": Proxy(cid="1")})
    assert strategy.configure_fit(2, None, manager) == []
    assert strategy.rounds == [{"round": 2, "stage": NEWTON, "completed": False}]


def test_a_clinic_with_dp_sends_noisy_newton_sums_and_the_hospital_reports_its_epsilon(clinics):
    from federated.privacy import LocalPrivacy

    privacy = LocalPrivacy(noise_multiplier=4.0, clipping_norm=2.0)
    plain = [ClinicData(c.name, c.X_train, c.y_train, c.X_test, c.y_test) for c in clinics]
    private = [ClinicData(c.name, c.X_train, c.y_train, c.X_test, c.y_test, privacy=privacy) for c in clinics]
    strategy = RegionalFederation(n_clinics=3, newton_rounds=2, targets=[])
    strategy.rounds.append({"round": 1, "stage": STATISTICS, "completed": False})
    strategy.aggregate_fit(1, answers(private, STATISTICS, strategy.theta), [])  # statistics: no noise
    config = {"stage": NEWTON, "scaler": strategy.scaler.to_bytes(), "n_examples": strategy.scaler.n_examples}
    sent_plain, _, metrics_plain = ClinicClient(plain[0]).fit([strategy.theta], config)
    sent_noisy, rows, metrics = ClinicClient(private[0], np.random.default_rng(1)).fit([strategy.theta], config)
    assert metrics_plain == {"clinic": clinics[0].name} and LocalPrivacy.from_metrics(metrics) == privacy
    assert sent_noisy[0][0] == 0 and not np.allclose(sent_noisy[0][1:], sent_plain[0][1:])
    for server_round in (2, 3):
        strategy.rounds.append({"round": server_round, "stage": NEWTON, "completed": False})
        strategy.aggregate_fit(server_round, answers(private[1:], NEWTON, strategy.theta, strategy.scaler, first_cid=1),
                               [])
    assert set(strategy.result()["privacy"]) == {clinics[1].name, clinics[2].name}
    spent = strategy.result()["privacy"][clinics[1].name]
    assert spent["newton_rounds"] == 2 and spent["epsilon"] == pytest.approx(privacy.epsilon(2))
    assert strategy.penalised_log_likelihood == [None, None]  # noisy clinics send no log-likelihood
    # the model was fitted on rows clipped to norm 2: the validation round scores clipped rows too
    manager = SimpleNamespace(wait_for=lambda n: True, all=lambda: {"1": Proxy(cid="1")})
    (_, fit_ins), = strategy.configure_fit(4, None, manager)
    assert fit_ins.config["clip-norm"] == 2.0 and strategy.result()["clip_norm"] == 2.0


def test_without_a_rows_file_the_clinic_trains_on_its_stored_lab_panels(tmp_path):
    """A clinic that stores lab panels with its visits learns from them: one row per labelled
    patient, the stored SI values in LAB_FEATURES order, a fixed held-out share; nothing is written."""
    import sqlite_utils

    from tabular_models.lab_panels import LAB_FEATURES, normalize_panel

    folder = tmp_path / "clinic-edge"
    make_edge_site(folder, n_patients=40, seed=7)
    labelled, _ = ClinicData("clinic-x", edge_data=folder).labelled_visits()
    assert labelled and not any(visit["lab_results"] for visit in labelled)  # the simulation stores none
    db = sqlite_utils.Database(folder / "ildscreen.db")
    expected = {}
    for visit in labelled[::2]:  # every other labelled visit gets a panel
        wbc = 6.0 + 3.0 * visit["label"]
        panel = [{"analyte": "WBC", "value": wbc, "unit": "10*3/uL"},
                 {"analyte": "KL-6", "value": 300 + 900 * visit["label"], "unit": "U/mL"}]
        for record in normalize_panel(panel)["records"]:
            db["lab_results"].insert({**{key: record[key] for key in ("loinc", "analyte", "value", "unit", "si_value",
                                                                      "si_unit", "collected_at")},
                                      "visit_id": visit["visit_id"], "created_at": "2026-12-05T00:00:00Z"})
        expected[visit["patient_id"]] = (wbc, float(visit["label"]))
    db.conn.close()
    before = hashlib.sha256((folder / "ildscreen.db").read_bytes()).hexdigest()

    data = ClinicData.from_node_config({"clinic": "clinic-x", "edge-data": str(folder)})
    X = np.vstack([data.X_train, data.X_test])
    y = np.concatenate([data.y_train, data.y_test])
    assert len(y) == len(expected) and 0 < len(data.y_test) < len(y)
    wbc = LAB_FEATURES.index("wbc")
    assert sorted(zip(X[:, wbc].tolist(), y.tolist())) == sorted(expected.values())
    assert np.isnan(X[:, LAB_FEATURES.index("hgb")]).all()  # not measured: missing, imputed by the model
    assert hashlib.sha256((folder / "ildscreen.db").read_bytes()).hexdigest() == before


def test_the_region_reads_the_basal_crackle_findings_accuracy_from_the_summed_counts(clinics):
    from evaluation.binned import finding_accuracy, finding_counts

    def visits(levels_and_labels, first_id):
        return [{"patient_id": first_id + i, "label": label, "crackle_level": level,
                 "modality_probabilities": {"auscultation": 0.8 if level == "basal" else 0.2}}
                for i, (level, label) in enumerate(levels_and_labels)]

    one = visits([("basal", 1), ("none", 1), ("none", 0), ("basal", 0), ("none", 0)], 1)
    two = visits([("basal", 1), ("basal", 1), ("none", 0), ("other_sites", 0)], 10)
    data = [ClinicData("clinic-a", _labelled=(one, np.array([1.0, 2.0, 1.0, 1.0, 3.0]))),
            ClinicData("clinic-b", _labelled=(two, np.ones(4)))]
    strategy = RegionalFederation(n_clinics=2, newton_rounds=1, targets=["auscultation"])
    strategy.scaler = Scaler.of(clinics[0].X_train)
    strategy.rounds.append({"round": 3, "stage": VALIDATION, "completed": False})
    strategy.aggregate_fit(3, answers(data, VALIDATION, strategy.theta, strategy.scaler, ["auscultation"]), [])
    y = [1, 1, 0, 0, 0, 1, 1, 0, 0]
    basal = [1, 0, 0, 1, 0, 1, 1, 0, 0]
    expected = finding_accuracy(finding_counts(y, basal, weights=[1, 2, 1, 1, 3, 1, 1, 1, 1]))
    found = strategy.validation["auscultation"]["basal_finding"]
    assert found["sensitivity"] == pytest.approx(expected["sensitivity"], abs=1e-3)  # weighted 3 of 5
    assert found["specificity"] == pytest.approx(expected["specificity"], abs=1e-3)
    assert found["sensitivity_ci95"] == pytest.approx(expected["sensitivity_ci95"], abs=1e-9)


def weighted_visits(modality, y, p, w, first_id, basal=None):
    """Labelled visits of one modality with their verification weights, as a clinic stores them."""
    visits = [{"patient_id": first_id + i, "label": int(label), "modality_probabilities": {modality: float(risk)}}
              for i, (label, risk) in enumerate(zip(y, p))]
    for visit, finding in zip(visits, basal if basal is not None else []):
        visit["crackle_level"] = "basal" if finding else "none"
    return ClinicData(f"clinic-{first_id}", _labelled=(visits, np.asarray(w, dtype=float)))


def test_squared_verification_weights_survive_secaggs_clipping_and_quantisation(clinics):
    from binned_reference import verification_weighted_cohort
    from evaluation.binned import finding_accuracy, finding_counts

    parts = [verification_weighted_cohort(seed, n) for seed, n in ((21, 60), (22, 300), (23, 1200))]
    parts.append((np.array([1, 0, 0, 1, 0, 0, 0, 0]), np.full(8, 0.1), np.full(8, 20.0)))  # all unreferred
    rng = np.random.default_rng(24)
    basal = [(rng.uniform(size=y.size) < np.where(y == 1, 0.75, 0.2)) for y, _, _ in parts]
    data = [weighted_visits("auscultation", y, p, w, 10_000 * index, hit)
            for index, ((y, p, w), hit) in enumerate(zip(parts, basal))]
    # the small clinic's squared weights are 400 per row, past the clipping range: in units of 32 they fit
    assert (parts[-1][2] ** 2).mean() > CLIPPING_RANGE
    strategy = RegionalFederation(n_clinics=4, newton_rounds=1, targets=["auscultation"])
    strategy.scaler = Scaler.of(clinics[0].X_train)
    strategy.rounds.append({"round": 3, "stage": VALIDATION, "completed": False})
    np.random.seed(25)  # Flower's stochastic rounding draws from numpy's global generator
    strategy.aggregate_fit(3, answers(data, VALIDATION, strategy.theta, strategy.scaler, ["auscultation"],
                                      quantised=True), [])
    y, p, w = (np.concatenate([part[i] for part in parts]) for i in range(3))
    hit = np.concatenate(basal)
    exact = risk_bins(y, p, weights=w)
    figures = strategy.validation["auscultation"]
    assert figures["auc_ci95"] == pytest.approx(list(binned_auc_ci95(exact)), abs=5e-4)
    assert figures["n"] == y.size and figures["events"] == y.sum()
    assert figures["effective_n"] == pytest.approx(sum((w[y == k].sum() ** 2 / (w[y == k] ** 2).sum()) for k in (0, 1)),
                                                   rel=1e-3)
    expected = finding_accuracy(finding_counts(y, hit, weights=w))
    for key in ("sensitivity_ci95", "specificity_ci95"):
        assert figures["basal_finding"][key] == pytest.approx(expected[key], abs=5e-4)


def test_a_region_that_passed_only_on_an_interval_ignoring_the_weights_no_longer_counts(clinics):
    """Through the publish path: the federation's result, the hospital's file, the clinic's rule."""
    from binned_reference import unweighted_count_interval, verification_weighted_cohort
    from edge.fusion.evidence import ValidationRule, regional_status
    from edge.regional_validation import SelectedRegionalValidation, document_from_federation, parse_document

    parts = [verification_weighted_cohort(110 + k, n, separation=1.8) for k, n in enumerate((80, 120, 200))]
    data = [weighted_visits("labs", y, p, w, 1_000 * index) for index, (y, p, w) in enumerate(parts)]
    strategy = RegionalFederation(n_clinics=3, newton_rounds=1, targets=["labs"])
    strategy.scaler = Scaler.of(clinics[0].X_train)
    strategy.rounds.append({"round": 3, "stage": VALIDATION, "completed": False})
    np.random.seed(26)
    strategy.aggregate_fit(3, answers(data, VALIDATION, strategy.theta, strategy.scaler, ["labs"], quantised=True), [])
    result = strategy.result()
    rule, served = ValidationRule(), "labs-test-1"

    def status(run_result):
        document = document_from_federation(run_result, region="North", result_name="run.json",
                                            model_versions={"labs": served})
        selection = SelectedRegionalValidation("v", parse_document(json.dumps(document).encode(), source="test"))
        return regional_status(selection.figures("labs"), rule, served_version=served)

    pooled = sum(risk_bins(y, p, weights=w) for y, p, w in parts)
    before = unweighted_count_interval(pooled)  # what the region published before
    assert before[0] >= rule.site_min_auc_lower + 0.05
    figures = result["validation"]["labs"]
    assert figures["n"] >= rule.site_min_patients and figures["events"] >= rule.site_min_events
    assert status({"validation": {"labs": {**figures, "auc_ci95": list(before)}}})["validated"]
    now = status(result)
    assert not now["validated"] and now["reason_code"] == "uncertain"
    assert f"could be as low as {figures['auc_ci95'][0]:.2f}" in now["reason"] and figures["auc_ci95"][0] < 0.69
