"""Load benchmark of the hospital server: many clinics at once against a real ``serve``.

``ildscreen imaging-server bench --clinics N`` registers N clinics in the database, starts
``ildscreen imaging-server serve --no-watch`` on loopback (one process, waitress with
``server_threads`` request threads, one connection pool), and drives the clinics from a pool of
worker processes, each running its share of the clinics as threads. Every clinic walks the
``TRAFFIC`` steps for each of its referrals, as the clinic's outbox and result poller do; a new
kind of clinic traffic is one more line there. Beside each referral the clinic's outbox also sends
an updated programme figures payload (the next ``sequence`` of this month's figures, then the same
one again as a retry), built by the clinic's own :func:`edge.programme.programme_figures`. At the
end every referral is read back from the database: ``lost`` counts referrals the server
acknowledged but does not hold (or holds for another clinic or bundle), ``duplicated`` the extra
creations of one Idempotency-Key and rows nobody sent; ``figures`` does the same for the figures
payloads. Beside each referral a hospital reader also reads the first page of the worklist
(``/api/v1/reader/referrals``, :mod:`imaging_server.worklist`) as it grows. ``steps`` gives each
traffic step's percentiles. The timings are this machine's; the accounting must be zero everywhere.

Use a scratch database: the bench's clinics (``bench-<run>-<n>``) and referrals stay in it.
"""
from __future__ import annotations

import collections
import multiprocessing
import os
import resource
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import requests

from common.child_process import module_command
from imaging_client.referral import build_referral_bundle, new_referral_code
from imaging_server.errors import StorageError
from imaging_server.nodule_review import add_reader
from imaging_server.referrals import canonical_sha256
from imaging_server.store import add_clinic, checked_url, dispose_engine, prepare_database, redacted, sqlite_url

# Address-space caps of the child processes, so that a runaway bench cannot take the machine.
WORKER_MEMORY_BYTES = 4 * 1024 ** 3
WORKER_THREAD_STACK_BYTES = 512 * 1024
SERVER_MEMORY_BYTES = 4 * 1024 ** 3
REQUEST_TIMEOUT_S = 60.0
SERVER_START_TIMEOUT_S = 60.0
ERROR_SAMPLES = 5
# The referral's content does not matter to the load; a fixed, pseudonymous assessment keeps the
# bundles the shape the clinic sends (imaging_client.referral), with no real patient behind them.
BENCH_ASSESSMENT = {"probability": 0.42, "contributions": {},
                    "recommendation": {"text": "load benchmark referral, not a patient"},
                    "validation": {"note": "Synthetic referral of the load benchmark.", "models": {}}}


@dataclass
class Referral:
    code: str
    bundle: dict
    sequence: int  # of the figures payload the clinic sends beside it


