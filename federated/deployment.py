"""A federation on Flower's deployment engine, on loopback: the hospital's SuperLink and one
SuperNode per clinic, each its own process tree, TLS between them (a throwaway CA,
:mod:`federated.pki`), SuperNode authentication (each clinic's public key registered with
``flwr supernode register`` before it connects), and the run submitted with ``flwr run`` as an
operator would. The apps are :mod:`federated.apps` (SecAgg+ for every round).

Process trees, and how they end: ``flower-superlink`` starts a ``flower-superexec`` that starts
``flwr-serverapp`` for the run; each ``flower-supernode`` starts a ``flower-superexec`` that starts
one ``flwr-clientapp`` per message. Every process started here gets CPU-time and address-space
limits (inherited by its children); the run has an overall deadline; on the way out every process
of every tree is terminated, then killed.
"""
from __future__ import annotations

import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from federated.errors import FederatedError
from federated.local_processes import LOG_TAIL_CHARS, free_port, log_tail
from federated.pki import make_node_keys, make_server_certificates
from federated.privacy import LocalPrivacy

logger = logging.getLogger(__name__)

APP_DIR = Path(__file__).resolve().parent / "flower-app"
PROCESS_CPU_SECONDS = 600  # hard cap on each process's CPU time
PROCESS_ADDRESS_SPACE = 8 * 1024 ** 3  # bytes; gRPC reserves far more virtual memory than it uses
CONNECTION = "hospital"  # the operator's name for the SuperLink connection in Flower's config.toml


@dataclass(frozen=True)
class ClinicNode:
    """One clinic's SuperNode: its name and what its ClientApp reads (``federated.clinic_data``)."""

    name: str
    training_rows: Optional[Path] = None
    edge_data: Optional[Path] = None
    privacy: Optional[LocalPrivacy] = None  # clinic-side DP on its Newton sums

    def node_config(self) -> str:
        items = {"clinic": self.name, "training-rows": self.training_rows, "edge-data": self.edge_data,
                 **(self.privacy.node_config() if self.privacy else {})}
        return " ".join(f'{key}="{value}"' for key, value in items.items() if value is not None)


@dataclass
class DeploymentPlan:
    """What to run: rounds, validation targets and the bounds of the run."""

    newton_rounds: int = 6
    modalities: tuple[str, ...] = ("auscultation", "breath", "labs")
    startup_timeout_s: float = 120.0
    round_timeout_s: float = 60.0
    run_timeout_s: float = 900.0
    kill_clinic: Optional[tuple[str, int]] = None  # (clinic, round): end that clinic's SuperNode as the round starts
    reconstruction_threshold: Optional[int] = None  # default: a bare majority of the clinics

    def threshold(self, n_clinics: int) -> int:
        return self.reconstruction_threshold or n_clinics // 2 + 1




def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found, grandchildren after)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                pids = [int(child) for child in children.read_text().split()]
            except OSError:
                continue
            found.extend(pids)
            queue.extend(pids)
    return found


