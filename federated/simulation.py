"""``ildscreen federated simulate``: N synthetic clinics learn the labs model three ways, compared
on each clinic's held-out rows and on all held-out rows pooled.

- **federated**: Flower. With the deployment engine (default, :func:`simulate_deployment`): a
  SuperLink and one SuperNode per clinic, TLS, SuperNode authentication, SecAgg+, federated
  Newton rounds (:mod:`federated.deployment`), each clinic also a real edge data folder whose
  modalities are validated by a federated validation round. With the legacy engine
  (:func:`simulate`): FedProx rounds across one gRPC client process per clinic (:mod:`federated.engine`);
- **central**: the same model fitted on every clinic's training rows pooled (what federated
  learning tries to match without moving the rows);
- **local-only**: each clinic fits on its own training rows and scores its own patients.

With ``privacy``, the federation runs again with Flower's server-side differential privacy and
the JSON reports what it costs. Metrics come from :mod:`evaluation` (AUC with a DeLong interval,
ECE over ten equal-width bins, Brier score). Everything is synthetic: this shows the machinery
works, not that any model is clinically valid.
"""
from __future__ import annotations

import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Optional

import numpy as np

from evaluation.errors import EvaluationError
from evaluation.metrics import roc_auc
from evaluation.recalibration import weighted_brier_score, weighted_expected_calibration_error, weighted_roc_auc
from federated.clinic_data import LABS_MODEL, ClinicData
from federated.deployment import ClinicNode, DeploymentPlan, run_deployment
from federated.errors import FederatedError
from federated.engine import FederationResult, run_federation, write_training_files
from federated.model import Scaler, feature_statistics, fit_logistic, predict
from federated.population import EDGE_SITE_SHARE, SYNTHETIC, Clinic, make_clinics, make_edge_site
from federated.privacy import LocalPrivacy, PrivacySettings, epsilon

# Settings of the simulation (chosen on this synthetic population, see docs/federated.md):
ROUNDS = 60
PROXIMAL_MU = 0.1
SMALLEST_SHARE = 1 / 3  # "the smallest clinics": the smallest third, at least two


def risk_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """AUC (null with one class only) with its DeLong interval, ECE and Brier score."""
    metrics = {"auc": None, "auc_ci95": None, "ece": weighted_expected_calibration_error(y, p),
               "brier": weighted_brier_score(y, p)}
    try:
        auc = roc_auc(y, p)
        metrics["auc"], metrics["auc_ci95"] = auc.auc, [auc.ci_low, auc.ci_high]
    except EvaluationError:
        pass  # one class only in this clinic's held-out rows
    return metrics


def _compare(clinics: list[Clinic], predictions: dict[str, list[np.ndarray]]) -> dict:
    """Pooled, smallest-clinics and per-clinic metrics of each approach's held-out predictions."""
    y_all = np.concatenate([clinic.y_test for clinic in clinics])
    report = {name: risk_metrics(y_all, np.concatenate(scores)) for name, scores in predictions.items()}
    smallest = clinics[:max(2, int(round(len(clinics) * SMALLEST_SHARE)))]  # clinics come smallest first
    y_small = np.concatenate([clinic.y_test for clinic in smallest])
    report["smallest_clinics"] = {
        "clinics": [clinic.name for clinic in smallest], "n_test": int(y_small.size), "events_test": int(y_small.sum()),
        **{name: risk_metrics(y_small, np.concatenate(scores[:len(smallest)])) for name, scores in predictions.items()}}
    report["clinics"] = [{
        "clinic": clinic.name, "ctd_mix": clinic.ctd_mix, "expected_prevalence": round(clinic.expected_prevalence, 4),
        "n_train": int(clinic.y_train.size), "events_train": int(clinic.y_train.sum()),
        "n_test": int(clinic.y_test.size), "events_test": int(clinic.y_test.sum()),
        "prevalence": float(np.mean(np.concatenate([clinic.y_train, clinic.y_test]))),
        **{name: risk_metrics(clinic.y_test, scores[index]) for name, scores in predictions.items()},
    } for index, clinic in enumerate(clinics)]
    return report


