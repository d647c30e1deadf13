"""Issue 26: the hospital server's OpenAPI document is its contract. Schemathesis, with every
check, finds no server error and no answer outside the document on a real ``ildscreen
imaging-server serve`` (SQLite, PACS watcher off), with each kind of token.

Bounded like the clinic's run (tests/edge/test_api_contract_served.py): a fixed seed and 5
examples per operation per phase. The reader's routes meet no reported referral here, so they
are fuzzed for authentication, validation and their 404s, not for a review's effects
(tests/imaging_server/test_nodule_review.py and test_ild_read.py cover those). Settings and each exception's reason: schemathesis.toml here.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

CONFIG = Path(__file__).with_name("schemathesis.toml")


def schemathesis_command() -> list[str]:
    script = Path(sys.executable).parent / "st"
    return [str(script)] if script.exists() else [sys.executable, "-m", "schemathesis.cli"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ct-contract") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ILDSCREEN_")}
    env["PYTHONUNBUFFERED"] = "1"

    def cli(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "edge", "imaging-server", *args, "--data-dir", str(data_dir)],
                                capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip().splitlines()[-1]

    tokens = {"clinic": cli("clinics", "add", "clinic-north"), "reader": cli("readers", "add", "dr-wang"),
              "viewer": cli("programme-viewers", "add", "region")}
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "edge", "imaging-server", "serve", "--no-watch", "--port",
                                str(port), "--data-dir", str(data_dir)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("CT server did not start:\n" + "".join(lines))
        time.sleep(0.1)
    yield url, tokens, lines, data_dir.parent
    process.terminate()
    process.wait(timeout=15)


@pytest.mark.parametrize(
    ("token", "selection"),
    [("clinic", ("--include-path-regex", "/referrals|/programme/figures")),
     ("reader", ("--include-path-regex", "/reader/")),
     ("viewer", ("--include-path-regex", "/programme/dashboard"))],
)
def test_schemathesis_finds_no_server_error_and_no_contract_violation(server, token, selection):
    url, tokens, lines, workdir = server
    command = [*schemathesis_command(), "--config-file", str(CONFIG), "run", url + "/api/v1/openapi.json",
               "--header", f"Authorization:Bearer {tokens[token]}", "--checks", "all", "--max-examples", "5",
               "--seed", "26", "--workers", "1", "--no-color", "--generation-database", "none", *selection]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=workdir)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    output = "".join(lines)
    assert "Traceback" not in output and "unhandled" not in output, output[-3000:]