@dataclass
class Processes:
    """The processes of one run, by role; ``check`` raises when one has exited early."""

    workdir: Path
    env: dict
    started: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def start(self, role: str, command: list[str], *, home: Path) -> subprocess.Popen:
        home.mkdir(parents=True, exist_ok=True)
        log = self.workdir / f"{role}.log"
        with open(log, "wb") as handle:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                                       env={**self.env, "FLWR_HOME": str(home)}, cwd=home, start_new_session=True)
        # Limits set from outside (prlimit), as federated.engine explains; children inherit them.
        resource.prlimit(process.pid, resource.RLIMIT_CPU, (PROCESS_CPU_SECONDS, PROCESS_CPU_SECONDS))
        resource.prlimit(process.pid, resource.RLIMIT_AS, (PROCESS_ADDRESS_SPACE, PROCESS_ADDRESS_SPACE))
        self.started[role], self.logs[role] = process, log
        return process

    def check(self) -> None:
        for role, process in self.started.items():
            if process.poll() is not None and not role.endswith("(ended)"):
                raise FederatedError(f"{role} exited with status {process.returncode} before the run finished; "
                                     f"its log ends:\n{log_tail(self.logs[role])}")

    def end(self, role: str) -> None:
        """End one role's whole process tree now (a clinic going offline)."""
        process = self.started.pop(role)
        _kill_tree(process, signal.SIGKILL)
        process.wait()
        self.started[f"{role} (ended)"] = process

    def stop(self, timeout_s: float = 10.0) -> None:
        for process in self.started.values():
            _kill_tree(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.started.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_tree(process, signal.SIGKILL)
                process.wait()
        for process in self.started.values():  # superexec / app processes that outlived their parent
            _kill_tree(process, signal.SIGKILL)


def _kill_tree(process: subprocess.Popen, sig: int) -> None:
    for pid in [*_descendants(process.pid), process.pid]:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _environment() -> dict:
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
            # Flower starts flower-superexec / flwr-serverapp / flwr-clientapp by name
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def _tool(name: str) -> str:
    """A Flower command from the running interpreter's environment."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FederatedError(f"{name} not found next to {sys.executable}: install the 'federated' extra")
    return str(path)


def _wait_for_port(port: int, processes: Processes, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        processes.check()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise FederatedError(f"the SuperLink did not listen on port {port} within {timeout_s:g} s")
        time.sleep(0.2)


def _operator(args: list[str], *, home: Path, env: dict, timeout_s: float, config: str) -> str:
    """Run one ``flwr`` command as the hospital operator, with ``config`` as its Flower
    ``config.toml`` in ``home`` (one home per concurrent command: the CLI may rewrite it); its
    output, or FederatedError naming it. Output goes to a file, not a pipe, and the command runs in
    its own session, so that a command that hangs is ended at the timeout with everything it started."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(config, encoding="utf-8")
    command = [_tool("flwr"), *args]
    output = home / "operator-command.log"
    with open(output, "wb") as handle:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                                   env={**env, "FLWR_HOME": str(home)}, cwd=home, start_new_session=True)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            _kill_tree(process, signal.SIGKILL)
            process.wait()
            raise FederatedError(f"'flwr {' '.join(args[:2])}' did not finish within {timeout_s:g} s; it printed: "
                                 f"{log_tail(output)}") from exc
    printed = output.read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0 or '"success": false' in printed:
        raise FederatedError(f"'flwr {' '.join(args[:2])}' failed ({process.returncode}): {printed[-LOG_TAIL_CHARS:]}")
    return printed


