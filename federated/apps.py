"""The Flower apps of the regional federation, for Flower's deployment engine: ``server_app`` runs
at the hospital (started by its SuperLink for each run), ``client_app`` at each clinic (started by
the clinic's SuperNode for each message). Packaged as a Flower App Bundle by ``federated/flower_app``.

Every round is a **secure sum** (Flower's SecAgg+: ``SecAggPlusWorkflow`` at the hospital,
``secaggplus_mod`` at the clinic): a clinic sends its sums divided by its number of rows, with
that number as SecAgg+'s weight, so the hospital unmasks only the federation's total, never one
clinic's vector. Three kinds of round:

- ``statistics``: per feature, the count, sum and sum of squares of the log lab values, which
  make the shared scaler (:class:`federated.model.Scaler`);
- ``newton``: the log-likelihood, gradient and information matrix at the current coefficients
  (:func:`federated.model.newton_sums`); the hospital adds the prior and takes the Newton step,
  so after a few rounds the federated model is the central fit on the pooled rows;
- ``validation``: binned sums of each score the clinic validates (the federated labs model on
  its held-out rows; each modality's stored output against its confirmed outcomes, with
  verification weights, and the weights' squares so that the intervals respect them), from which
  the hospital reads AUC with its weighted DeLong interval and ECE (:mod:`evaluation.binned`).

A clinic may add differential-privacy noise to its Newton sums (its ``dp-*`` node config,
:class:`federated.privacy.LocalPrivacy`); the hospital then floors the noisy information matrix's
eigenvalues and reports each clinic's epsilon in the result.

What a clinic sends in the clear: its name, number of rows (SecAgg+'s weight) and DP setting,
never a row.
The hospital writes the run's result to the run config's ``result-path``.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Optional

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # before flwr is imported: nothing leaves for Flower's telemetry

import numpy as np  # noqa: E402
from flwr.client import ClientApp, NumPyClient  # noqa: E402
from flwr.client.mod import secaggplus_mod  # noqa: E402
from flwr.common import Context, FitIns, ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server import LegacyContext, ServerApp, ServerConfig, SimpleClientManager  # noqa: E402
from flwr.server.strategy import Strategy  # noqa: E402
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow  # noqa: E402

from evaluation.binned import (  # noqa: E402
    BIN_LENGTH,
    FINDING_COUNTS_LENGTH,
    binned_auc,
    binned_auc_ci95,
    binned_counts,
    binned_ece,
    binned_effective_counts,
    finding_accuracy,
    risk_bins,
)
from evaluation.errors import EvaluationError  # noqa: E402
from federated.clinic_data import LABS_MODEL, ClinicData  # noqa: E402
from federated.privacy import LocalPrivacy  # noqa: E402
from federated.model import (  # noqa: E402
    N_COEFFICIENTS,
    NEWTON_LENGTH,
    Scaler,
    feature_statistics,
    newton_step,
    newton_sums,
    predict,
)

logger = logging.getLogger(__name__)

STATISTICS, NEWTON, VALIDATION = "statistics", "newton", "validation"
LUNG_SOUNDS = "auscultation"  # its validation also sums the basal crackle finding's 2x2 counts
# SecAgg+ settings (programme assumptions). A clinic's values are its sums / rows, a few units at
# most; SecAgg+ multiplies them by rows / MAX_CLINIC_ROWS and quantises [-32, 32] into 2**26 levels,
# so each unmasked sum is exact to about 64 / 2**26 * MAX_CLINIC_ROWS = 0.005. Sums of up to 63
# clinics' quantised values fit SecAgg+'s 2**32 modulus. The validation round's squared weights
# travel in units of evaluation.binned.SQUARED_WEIGHT_UNIT (32): with weights up to 32 they fit
# wherever the weighted counts fit, each exact to about 0.005 * 32 = 0.15 (unbiased: SecAgg+ rounds
# stochastically), a fraction of a percent of an interval's width
# (tests/federated/test_federated_apps.py).
CLIPPING_RANGE = 32.0
QUANTIZATION_RANGE = 2 ** 26
MAX_CLINIC_ROWS = 5_000
MAX_CLINICS = 63


class ClinicClient(NumPyClient):
    """A clinic's answers, computed on its own rows only."""

    def __init__(self, data: ClinicData, rng: Optional[np.random.Generator] = None):
        self.data = data
        self.rng = rng or np.random.default_rng()  # fresh OS entropy in each ClientApp process

    def fit(self, parameters, config):
        stage = config.get("stage")
        extra: dict = {}
        if stage == STATISTICS:
            sums, rows = np.concatenate(feature_statistics(self.data.X_train)), len(self.data.y_train)
        elif stage == NEWTON:
            scaler = Scaler.from_bytes(config["scaler"], int(config["n_examples"]))
            privacy, rows = self.data.privacy, len(self.data.y_train)
            if privacy is None:
                sums = newton_sums(self.data.X_train, self.data.y_train, scaler, parameters[0])
            else:
                sums = privacy.privatise(newton_sums(self.data.X_train, self.data.y_train, scaler, parameters[0],
                                                     clip_norm=privacy.clipping_norm), self.rng)
                extra = privacy.metrics()
        elif stage == VALIDATION:
            targets = json.loads(config["targets"])
            scaler = Scaler.from_bytes(config["scaler"], int(config["n_examples"]))
            clip_norm = float(config["clip-norm"]) if config.get("clip-norm") else None  # the model's (DP)
            sums = np.concatenate([self._bins(target, parameters[0], scaler, clip_norm) for target in targets]
                                  + ([self.data.basal_finding_counts()] if LUNG_SOUNDS in targets else []))
            rows = max(1, self.data.validation_rows(targets))
        else:
            raise ValueError(f"unknown round stage {stage!r}")
        if rows > MAX_CLINIC_ROWS:
            raise ValueError(f"{rows} rows exceed the largest clinic SecAgg+ is set for ({MAX_CLINIC_ROWS})")
        means = sums / rows
        if np.abs(means).max() > CLIPPING_RANGE:  # SecAgg+ would clip it silently: refuse instead
            raise ValueError(f"a {stage} value of {np.abs(means).max():.1f} per row exceeds SecAgg+'s clipping "
                             f"range ({CLIPPING_RANGE:g})")
        return [means], rows, {"clinic": self.data.name, **extra}

    def _bins(self, target: str, theta: np.ndarray, scaler: Scaler, clip_norm: Optional[float] = None) -> np.ndarray:
        """Binned sums of one validation target; zeros when this clinic has no labelled rows for it."""
        if target == LABS_MODEL:
            y, p, w = self.data.y_test, None, None
            if len(y):
                p = predict(theta, scaler, self.data.X_test, clip_norm=clip_norm)
        else:
            y, p, w = self.data.modality_outcomes(target)
        if p is None or not len(y):
            return np.zeros(BIN_LENGTH)
        return risk_bins(y, p, weights=w)