@dataclass
class ClinicRun:
    """One clinic's traffic and what the server answered it."""

    base_url: str
    name: str
    token: str
    reader_token: str = ""
    latencies_ms: list[float] = field(default_factory=list)
    step_latencies_ms: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    errors: list[str] = field(default_factory=list)
    created: collections.Counter = field(default_factory=collections.Counter)
    acknowledged: dict[str, str] = field(default_factory=dict)
    figures: dict = field(default_factory=dict)  # the payload template; each send sets its sequence
    figures_created: collections.Counter = field(default_factory=collections.Counter)
    figures_acknowledged: list[int] = field(default_factory=list)

    def call(self, step: str, method: str, path: str, expected: tuple[int, ...], **kwargs) -> Optional[int]:
        """One request, timed; an answer outside ``expected`` (or none) is an error of ``step``."""
        started = time.perf_counter()
        try:
            response = requests.request(method, self.base_url + path, timeout=REQUEST_TIMEOUT_S,
                                        headers={"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})},
                                        **kwargs)
        except requests.RequestException as exc:
            self.errors.append(f"{step}: {type(exc).__name__}")
            return None
        finally:
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            self.step_latencies_ms[step].append(self.latencies_ms[-1])
        if response.status_code not in expected:
            self.errors.append(f"{step}: HTTP {response.status_code}")
        return response.status_code

    def post_referral(self, step: str, referral: Referral, expected: tuple[int, ...]) -> Optional[int]:
        status = self.call(step, "POST", "/api/v1/referrals", expected, json=referral.bundle,
                           headers={"Idempotency-Key": referral.code})
        if status in (200, 201):
            self.acknowledged[referral.code] = canonical_sha256(referral.bundle)
        if status == 201:
            self.created[referral.code] += 1
        return status


def refer_twice_at_once(clinic: ClinicRun, referral: Referral) -> None:
    """The outbox delivering a referral while an earlier try is still in flight: two POSTs of one
    Idempotency-Key at once must give one 201 (created) and one 200 (the same referral)."""
    answers: list[Optional[int]] = [None, None]
    racing = threading.Thread(target=lambda: answers.__setitem__(1, clinic.post_referral("refer", referral,
                                                                                          (200, 201))))
    racing.start()
    answers[0] = clinic.post_referral("refer", referral, (200, 201))
    racing.join()
    if None not in answers and sorted(answers) != [200, 201]:
        clinic.errors.append(f"refer: answers {sorted(answers)} to one key, expected [200, 201]")


def retry_later(clinic: ClinicRun, referral: Referral) -> None:
    """A later retry of a delivered referral (the clinic never saw the answer): 200, no new row."""
    clinic.post_referral("retry", referral, (200,))


def send_figures(clinic: ClinicRun, referral: Referral) -> None:
    """The outbox sending newer programme figures (201, stored), then retrying the same payload
    because it never saw the answer (200, nothing new stored)."""
    payload = {**clinic.figures, "sequence": referral.sequence}
    for expected in (201, 200):
        status = clinic.call("figures", "POST", "/api/v1/programme/figures", (expected,), json=payload)
        if status in (200, 201) and referral.sequence not in clinic.figures_acknowledged:
            clinic.figures_acknowledged.append(referral.sequence)
        if status == 201:
            clinic.figures_created[referral.sequence] += 1


def poll_status(clinic: ClinicRun, referral: Referral) -> None:
    clinic.call("status", "GET", f"/api/v1/referrals/{referral.code}", (200,))


def poll_report(clinic: ClinicRun, referral: Referral) -> None:
    """Nothing is quantified during the bench (no PACS): the report is not ready, 409."""
    clinic.call("report", "GET", f"/api/v1/referrals/{referral.code}/report", (409,))


def read_worklist(clinic: ClinicRun, _referral: Referral) -> None:
    """A hospital reader opening the worklist (its first page) while the referrals arrive."""
    clinic.call("worklist", "GET", "/api/v1/reader/referrals", (200,),
                headers={"Authorization": f"Bearer {clinic.reader_token}"})


# The clinic traffic, in the order each referral goes through it (name, step).
TRAFFIC: tuple[tuple[str, Callable[[ClinicRun, Referral], None]], ...] = (
    ("refer", refer_twice_at_once),
    ("retry", retry_later),
    ("figures", send_figures),
    ("status", poll_status),
    ("report", poll_report),
    ("worklist", read_worklist),
)


def _bench_referrals(clinic: str, count: int) -> list[Referral]:
    """``count`` referral bundles of one clinic, built as the clinic builds them (pseudonymous)."""
    site_secret = secrets.token_bytes(32)
    referrals = []
    for number in range(count):
        code = new_referral_code()
        referrals.append(Referral(code, build_referral_bundle(
            referral_code=code, tier="high", patient_code=f"{clinic}-{number}", birth_year=1950, sex="F",
            site_secret=site_secret, assessment=BENCH_ASSESSMENT), sequence=number + 1))
    return referrals


def _drive_clinic(clinic: ClinicRun, referrals: list[Referral]) -> ClinicRun:
    for referral in referrals:
        for name, step in TRAFFIC:
            try:
                step(clinic, referral)
            except Exception as exc:  # noqa: BLE001 - whatever breaks a clinic's step is an error of the run
                clinic.errors.append(f"{name}: {type(exc).__name__}")
    return clinic


def drive_clinics(task: tuple[str, list[tuple[str, str]], int]) -> dict:
    """Worker process: build its clinics' bundles, then run the clinics at once, one thread each;
    return their merged results and the wall-clock span of the traffic."""
    base_url, clinics, count, figures, reader_token = task
    work = [(ClinicRun(base_url, name, token, reader_token=reader_token, figures=figures),
             _bench_referrals(name, count))
            for name, token in clinics]
    started = time.time()
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        runs = list(pool.map(lambda item: _drive_clinic(*item), work))
    return {
        "started": started,
        "finished": time.time(),
        "latencies_ms": [value for run in runs for value in run.latencies_ms],
        "step_latencies_ms": {name: [value for run in runs for value in run.step_latencies_ms[name]]
                              for name in {step for run in runs for step in run.step_latencies_ms}},
        "errors": [error for run in runs for error in run.errors],
        "created": {code: count for run in runs for code, count in run.created.items()},
        "acknowledged": {code: (run.name, digest) for run in runs for code, digest in run.acknowledged.items()},
        "figures_created": {f"{run.name}/{sequence}": count for run in runs
                            for sequence, count in run.figures_created.items()},
        "figures_acknowledged": [f"{run.name}/{sequence}" for run in runs for sequence in run.figures_acknowledged],
    }


def _limit_worker() -> None:
    # Small thread stacks: a worker runs two threads per clinic at once (the racing POST).
    threading.stack_size(WORKER_THREAD_STACK_BYTES)
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))