def _held_out(result: FederationResult, clinics: list[Clinic]) -> list[np.ndarray]:
    return [predict(result.theta, result.scaler, clinic.X_test) for clinic in clinics]


def _central_and_local(clinics: list[Clinic]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Held-out predictions of the central fit (training rows pooled) and of each clinic's own fit."""
    X_pooled = np.vstack([clinic.X_train for clinic in clinics])
    y_pooled = np.concatenate([clinic.y_train for clinic in clinics])
    central_scaler = Scaler.from_statistics([feature_statistics(clinic.X_train) for clinic in clinics], len(y_pooled))
    central = fit_logistic(X_pooled, y_pooled, central_scaler)
    local = []
    for clinic in clinics:
        scaler = Scaler.of(clinic.X_train)
        local.append(predict(fit_logistic(clinic.X_train, clinic.y_train, scaler), scaler, clinic.X_test))
    return [predict(central, central_scaler, clinic.X_test) for clinic in clinics], local


def simulate(n_clinics: int, *, seed: int, scale: float = 1.0, rounds: int = ROUNDS,
             proximal_mu: float = PROXIMAL_MU, privacy: Optional[PrivacySettings] = None) -> dict:
    """Run the comparison on the legacy engine (FedProx, optional server-side DP); returns the
    JSON-ready report (see ``docs/federated.md``)."""
    started = time.perf_counter()
    clinics = make_clinics(n_clinics, seed=seed, scale=scale)
    central, local = _central_and_local(clinics)
    with tempfile.TemporaryDirectory(prefix="ildscreen-federated-") as folder:
        files = write_training_files(clinics, Path(folder))
        federation = run_federation(files, workdir=Path(folder), rounds=rounds, proximal_mu=proximal_mu)
        private = None
        if privacy is not None:
            np.random.seed(seed)  # Flower draws its DP noise from numpy's global generator: same seed, same noise
            private = run_federation(files, workdir=Path(folder), rounds=rounds, proximal_mu=proximal_mu,
                                     privacy=privacy)
    predictions = {"federated": _held_out(federation, clinics), "central": central, "local_only": local}
    report = {"data": SYNTHETIC, "seed": seed, "n_clinics": n_clinics, "scale": scale,
              "model": "penalised logistic regression on the blood panel (log SI values, federation-wide "
                       "standardisation; federated.model)",
              **_compare(clinics, predictions)}
    report["federated_minus_central"] = {key: report["federated"][key] - report["central"][key]
                                         for key in ("auc", "ece")}
    report["engine"] = {"name": "flwr", "version": version("flwr"), "strategy": "FedProx",
                        "proximal_mu": proximal_mu, "aggregation": "weighted by each clinic's training rows",
                        "runtime": "legacy", "secure_aggregation": False,
                        "mode": "Flower gRPC server + one clinic process each, on loopback (federated.engine)"}
    report["rounds"] = federation.rounds
    report["communication"] = _communication(federation)
    report["federation_wall_s"] = federation.wall_s
    report["privacy"] = None if private is None else _privacy_report(privacy, federation, private, clinics,
                                                                     report["federated"])
    report["wall_s"] = time.perf_counter() - started
    return report


def _communication(result: FederationResult) -> dict:
    return {"bytes_to_clinics": result.bytes_to_clinics, "bytes_from_clinics": result.bytes_from_clinics,
            "bytes_total": result.bytes_to_clinics + result.bytes_from_clinics,
            "counted": "serialised model parameters and scaler per message; gRPC framing not counted"}


def _privacy_report(privacy: PrivacySettings, plain: FederationResult, private: FederationResult,
                    clinics: list[Clinic], without: dict) -> dict:
    y_all = np.concatenate([clinic.y_test for clinic in clinics])
    with_dp = risk_metrics(y_all, np.concatenate(_held_out(private, clinics)))
    return {
        "mechanism": "Flower DifferentialPrivacyServerSideFixedClipping (central DP, unweighted mean of clipped "
                     "updates plus Gaussian noise)",
        "noise_multiplier": privacy.noise_multiplier, "clipping_norm": privacy.clipping_norm, "delta": privacy.delta,
        "epsilon": epsilon(privacy.noise_multiplier, private.rounds - 1, privacy.delta),
        "epsilon_source": "computed by federated.privacy (zCDP bound, Bun & Steinke 2016); Flower reports none",
        "protected_unit": "a whole clinic, against whoever sees the released model; not against the server",
        "secure_aggregation": "not used: Flower's SecAgg+ needs the deployment engine (ServerApp/ClientApp)",
        "federated": with_dp,
        "cost": {"auc": with_dp["auc"] - without["auc"], "ece": with_dp["ece"] - without["ece"],
                 "wall_s": private.wall_s - plain.wall_s,
                 "bytes": _communication(private)["bytes_total"] - _communication(plain)["bytes_total"]},
    }



def simulate_deployment(n_clinics: int, *, seed: int, scale: float = 1.0, plan: Optional[DeploymentPlan] = None,
                        privacy: Optional[LocalPrivacy] = None) -> dict:
    """Run the comparison on Flower's deployment engine (:mod:`federated.deployment`): each clinic
    is a SuperNode with its lab rows and a real edge data folder; the report adds the federated
    validation of the labs model and of each modality, each beside the pooled (central) figure
    on the same rows, the rounds with their time, and any clinic that went missing. With
    ``privacy`` every clinic adds DP noise to its Newton sums and the report gives each clinic's
    epsilon (the cost is ``federated_minus_central``: central training has no noise)."""
    plan = plan or DeploymentPlan()
    started = time.perf_counter()
    clinics = make_clinics(n_clinics, seed=seed, scale=scale)
    central, local = _central_and_local(clinics)
    with tempfile.TemporaryDirectory(prefix="ildscreen-federated-") as folder:
        work, nodes, sites = Path(folder), [], []
        for index, clinic in enumerate(clinics):
            rows = work / f"{clinic.name}.npz"
            np.savez(rows, X=clinic.X_train, y=clinic.y_train, X_test=clinic.X_test, y_test=clinic.y_test)
            site = work / f"{clinic.name}-edge"
            make_edge_site(site, n_patients=int(round(EDGE_SITE_SHARE * (clinic.y_train.size + clinic.y_test.size))),
                           seed=seed * 1000 + index)
            nodes.append(ClinicNode(clinic.name, training_rows=rows, edge_data=site, privacy=privacy))
            sites.append(ClinicData.from_node_config({"clinic": clinic.name, "edge-data": str(site)}))
        sites_wall_s = time.perf_counter() - started
        result = run_deployment(nodes, workdir=work, plan=plan)
        pooled_modalities = {name: _pooled_modality(sites, name, result["missing_clinics"]) for name in plan.modalities}
    if result["scaler"] is None or not result["penalised_log_likelihood"]:
        raise FederatedError("the federation produced no model (the statistics or every Newton round failed)")
    scaler = Scaler(np.array(result["scaler"]["mean"]), np.array(result["scaler"]["sd"]), result["scaler"]["n_examples"])
    theta = np.array(result["theta"])
    federated = [predict(theta, scaler, clinic.X_test, clip_norm=result.get("clip_norm")) for clinic in clinics]
    report = {"data": SYNTHETIC, "seed": seed, "n_clinics": n_clinics, "scale": scale,
              "model": "penalised logistic regression on the blood panel (log SI values, federation-wide "
                       "standardisation; federated.model)",
              **_compare(clinics, {"federated": federated, "central": central, "local_only": local})}
    report["federated_minus_central"] = {key: report["federated"][key] - report["central"][key]
                                         for key in ("auc", "ece")}
    present = [index for index, clinic in enumerate(clinics) if clinic.name not in result["missing_clinics"]]
    y_present = np.concatenate([clinics[index].y_test for index in present])
    labs_pooled = risk_metrics(y_present, np.concatenate([federated[index] for index in present]))
    report["federated_validation"] = {
        LABS_MODEL: {"federated": result["validation"].get(LABS_MODEL),
                     "pooled": {"n": int(y_present.size), "events": int(y_present.sum()),
                                "auc": labs_pooled["auc"], "ece": labs_pooled["ece"]}},
        **{name: {"federated": result["validation"].get(name), "pooled": pooled_modalities[name]}
           for name in plan.modalities}}
    report["engine"] = {"name": "flwr", "version": version("flwr"), "runtime": "deployment",
                        "secure_aggregation": True, **result["transport"],
                        "algorithm": "federated Newton steps on secure sums (exact central fit), "
                                     f"{plan.newton_rounds} rounds",
                        "processes": "flower-superlink, one flower-supernode per clinic, on loopback (federated.deployment)"}
    report["rounds"] = len(result["rounds"])
    report["round_details"] = result["rounds"]
    report["round_wall_s"] = [item["wall_s"] for item in result["rounds"]]
    report["missing_clinics"] = result["missing_clinics"]
    report["communication"] = {"bytes_to_clinics": result["bytes_to_clinics"],
                               "bytes_from_clinics": result["bytes_from_clinics"],
                               "bytes_total": result["bytes_to_clinics"] + result["bytes_from_clinics"],
                               "messages": result["messages"],
                               "counted": "serialised message content (SecAgg+ keys, shares, masked vectors "
                                          "included); gRPC and TLS framing not counted"}
    report["edge_sites_wall_s"] = sites_wall_s
    report["federation_wall_s"] = result["wall_s"]
    report["privacy"] = None if privacy is None else _local_privacy_report(privacy, result["privacy"])
    report["wall_s"] = time.perf_counter() - started
    return report


def _local_privacy_report(privacy: LocalPrivacy, per_clinic: dict) -> dict:
    """What the clinic-side DP did and did not protect, with each clinic's epsilon."""
    return {
        "mechanism": "clinic-side Gaussian mechanism on each Newton round's gradient and information sums, each "
                     "patient's standardised lab row clipped to L2 norm C (federated.privacy.LocalPrivacy), "
                     "before SecAgg+",
        "noise_multiplier": privacy.noise_multiplier, "clipping_norm": privacy.clipping_norm, "delta": privacy.delta,
        "per_clinic": per_clinic,
        "epsilon_max": max((item["epsilon"] for item in per_clinic.values()), default=None),
        "epsilon_source": "computed by federated.privacy (zCDP bound, Bun & Steinke 2016) over the Newton rounds "
                          "each clinic answered",
        "protected_unit": "one patient of a clinic, against everyone who sees the clinic's sums or what is built "
                          "from them, the hospital included (the noise is added at the clinic)",
        "not_protected": ["the statistics round (feature counts, sums and sums of squares)",
                          "the validation round (binned risks of each target)",
                          "each clinic's number of rows, sent in the clear as SecAgg+'s weight",
                          "a clinic's budget across runs: epsilon is per run"],
        "cost": "federated_minus_central (central training has no noise)",
    }


def _pooled_modality(sites: list[ClinicData], modality: str, missing: list[str]) -> dict:
    """The central figures of a modality on the same labelled visits the federation validated
    (every clinic that answered the validation round), for comparison only: the simulation can
    see every site, a real hospital cannot."""
    parts = [site.modality_outcomes(modality) for site in sites if site.name not in missing]
    y, p, w = (np.concatenate([part[i] for part in parts]) for i in range(3))
    figures = {"n": int(y.size), "events": int(y.sum()), "auc": None, "auc_ci95": None, "ece": None}
    if y.size and 0 < y.sum() < y.size:
        auc = weighted_roc_auc(y, p, weights=w)
        figures.update(auc=auc["auc"], auc_ci95=auc["ci95"], ece=weighted_expected_calibration_error(y, p, weights=w))
    return figures
