"""Issue 26: the hospital server's OpenAPI document is its contract. Schemathesis, with every
check, finds no server error and no answer outside the document on a real ``ildscreen
imaging-server serve`` (SQLite, PACS watcher off), with each kind of token.

Bounded like the clinic's run (tests/edge/test_api_contract_served.py): a fixed seed and 5
examples per operation per phase. Path codes name one referral awaiting its images (no report
yet), so the reader's routes are fuzzed for authentication, validation and their 404/409s, not
for a review's effects (tests/imaging_server/test_nodule_review.py and test_ild_read.py cover
those). Settings and each exception's reason: schemathesis.toml here.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from ct_served import CtServed
from referral_bundle import REFERRAL_CODE, referral_bundle

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
    # The referral schemathesis.toml points path codes at: status and report routes get past
    # their 404 (the report is not ready: 409), and the reader's routes meet a real referral.
    created = requests.post(served.url + "/api/v1/referrals", json=referral_bundle(), timeout=30,
                            headers={"Authorization": f"Bearer {tokens['clinic']}", "Idempotency-Key": REFERRAL_CODE})
    assert created.status_code == 201, created.text
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