def client_fn(context: Context):
    """The clinic's client, over the data its SuperNode was started with (``--node-config``)."""
    return ClinicClient(ClinicData.from_node_config(context.node_config)).to_client()


client_app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])


class BoundedClientManager(SimpleClientManager):
    """Flower's client manager, waiting at most ``timeout_s`` for the clinics (Flower's own waits a day)."""

    def __init__(self, timeout_s: float):
        super().__init__()
        self.timeout_s = timeout_s

    def wait_for(self, num_clients: int, timeout: int = 0) -> bool:
        return super().wait_for(num_clients, timeout=int(self.timeout_s))


class RegionalFederation(Strategy):
    """The hospital's plan: one statistics round, ``newton_rounds`` Newton rounds, one validation
    round; each round's secure sum is read here. Clinics are known by the name they send; a clinic
    that does not answer a round is named in that round's record and left out of later rounds."""

    def __init__(self, *, n_clinics: int, newton_rounds: int, targets: list[str], progress: Optional[Path] = None):
        self.n_clinics = n_clinics
        self.newton_rounds = newton_rounds
        self.targets = targets
        self.progress = progress
        self.theta = np.zeros(N_COEFFICIENTS)
        self.scaler: Optional[Scaler] = None
        self.clinics: dict[str, str] = {}  # Flower node id -> clinic name, from the first answers
        self.missing: set[str] = set()  # node ids that stopped answering
        self.rounds: list[dict] = []
        self.validation: dict = {}
        self.penalised_log_likelihood: list[Optional[float]] = []
        self.privacy: dict[str, dict] = {}  # clinic name -> its DP setting and the noisy rounds it answered
        self._started = 0.0

    def mark_missing(self, node_ids: set[str]) -> list[str]:
        """Leave these nodes out from now on; returns the names of the clinics among them."""
        self.missing |= set(node_ids)
        return sorted(self.clinics.get(cid, cid) for cid in node_ids)

    def stage(self, server_round: int) -> str:
        if server_round == 1:
            return STATISTICS
        return NEWTON if server_round <= 1 + self.newton_rounds else VALIDATION

    def initialize_parameters(self, client_manager):
        return ndarrays_to_parameters([self.theta])

    def configure_fit(self, server_round, parameters, client_manager):
        client_manager.wait_for(self.n_clinics if server_round == 1 else 1)
        stage = self.stage(server_round)
        config = {"stage": stage}
        if stage != STATISTICS and self.scaler is None:  # the statistics round halted: nothing to build on
            self.rounds.append({"round": server_round, "stage": stage, "completed": False})
            return []
        if stage != STATISTICS:
            config.update(scaler=self.scaler.to_bytes(), n_examples=self.scaler.n_examples)
        if stage == VALIDATION:
            config["targets"] = json.dumps(self.targets)
            if self.clip_norm() is not None:
                config["clip-norm"] = self.clip_norm()
        self._started = time.perf_counter()
        # Completed by aggregate_fit; stays incomplete when SecAgg+ halts (too few clinics answered).
        self.rounds.append({"round": server_round, "stage": stage, "completed": False})
        if self.progress is not None:
            self.progress.write_text(json.dumps({"round": server_round, "stage": stage}), encoding="utf-8")
        clients = [client for client in client_manager.all().values() if client.cid not in self.missing]
        fit_ins = FitIns(ndarrays_to_parameters([self.theta]), config)
        return [(client, fit_ins) for client in clients]

    def aggregate_fit(self, server_round, results, failures):
        answered = {client.cid: res.metrics.get("clinic", client.cid) for client, res in results}
        if server_round == 1:
            self.clinics = dict(answered)
        newly_missing = sorted(self.clinics[cid] for cid in set(self.clinics) - set(answered) - self.missing)
        self.missing |= set(self.clinics) - set(answered)
        record = self.rounds[-1]
        record.update(completed=bool(results), clinics=len(answered), missing_clinics=newly_missing,
                      failures=len(failures), wall_s=time.perf_counter() - self._started)
        if not results:
            return None, {}
        rows = sum(res.num_examples for _, res in results)
        # SecAgg+ hands every result the same unmasked weighted mean; times the rows it is the sum.
        total = parameters_to_ndarrays(results[0][1].parameters)[0] * rows
        stage = self.stage(server_round)
        if stage == STATISTICS:
            width = len(total) // 3
            self.scaler = Scaler.from_statistics([[total[:width], total[width:2 * width], total[2 * width:]]], rows)
            record["rows"] = rows
        elif stage == NEWTON:
            noise_variance = 0.0
            for _, res in results:
                privacy = LocalPrivacy.from_metrics(res.metrics)
                if privacy is not None:
                    noise_variance += privacy.information_noise_sd ** 2
                    spent = self.privacy.setdefault(str(res.metrics.get("clinic")), {"setting": privacy, "rounds": 0})
                    spent["setting"], spent["rounds"] = privacy, spent["rounds"] + 1
            self.theta, penalised = newton_step(total[:NEWTON_LENGTH], self.theta,
                                                information_noise_sd=float(np.sqrt(noise_variance)))
            # A noisy clinic sends no log-likelihood: the total would be partial.
            self.penalised_log_likelihood.append(None if noise_variance else penalised)
        else:
            self.validation = {target: _validation_figures(total[index * BIN_LENGTH:(index + 1) * BIN_LENGTH],
                                                           len(answered))
                               for index, target in enumerate(self.targets)}
            if LUNG_SOUNDS in self.targets:  # the basal finding's accuracy, from the counts after the bins
                counts = total[len(self.targets) * BIN_LENGTH:][:FINDING_COUNTS_LENGTH]
                self.validation[LUNG_SOUNDS]["basal_finding"] = finding_accuracy(counts)
        record["wall_s"] = time.perf_counter() - self._started
        return ndarrays_to_parameters([self.theta]), {}

    def configure_evaluate(self, server_round, parameters, client_manager):
        return []  # validation is its own (secure) round

    def aggregate_evaluate(self, server_round, results, failures):
        return None, {}

    def evaluate(self, server_round, parameters):
        return None

    def clip_norm(self) -> Optional[float]:
        """The row clipping the model was fitted with: the smallest any noisy clinic used (None: no DP)."""
        return min((spent["setting"].clipping_norm for spent in self.privacy.values()), default=None)

    def result(self) -> dict:
        return {"theta": self.theta.tolist(),
                "scaler": None if self.scaler is None else {"mean": self.scaler.mean.tolist(),
                                                            "sd": self.scaler.sd.tolist(),
                                                            "n_examples": self.scaler.n_examples},
                "clinics": sorted(self.clinics.values()), "rounds": self.rounds, "validation": self.validation,
                "penalised_log_likelihood": self.penalised_log_likelihood,
                "missing_clinics": sorted(self.clinics[cid] for cid in self.missing),
                "clip_norm": self.clip_norm(),
                "privacy": {name: {"noise_multiplier": spent["setting"].noise_multiplier,
                                   "clipping_norm": spent["setting"].clipping_norm, "delta": spent["setting"].delta,
                                   "newton_rounds": spent["rounds"],
                                   "epsilon": spent["setting"].epsilon(spent["rounds"])}
                            for name, spent in sorted(self.privacy.items())}}


