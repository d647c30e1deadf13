"""``ildscreen federated simulate``: N synthetic clinics learn the labs model three ways, compared
on each clinic's held-out rows and on all held-out rows pooled.

- **federated**: Flower, FedProx rounds across one process per clinic (:mod:`federated.engine`);
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
from evaluation.recalibration import weighted_brier_score, weighted_expected_calibration_error
from federated.engine import FederationResult, run_federation, write_training_files
from federated.model import Scaler, feature_statistics, fit_logistic, predict
from federated.population import SYNTHETIC, Clinic, make_clinics
from federated.privacy import PrivacySettings, epsilon

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


def simulate(n_clinics: int, *, seed: int, scale: float = 1.0, rounds: int = ROUNDS,
             proximal_mu: float = PROXIMAL_MU, privacy: Optional[PrivacySettings] = None) -> dict:
    """Run the comparison; returns the JSON-ready report (see ``docs/federated.md``)."""
    started = time.perf_counter()
    clinics = make_clinics(n_clinics, seed=seed, scale=scale)
    X_pooled = np.vstack([clinic.X_train for clinic in clinics])
    y_pooled = np.concatenate([clinic.y_train for clinic in clinics])
    central_scaler = Scaler.from_statistics([feature_statistics(clinic.X_train) for clinic in clinics], len(y_pooled))
    central = fit_logistic(X_pooled, y_pooled, central_scaler)
    local = []
    for clinic in clinics:
        scaler = Scaler.of(clinic.X_train)
        local.append(predict(fit_logistic(clinic.X_train, clinic.y_train, scaler), scaler, clinic.X_test))
    with tempfile.TemporaryDirectory(prefix="ildscreen-federated-") as folder:
        files = write_training_files(clinics, Path(folder))
        federation = run_federation(files, workdir=Path(folder), rounds=rounds, proximal_mu=proximal_mu)
        private = None
        if privacy is not None:
            np.random.seed(seed)  # Flower draws its DP noise from numpy's global generator: same seed, same noise
            private = run_federation(files, workdir=Path(folder), rounds=rounds, proximal_mu=proximal_mu,
                                     privacy=privacy)
    predictions = {"federated": _held_out(federation, clinics),
                   "central": [predict(central, central_scaler, clinic.X_test) for clinic in clinics],
                   "local_only": local}
    report = {"data": SYNTHETIC, "seed": seed, "n_clinics": n_clinics, "scale": scale,
              "model": "penalised logistic regression on the blood panel (log SI values, federation-wide "
                       "standardisation; federated.model)",
              **_compare(clinics, predictions)}
    report["federated_minus_central"] = {key: report["federated"][key] - report["central"][key]
                                         for key in ("auc", "ece")}
    report["engine"] = {"name": "flwr", "version": version("flwr"), "strategy": "FedProx",
                        "proximal_mu": proximal_mu, "aggregation": "weighted by each clinic's training rows",
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