def run_deployment(clinics: list[ClinicNode], *, workdir: Path, plan: DeploymentPlan) -> dict:
    """Run one federation (statistics, Newton and validation rounds under SecAgg+) across
    ``clinics`` and return the ServerApp's result (:meth:`federated.apps.RegionalFederation.result`)
    with ``wall_s`` of the whole run, start-up included."""
    from federated.apps import MAX_CLINICS  # imports Flower: only when a run starts

    if not 2 <= len(clinics) <= MAX_CLINICS:
        raise FederatedError(f"a federation needs 2 to {MAX_CLINICS} clinics, got {len(clinics)}")
    if len({clinic.name for clinic in clinics}) != len(clinics):
        raise FederatedError(f"clinic names must differ, got {[clinic.name for clinic in clinics]}")
    if plan.kill_clinic is not None and plan.kill_clinic[0] not in {clinic.name for clinic in clinics}:
        raise FederatedError(f"no clinic named {plan.kill_clinic[0]!r} to take offline; the clinics are "
                             f"{', '.join(clinic.name for clinic in clinics)}")
    if plan.newton_rounds < 1:
        raise FederatedError(f"newton rounds must be >= 1, got {plan.newton_rounds}")
    started = time.perf_counter()
    certificates = make_server_certificates(workdir / "pki")
    fleet_port, control_port = free_port(), free_port()
    env = _environment()
    processes = Processes(workdir, env)
    operator_home = workdir / "hospital-operator"
    operator_config = (f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
                       f'address = "127.0.0.1:{control_port}"\nroot-certificates = "{certificates.ca}"\n')
    result_path = workdir / "federation-result.json"
    progress_path = result_path.with_suffix(".progress")
    previous_handler = _exit_on_sigterm()
    try:
        processes.start("superlink", [
            _tool("flower-superlink"), "--ssl-ca-certfile", str(certificates.ca),
            "--ssl-certfile", str(certificates.certificate), "--ssl-keyfile", str(certificates.key),
            "--enable-supernode-auth", "--disable-runtime-dependency-installation",
            # State in memory: with a SQLite --database, ten SuperNodes pushing at once on a loaded
            # machine failed with "database is locked" and their messages were lost (Flower 1.39).
            "--fleet-api-address", f"127.0.0.1:{fleet_port}", "--host", "127.0.0.1", "--port", str(control_port)],
            home=workdir / "superlink")
        _wait_for_port(control_port, processes, plan.startup_timeout_s)
        _wait_for_port(fleet_port, processes, plan.startup_timeout_s)
        # Enrolment: the hospital registers each clinic's public key (in parallel: each `flwr` call
        # is a process start), then each clinic's SuperNode connects with its private key.
        keys = {clinic.name: make_node_keys(workdir / "pki", clinic.name) for clinic in clinics}
        with ThreadPoolExecutor(max_workers=min(8, len(clinics))) as pool:
            list(pool.map(lambda clinic: _operator(
                ["supernode", "register", str(keys[clinic.name].public), CONNECTION, "--name", clinic.name],
                home=operator_home / clinic.name, env=env, timeout_s=plan.startup_timeout_s,
                config=operator_config), clinics))
        for clinic in clinics:
            processes.start(clinic.name, [
                _tool("flower-supernode"), "--superlink", f"127.0.0.1:{fleet_port}",
                "--root-certificates", str(certificates.ca),
                "--auth-supernode-private-key", str(keys[clinic.name].private),
                "--node-config", clinic.node_config(), "--host", "127.0.0.1", "--port", str(free_port())],
                home=workdir / clinic.name)
        run_config = {"clinics": len(clinics), "newton-rounds": plan.newton_rounds,
                      "modalities": ",".join(plan.modalities),
                      "reconstruction-threshold": plan.threshold(len(clinics)),
                      "startup-timeout-s": plan.startup_timeout_s, "round-timeout-s": plan.round_timeout_s,
                      "result-path": str(result_path)}
        overrides = [item for key, value in run_config.items() for item in ("--run-config", f"{key}={_toml(value)}")]
        _operator(["run", str(APP_DIR), CONNECTION, *overrides, "--format", "json"],
                  home=operator_home, env=env, timeout_s=plan.startup_timeout_s, config=operator_config)
        _await_result(result_path, progress_path, processes, plan, started)
        result = json.loads(result_path.read_text(encoding="utf-8"))
    finally:
        processes.stop()
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    result["wall_s"] = time.perf_counter() - started
    result["transport"] = {"tls": True, "supernode_authentication": True, "secure_aggregation_protocol": "SecAgg+",
                           "reconstruction_threshold": plan.threshold(len(clinics))}
    return result


def _exit_on_sigterm():
    """Make SIGTERM (a CI timeout, a service stop) unwind this process, so that the ``finally`` that
    ends the SuperLink and SuperNodes runs: they live in sessions of their own and would outlive it.
    Returns the handler to restore (None off the main thread, where signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def unwind(signum, frame):
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, unwind)


def _toml(value) -> str:
    """A run-config value as ``flwr run --run-config`` parses it (TOML)."""
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string literal is a valid TOML basic string
    return repr(value)


def _await_result(result_path: Path, progress_path: Path, processes: Processes, plan: DeploymentPlan,
                  started: float) -> None:
    """Wait for the ServerApp's result file, failing fast when a process exits or the run overruns."""
    while not result_path.exists():
        if plan.kill_clinic is not None and plan.kill_clinic[0] in processes.started:
            clinic, at_round = plan.kill_clinic
            try:
                current = json.loads(progress_path.read_text(encoding="utf-8"))["round"]
            except (OSError, ValueError, KeyError):
                current = 0
            if current >= at_round:
                logger.info("ending clinic %s's SuperNode in round %d", clinic, current)
                processes.end(clinic)
        processes.check()
        if time.perf_counter() - started > plan.run_timeout_s:
            raise FederatedError(f"the federation did not finish within {plan.run_timeout_s:g} s; the SuperLink's "
                                 f"log ends:\n{log_tail(processes.logs['superlink'])}")
        time.sleep(0.2)