def _validation_figures(bins: np.ndarray, clinics: int) -> dict:
    """AUC with its weighted DeLong 95% interval, ECE, counts and Kish effective counts
    (``effective_n``, ``effective_events``: what the verification weights leave of the rows) of one
    target from the federation's binned sums (None where not estimable); ``clinics`` answered the
    round."""
    cases, non_cases = binned_counts(bins)
    effective_cases, effective_non_cases = binned_effective_counts(bins)
    figures = {"n": cases + non_cases, "events": cases, "clinics": clinics, "auc": None, "auc_ci95": None,
               "ece": None, "effective_events": effective_cases,
               "effective_n": (None if effective_cases is None or effective_non_cases is None
                               else effective_cases + effective_non_cases)}
    try:
        figures["auc"] = binned_auc(bins)
        figures["ece"] = binned_ece(bins)
        figures["auc_ci95"] = list(binned_auc_ci95(bins))
    except EvaluationError:
        pass  # too few outcomes in the region for this target: shown as None
    return figures


server_app = ServerApp()


@server_app.main()
def main(grid, context: Context) -> None:
    """One federated run: the plan of :class:`RegionalFederation` under SecAgg+, the result as JSON."""
    config = context.run_config
    n_clinics, newton_rounds = int(config["clinics"]), int(config["newton-rounds"])
    result_path = Path(str(config["result-path"]))
    strategy = RegionalFederation(n_clinics=n_clinics, newton_rounds=newton_rounds,
                                  targets=[LABS_MODEL, *filter(None, str(config["modalities"]).split(","))],
                                  progress=result_path.with_suffix(".progress"))
    counting = CountingGrid(grid)
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=newton_rounds + 2), strategy=strategy,
                           client_manager=BoundedClientManager(float(config["startup-timeout-s"])))
    # num_shares 1.0: every sampled clinic holds a share of every other's keys (all are neighbours)
    secure = SecAggPlusWorkflow(num_shares=1.0, reconstruction_threshold=int(config["reconstruction-threshold"]),
                                max_weight=MAX_CLINIC_ROWS, clipping_range=CLIPPING_RANGE,
                                quantization_range=QUANTIZATION_RANGE,
                                timeout=float(config["round-timeout-s"]))
    started = time.perf_counter()
    # The run's log beside its result: what the operator reads when a round halts.
    log_handler = logging.FileHandler(result_path.with_suffix(".log"), encoding="utf-8")
    log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger("flwr"), logger]
    for each in loggers:
        each.addHandler(log_handler)
    try:
        DefaultWorkflow(fit_workflow=ResilientSecureFit(secure, strategy, float(config["round-timeout-s"])))(
            counting, legacy)
    finally:
        for each in loggers:
            each.removeHandler(log_handler)
        log_handler.close()
    result = {**strategy.result(), "bytes_to_clinics": counting.bytes_sent, "bytes_from_clinics": counting.bytes_received,
              "messages": counting.messages, "wall_s": time.perf_counter() - started}
    partial = result_path.with_suffix(".partial")
    partial.write_text(json.dumps(result), encoding="utf-8")
    partial.replace(result_path)  # the runner sees the whole file or none