def _limit_server() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (SERVER_MEMORY_BYTES, SERVER_MEMORY_BYTES))


def _from_any_folder(database_url: str) -> str:
    """The URL with a relative SQLite path made absolute: the server starts in the project root, so it
    would open another file than the one this process prepared."""
    parsed = checked_url(database_url)
    if parsed.drivername == "sqlite" and not Path(parsed.database).is_absolute():
        return parsed.set(database=str(Path(parsed.database).resolve())).render_as_string(hide_password=False)
    return database_url


class BenchServer:
    """``ildscreen imaging-server serve --no-watch`` on a free loopback port (the database URL goes
    in the environment, so that a password never shows in the process list)."""

    def __init__(self, data_dir: Path, database_url: str, *, threads: int, pool_size: int):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("ILDSCREEN_IMAGING_")}
        env.update(ILDSCREEN_IMAGING_DATABASE_URL=_from_any_folder(database_url), ILDSCREEN_IMAGING_THREADS=str(threads),
                   ILDSCREEN_IMAGING_POOL_SIZE=str(pool_size), ILDSCREEN_IMAGING_LOG_LEVEL="WARNING")
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "serve.log"
        with self.log_path.open("w") as log:
            # The server runs the code this process imported, wherever the benchmark was started from.
            self.process = subprocess.Popen(
                **module_command("edge", "imaging-server", "serve", "--no-watch", "--host", "127.0.0.1",
                                 "--port", str(port), "--data-dir", str(data_dir.resolve()), env=env),
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_limit_server)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise StorageError("the CT server of the load benchmark did not become ready: " + " | ".join(tail))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_load_benchmark(*, clinics: int, database_url: Optional[str] = None, referrals_per_clinic: int = 3,
                       workers: int = 4, server_threads: int = 16, pool_size: int = 8) -> dict:
    """Run the load benchmark and return its figures (see the module docstring).

    Raises
    ------
    StorageError
        The database cannot be reached, or the server did not start (with the end of its log).
    """
    workers = max(1, min(workers, clinics))
    run = secrets.token_hex(3)
    with tempfile.TemporaryDirectory(prefix="ildscreen-load-bench-") as folder:
        data_dir = Path(folder) / "hospital"
        url = database_url or sqlite_url(data_dir / "imaging.db")
        db = prepare_database(url, pool_size=2)
        names = [f"bench-{run}-{number:04d}" for number in range(clinics)]
        tokens = {name: add_clinic(db, name) for name in names}
        reader_token = add_reader(db, f"bench-{run}-reader")
        server = BenchServer(data_dir, url, threads=server_threads, pool_size=pool_size)
        try:
            figures = bench_figures(Path(folder) / "clinic")
            tasks = [(server.url, [(name, tokens[name]) for name in names[index::workers]], referrals_per_clinic,
                      figures, reader_token) for index in range(workers)]
            with multiprocessing.get_context("spawn").Pool(workers, initializer=_limit_worker) as pool:
                results = pool.map(drive_clinics, tasks)
        finally:
            server.stop()
        accounting = _read_back(db, f"bench-{run}-", results)
        figures_accounting = _read_back_figures(db, f"bench-{run}-", results)
        dialect = db.dialect
        dispose_engine(url)
    # From the first clinic's first request to the last one's last answer, across the workers.
    seconds = max(result["finished"] for result in results) - min(result["started"] for result in results)
    latencies = np.array([value for result in results for value in result["latencies_ms"]])
    steps = {name: [value for result in results for value in result["step_latencies_ms"].get(name, [])]
             for name in {step for result in results for step in result["step_latencies_ms"]}}
    errors = [error for result in results for error in result["errors"]]
    return {
        "clinics": clinics,
        "referrals": accounting["referrals"],
        "requests": int(latencies.size),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "rps": round(latencies.size / seconds, 1),
        "steps": {name: _percentiles(steps[name]) for name in sorted(steps)},
        "seconds": round(seconds, 1),
        "errors": len(errors),
        "error_samples": sorted(collections.Counter(errors).items(), key=lambda item: -item[1])[:ERROR_SAMPLES],
        "lost": accounting["lost"],
        "duplicated": accounting["duplicated"],
        "figures": figures_accounting,
        "database": dialect,
        "database_url": redacted(url) if database_url else "temporary SQLite file",
        "server": {"processes": 1, "threads": server_threads, "pool_size": pool_size},
        "client_processes": workers,
        "referrals_per_clinic": referrals_per_clinic,
        "traffic": [name for name, _ in TRAFFIC],
    }


