"""Issue 26: the hospital server's OpenAPI document is its contract. Schemathesis, with every
check, finds no server error and no answer outside the document on a real ``ildscreen
imaging-server serve`` (SQLite, PACS watcher off), with each kind of token.

Bounded like the clinic's run (tests/edge/test_api_contract_served.py): a fixed seed and 5
examples per operation per phase. The reader's routes meet no reported referral here, so they
are fuzzed for authentication, validation and their 404s, not for a review's effects
(tests/imaging_server/test_nodule_review.py and test_ild_read.py cover those). Settings and each exception's reason: schemathesis.toml here.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ct_served import CtServed

CONFIG = Path(__file__).with_name("schemathesis.toml")


def schemathesis_command() -> list[str]:
    script = Path(sys.executable).parent / "st"
    return [str(script)] if script.exists() else [sys.executable, "-m", "schemathesis.cli"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = CtServed(tmp_path_factory.mktemp("ct-contract") / "data")
    tokens = {"clinic": served.cli("clinics", "add", "clinic-north"), "reader": served.cli("readers", "add", "dr-wang"),
              "viewer": served.cli("programme-viewers", "add", "region")}
    served.start()
    yield served.url, tokens, served, served.data_dir.parent
    served.stop()


@pytest.mark.parametrize(
    ("token", "selection"),
    [("clinic", ("--include-path-regex", "/referrals|/programme/figures")),
     ("reader", ("--include-path-regex", "/reader/")),
     ("viewer", ("--include-path-regex", "/programme/dashboard"))],
)
def test_schemathesis_finds_no_server_error_and_no_contract_violation(server, token, selection):
    url, tokens, served, workdir = server
    command = [*schemathesis_command(), "--config-file", str(CONFIG), "run", url + "/api/v1/openapi.json",
               "--header", f"Authorization:Bearer {tokens[token]}", "--checks", "all", "--max-examples", "5",
               "--seed", "26", "--workers", "1", "--no-color", "--generation-database", "none", *selection]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=workdir)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    output = served.output
    assert "Traceback" not in output and "unhandled" not in output, output[-3000:]
