"""Starting a real ``ildscreen serve`` process on a free loopback port for tests."""
from __future__ import annotations

import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import requests

from support import clean_env


def ildscreen_command() -> list[str]:
    """The installed console script when present (as a clinic runs it), else ``python -m edge``."""
    script = Path(sys.executable).parent / "ildscreen"
    return [str(script)] if script.exists() else [sys.executable, "-m", "edge"]


def run_cli(data_dir, *args, input=None, timeout: float = 120) -> str:
    """Run an ``ildscreen`` command on a data folder, as an operator would; its stdout."""
    result = subprocess.run([*ildscreen_command(), *args, "--data-dir", str(data_dir)], input=input,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def add_nurse(data_dir, password: str = "nurse password 1") -> None:
    """Create the nurse ``nurse1`` with ``password`` as an operator does (the data folder is created
    first if needed, as ``db init`` does)."""
    run_cli(data_dir, "db", "init")
    run_cli(data_dir, "users", "add", "nurse1", "--role", "nurse", "--password-stdin", input=password + "\n")


def nurse_token(data_dir, password: str = "nurse password 1") -> dict:
    """Create the nurse ``nurse1`` (:func:`add_nurse`) and a bearer token for it; the request headers."""
    add_nurse(data_dir, password)
    token = run_cli(data_dir, "users", "token", "nurse1", "--name", "test client").strip()
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedProcess:
    """One ``ildscreen serve`` child process; output is collected line by line."""

    def __init__(self, data_dir: Path, *, python_flags: tuple[str, ...] = (), env: dict | None = None,
                 memory_limit_bytes: int | None = None):
        """``memory_limit_bytes`` caps the child's address space (RLIMIT_AS), so a request that
        would eat the machine's memory fails inside the child (MemoryError) instead."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(data_dir)
        command = ildscreen_command()
        if python_flags:
            command = [sys.executable, *python_flags, "-m", "edge"]
        environment = clean_env(**{**(env or {}), "PYTHONUNBUFFERED": "1"})
        self.process = subprocess.Popen(
            [*command, "serve", "--port", str(self.port), "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
            preexec_fn=(lambda: _limit_memory(memory_limit_bytes)) if memory_limit_bytes else None,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()
        self._wait_until_healthy()

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def _wait_until_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ildscreen serve exited early:\n{self.output}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                # The port is bound before the app is built (common.serving.bind_listener): on a
                # busy machine a request waits in the listen queue past its 1 s read timeout.
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"ildscreen serve did not become healthy:\n{self.output}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._reader.join(timeout=5)


def _limit_memory(limit_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def first_admin_password(output: str) -> str:
    lines = output.splitlines()
    index = next(i for i, line in enumerate(lines) if "one-time password" in line)
    return next(line.strip() for line in lines[index + 1:] if line.strip())


def serving_nurse(data_dir, password: str) -> Iterator[ServedProcess]:
    """A served clinic whose one account is the nurse ``nurse1`` (:func:`add_nurse`), stopped after
    use: ``yield from`` it in a fixture."""
    add_nurse(data_dir, password)
    process = ServedProcess(data_dir)
    try:
        yield process
    finally:
        process.stop()