def _percentiles(latencies_ms: list[float]) -> dict:
    """A step's request count and latency percentiles."""
    values = np.array(latencies_ms)
    return {"requests": int(values.size), "p50_ms": round(float(np.percentile(values, 50)), 1),
            "p95_ms": round(float(np.percentile(values, 95)), 1)}


def bench_figures(folder: Path) -> dict:
    """The figures payload of a clinic that has screened nobody yet, built by the clinic's own code
    (no sequence: each send sets it)."""
    from edge import programme
    from edge.store.database import open_database
    from edge.store.migrations import apply_migrations

    folder.mkdir(parents=True, exist_ok=True)
    clinic_db = open_database(folder / "clinic.db")
    try:
        apply_migrations(clinic_db)
        return programme.programme_figures(clinic_db, window_months=6.0, psi_alert=0.25, min_cell=5)
    finally:
        clinic_db.close()


def _read_back_figures(db, prefix: str, results: list[dict]) -> dict:
    """The figures payloads the clinics were told were stored against the rows the database holds:
    ``lost`` acknowledged but missing, ``duplicated`` two 201s for one sequence or a row nobody sent."""
    acknowledged = {key for result in results for key in result["figures_acknowledged"]}
    created = collections.Counter()
    for result in results:
        created.update(result["figures_created"])
    stored = collections.Counter(f"{row['clinic']}/{row['sequence']}" for row in db.rows(
        "SELECT c.name AS clinic, f.sequence FROM programme_figures f JOIN clinics c ON c.id = f.clinic_id "
        "WHERE c.name LIKE :prefix", {"prefix": prefix + "%"}))
    return {"sent": len(acknowledged),
            "lost": sum(1 for key in acknowledged if key not in stored),
            "duplicated": (sum(count - 1 for count in created.values() if count > 1)
                           + sum(count - 1 for count in stored.values() if count > 1)
                           + sum(1 for key in stored if key not in acknowledged))}


def _read_back(db, prefix: str, results: list[dict]) -> dict:
    """Compare what the clinics were told with what the database holds for this run's clinics."""
    acknowledged = {code: sent for result in results for code, sent in result["acknowledged"].items()}
    created = collections.Counter()
    for result in results:
        created.update(result["created"])
    stored = db.rows("SELECT r.code, r.bundle_sha256, c.name AS clinic FROM referrals r "
                     "JOIN clinics c ON c.id = r.clinic_id WHERE c.name LIKE :prefix", {"prefix": prefix + "%"})
    rows_per_code = collections.Counter(row["code"] for row in stored)
    held = {row["code"]: (row["clinic"], row["bundle_sha256"]) for row in stored}
    lost = sum(1 for code, sent in acknowledged.items() if held.get(code) != sent)
    duplicated = (sum(count - 1 for count in created.values() if count > 1)
                  + sum(count - 1 for count in rows_per_code.values() if count > 1)
                  + sum(1 for code in rows_per_code if code not in acknowledged))
    return {"referrals": len(acknowledged), "lost": lost, "duplicated": duplicated}
