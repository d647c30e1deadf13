"""The hospital's side of a federation, on Flower: a gRPC server on loopback, one process per
clinic (:mod:`federated.clinic_node`), FedProx aggregation weighted by each clinic's number of
training rows, and optionally Flower's server-side differential privacy.

The legacy path (``ildscreen federated simulate --engine legacy``): Flower's gRPC server and
client (``flwr.server.Server`` over the grpc-bidi Fleet transport, ``flwr.client.start_client`` in
each clinic process; deprecated since Flower 1.13), kept for development and for the server-side
DP measurements. The default path is the deployment engine (:mod:`federated.deployment`,
SuperLink + SuperNodes, SecAgg+). See ``docs/federated.md``.

Bounded runs: every clinic process has CPU-time and address-space limits; the server waits
``startup_timeout_s`` for the clinics to connect and ``round_timeout_s`` per round; a clinic
that exits or fails ends the run with its log's last lines; every process is ended on the way out.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import resource
import subprocess
import time
from pathlib import Path
from typing import Optional

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # before flwr is imported: nothing leaves for Flower's telemetry

import numpy as np  # noqa: E402
from flwr.common import FitIns, Parameters, ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server import Server  # noqa: E402
from flwr.server.client_manager import SimpleClientManager  # noqa: E402
from flwr.server.strategy import DifferentialPrivacyServerSideFixedClipping, FedProx, Strategy  # noqa: E402
from flwr.server.superlink.fleet.grpc_bidi.grpc_server import start_grpc_server  # noqa: E402

from common.child_process import module_command  # noqa: E402
from federated.clinic_node import STATISTICS, TRAIN  # noqa: E402
from federated.errors import FederatedError  # noqa: E402
from federated.local_processes import free_port, log_tail  # noqa: E402
from federated.model import N_COEFFICIENTS, Scaler  # noqa: E402
from federated.privacy import PrivacySettings  # noqa: E402

logger = logging.getLogger(__name__)

CLINIC_CPU_SECONDS = 300  # hard cap on each clinic process's CPU time
CLINIC_ADDRESS_SPACE = 4 * 1024 ** 3  # bytes; gRPC reserves far more virtual memory than it uses


@dataclasses.dataclass(frozen=True)
class FederationResult:
    """The global model and what it cost to make."""

    theta: np.ndarray
    scaler: Scaler
    rounds: int
    bytes_to_clinics: int
    bytes_from_clinics: int
    wall_s: float


def _limit(process: subprocess.Popen) -> subprocess.Popen:
    """Cap a clinic process's CPU time and address space. Set from outside with prlimit rather
    than in a pre-exec hook: with the hook (a fork of this gRPC-threaded process running Python),
    a clinic process aborted here in gRPC's poller ("epoll_wait error: Bad file descriptor")."""
    resource.prlimit(process.pid, resource.RLIMIT_CPU, (CLINIC_CPU_SECONDS, CLINIC_CPU_SECONDS))
    resource.prlimit(process.pid, resource.RLIMIT_AS, (CLINIC_ADDRESS_SPACE, CLINIC_ADDRESS_SPACE))
    return process




