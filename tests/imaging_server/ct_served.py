"""A real ``ildscreen imaging-server serve --no-watch`` (SQLite, no PACS) for tests, with the
``imaging-server`` CLI on its data folder."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import requests

from support import clean_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CtServed:
    """One serve process; ``cli(...)`` runs an ``imaging-server`` command on its data folder."""

    def __init__(self, data_dir, **env: str):
        self.data_dir = data_dir
        self.env = clean_env(**{"PYTHONUNBUFFERED": "1", **env})
        self.process = None

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """The command's last output line (a token, for ``... add``); ``stdin`` is typed into it."""
        result = subprocess.run([sys.executable, "-m", "edge", "imaging-server", *args, "--data-dir",
                                 str(self.data_dir)], capture_output=True, text=True, env=self.env, timeout=60,
                                input=stdin)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip().splitlines()[-1]

    def start(self) -> "CtServed":
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge", "imaging-server", "serve", "--no-watch", "--port", str(self.port),
             "--data-dir", str(self.data_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=self.env)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True).start()
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or slow to answer under load
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("CT server did not start:\n" + "".join(self.lines))
            time.sleep(0.1)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