class ResilientSecureFit:
    """SecAgg+ for one round, retried once without the clinics that stopped answering.

    Flower 1.39's SecAgg+ recovers a clinic that drops out after it has shared its keys, but not
    one that never answers the setup stage: the other clinics then fail to unmask (``KeyError`` in
    ``secaggplus_mod._unmask``) and the round halts. After a halted round, every clinic is asked
    for its (empty) properties within ``timeout_s``; those that do not answer are named missing
    and the round runs again with the others."""

    def __init__(self, secure: SecAggPlusWorkflow, strategy: RegionalFederation, timeout_s: float):
        self.secure = secure
        self.strategy = strategy
        self.timeout_s = timeout_s

    def __call__(self, grid, context) -> None:
        self.secure(grid, context)
        record = self.strategy.rounds[-1] if self.strategy.rounds else None
        if record is None or record["completed"]:
            return
        known = set(self.strategy.clinics) - self.strategy.missing
        silent = self.silent_clinics(grid, context.client_manager, known)
        if not silent or silent == known:
            logger.error("round %s halted and %s clinic answers a query: not retried", record["round"],
                         "every" if not silent else "no")
            return
        names = self.strategy.mark_missing(silent)
        logger.warning("round %s halted; clinics not answering: %s; running it again without them",
                       record["round"], names)
        self.strategy.rounds.pop()
        self.secure(grid, context)
        if self.strategy.rounds and self.strategy.rounds[-1]["round"] == record["round"]:
            retried = self.strategy.rounds[-1]
            retried["missing_clinics"] = sorted(set(retried.get("missing_clinics", [])) | set(names))
            retried["retried"] = True

    def silent_clinics(self, grid, client_manager, known: set[str]) -> set[str]:
        """Of the ``known`` clinics' node ids, those the SuperLink no longer lists or that do not
        answer a properties query within the timeout."""
        from flwr.common import GetPropertiesIns, Message
        from flwr.common.constant import MessageTypeLegacy
        from flwr.compat.common import recorddict_compat as compat

        listed = sorted(known & set(client_manager.all()))
        content = compat.getpropertiesins_to_recorddict(GetPropertiesIns({}))
        queries = [Message(content=content, message_type=MessageTypeLegacy.GET_PROPERTIES, dst_node_id=int(cid),
                           group_id="liveness", ttl=self.timeout_s) for cid in listed]
        replies = grid.send_and_receive(queries, timeout=self.timeout_s) if queries else []
        return known - {str(reply.metadata.src_node_id) for reply in replies if not reply.has_error()}


class CountingGrid:
    """Flower's Grid, counting the serialised bytes of every message's content both ways."""

    def __init__(self, grid):
        self._grid = grid
        self.bytes_sent = 0
        self.bytes_received = 0
        self.messages = 0

    def __getattr__(self, name):
        return getattr(self._grid, name)

    def send_and_receive(self, messages, *, timeout=None):
        messages = list(messages)
        self.messages += len(messages)
        self.bytes_sent += sum(_content_bytes(message) for message in messages)
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        self.bytes_received += sum(_content_bytes(reply) for reply in replies if not reply.has_error())
        return replies


def _content_bytes(message) -> int:
    from flwr.common.serde import recorddict_to_proto
    return recorddict_to_proto(message.content).ByteSize()