class ClinicProcesses:
    """The clinic processes of one run; ``check`` raises when one has exited."""

    def __init__(self, data_files: list[Path], server_address: str, workdir: Path):
        self.logs = [workdir / f"{path.stem}.log" for path in data_files]
        env = {**os.environ, "FLWR_TELEMETRY_ENABLED": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.processes: list[subprocess.Popen] = []
        for path, log in zip(data_files, self.logs):
            with open(log, "wb") as handle:
                # The clinics run the code this process imported, wherever the run was started from.
                self.processes.append(_limit(subprocess.Popen(
                    **module_command("federated.clinic_node", "--server", server_address,
                                     "--data", str(Path(path).resolve()), env=env),
                    stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT)))

    def check(self) -> None:
        for process, log in zip(self.processes, self.logs):
            if process.poll() is not None:
                raise FederatedError(f"clinic process {log.stem} exited with status {process.returncode} before "
                                     f"the federation finished; its log ends:\n{log_tail(log)}")

    def stop(self, timeout_s: float = 10.0) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout_s
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class ClinicManager(SimpleClientManager):
    """Flower's client manager, but waiting a bounded time and failing fast when a clinic exits
    (Flower's own waits up to a day)."""

    def __init__(self, clinics: ClinicProcesses, startup_timeout_s: float):
        super().__init__()
        self.clinics = clinics
        self.startup_timeout_s = startup_timeout_s

    def wait_for(self, num_clients: int, timeout: int = 0) -> bool:
        """Wait for ``num_clients`` clinics; ``timeout`` (Flower's callers pass a day) is replaced
        by ``startup_timeout_s``. Raises ``FederatedError`` rather than returning False."""
        deadline = time.monotonic() + self.startup_timeout_s
        while not super().wait_for(num_clients, timeout=0.2):
            self.clinics.check()
            if time.monotonic() > deadline:
                raise FederatedError(f"only {len(self)} of {num_clients} clinics connected within "
                                     f"{self.startup_timeout_s:g} s")
        return True


class ClinicFederation(Strategy):
    """Round 1 builds the shared scaler from the clinics' summed feature statistics; every later
    round is one round of ``inner`` (FedProx, DP-wrapped or not), with the scaler and the total
    number of rows sent along. Counts the bytes of model parameters exchanged."""

    def __init__(self, inner: Strategy, n_clinics: int, *, unweighted: bool):
        self.inner = inner
        self.n_clinics = n_clinics
        self.unweighted = unweighted  # DP: every clinic's (clipped) update counts the same
        self.scaler: Optional[Scaler] = None
        self.parameters: Optional[Parameters] = None
        self.bytes_to_clinics = 0
        self.bytes_from_clinics = 0

    def initialize_parameters(self, client_manager):
        return self.inner.initialize_parameters(client_manager)

    def configure_fit(self, server_round, parameters, client_manager):
        client_manager.wait_for(self.n_clinics)
        if server_round == 1:
            instructions = [(client, FitIns(parameters, {"stage": STATISTICS}))
                            for client in client_manager.sample(self.n_clinics)]
        else:
            instructions = self.inner.configure_fit(server_round - 1, parameters, client_manager)
            extra = {"stage": TRAIN, "scaler": self.scaler.to_bytes(), "n_examples": self.scaler.n_examples}
            instructions = [(client, FitIns(ins.parameters, {**ins.config, **extra})) for client, ins in instructions]
        for _, ins in instructions:
            self.bytes_to_clinics += sum(len(tensor) for tensor in ins.parameters.tensors)
            self.bytes_to_clinics += sum(len(value) for value in ins.config.values() if isinstance(value, bytes))
        return instructions

    def aggregate_fit(self, server_round, results, failures):
        if failures:
            raise FederatedError(f"{len(failures)} clinic(s) failed in round {server_round}: "
                                 f"{'; '.join(str(failure) for failure in failures[:3])}")
        self.bytes_from_clinics += sum(len(tensor) for _, res in results for tensor in res.parameters.tensors)
        if server_round == 1:
            statistics = [parameters_to_ndarrays(res.parameters) for _, res in results]
            self.scaler = Scaler.from_statistics(statistics, sum(res.num_examples for _, res in results))
            return None, {}  # the model is unchanged by this round
        if self.unweighted:
            results = [(client, dataclasses.replace(res, num_examples=1)) for client, res in results]
        parameters, metrics = self.inner.aggregate_fit(server_round - 1, results, failures)
        if parameters is not None:
            self.parameters = parameters
        return parameters, metrics

    def configure_evaluate(self, server_round, parameters, client_manager):
        return []  # the simulator evaluates on held-out rows itself

    def aggregate_evaluate(self, server_round, results, failures):
        return None, {}

    def evaluate(self, server_round, parameters):
        return None


def write_training_files(clinics: list, folder: Path) -> list[Path]:
    """Each clinic's training rows (``X_train``, ``y_train``) in its own ``.npz``, read only by
    that clinic's process."""
    files = []
    for clinic in clinics:
        path = folder / f"{clinic.name}.npz"
        np.savez(path, X=clinic.X_train, y=clinic.y_train)
        files.append(path)
    return files


def run_federation(data_files: list[Path], *, workdir: Path, rounds: int, proximal_mu: float,
                   privacy: Optional[PrivacySettings] = None, startup_timeout_s: float = 120.0,
                   round_timeout_s: float = 120.0) -> FederationResult:
    """Train the labs model across the clinics whose training rows are in ``data_files`` (one
    ``.npz`` each, read only by that clinic's process): one statistics round, then ``rounds``
    FedProx rounds. Raises ``FederatedError`` when a clinic fails or the run does not finish."""
    if len(data_files) < 2:
        raise FederatedError(f"a federation needs at least 2 clinics, got {len(data_files)}")
    if rounds < 1:
        raise FederatedError(f"rounds must be >= 1, got {rounds}")
    n = len(data_files)
    inner: Strategy = FedProx(proximal_mu=proximal_mu, fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n,
                              min_available_clients=n, min_evaluate_clients=0,
                              fit_metrics_aggregation_fn=lambda metrics: {},  # clinics report none
                              initial_parameters=ndarrays_to_parameters([np.zeros(N_COEFFICIENTS)]))
    if privacy is not None:
        inner = DifferentialPrivacyServerSideFixedClipping(inner, noise_multiplier=privacy.noise_multiplier,
                                                           clipping_norm=privacy.clipping_norm, num_sampled_clients=n)
    strategy = ClinicFederation(inner, n, unweighted=privacy is not None)
    address = f"127.0.0.1:{free_port()}"
    started = time.perf_counter()
    clinics = None
    grpc_server = None
    flwr_logger = logging.getLogger("flwr")
    level = flwr_logger.level
    flwr_logger.setLevel(logging.WARNING)  # Flower logs every round at INFO
    try:
        clinics = ClinicProcesses(data_files, address, workdir)
        manager = ClinicManager(clinics, startup_timeout_s)
        grpc_server = start_grpc_server(client_manager=manager, server_address=address)
        server = Server(client_manager=manager, strategy=strategy)
        server.fit(num_rounds=rounds + 1, timeout=round_timeout_s)
        server.disconnect_all_clients(timeout=round_timeout_s)
        if strategy.parameters is None:
            raise FederatedError("the federation produced no model (every round failed)")
        theta = parameters_to_ndarrays(strategy.parameters)[0]
        logger.info("federation of %d clinics: %d rounds in %.1f s", n, rounds + 1, time.perf_counter() - started)
    finally:
        flwr_logger.setLevel(level)
        if grpc_server is not None:
            grpc_server.stop(grace=1)
        if clinics is not None:
            clinics.stop()
    return FederationResult(theta, strategy.scaler, rounds + 1, strategy.bytes_to_clinics,
                            strategy.bytes_from_clinics, time.perf_counter() - started)
