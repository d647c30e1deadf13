"""The OpenAPI document is the contract: schemathesis, with every check it has, finds no server
error and no response or status outside the document on a real ``ildscreen serve`` (issue 15
found 76 unique failures this way).

Bounded: a fixed seed and 5 examples per operation per phase, about a minute on two shared
cores. Settings and each exception's reason: tests/edge/schemathesis.toml.
"""
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from served import ServedProcess, nurse_token, run_cli
from support import PATIENT

CONFIG = Path(__file__).with_name("schemathesis.toml")
# The device captures are left out: with no board connected they answer their documented 503
# device_unavailable, which schemathesis counts as a server error whatever the document says.
# tests/edge/test_devices_api.py covers them. Everything else, /auth included, is fuzzed.
NOT_YET = "/recordings/capture|/breath/capture"


def schemathesis_command() -> list[str]:
    script = Path(sys.executable).parent / "st"
    return [str(script)] if script.exists() else [sys.executable, "-m", "schemathesis.cli"]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("contract") / "data"
    served = ServedProcess(data_dir)
    nurse = nurse_token(data_dir)
    run_cli(data_dir, "users", "add", "admin2", "--role", "admin", "--password-stdin", input="admin password 12\n")
    admin = {"Authorization": "Bearer " + run_cli(data_dir, "users", "token", "admin2", "--name", "contract").strip()}
    # Patient 1 with visit 1: schemathesis.toml points path ids at them.
    patient = requests.post(served.url + "/api/v1/patients", json=PATIENT, headers=nurse, timeout=30).json()
    requests.post(served.url + f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse, timeout=30)
    yield served, nurse, admin, data_dir.parent
    served.stop()


def run_schemathesis(served: ServedProcess, headers: dict, workdir: Path, *selection: str
                     ) -> subprocess.CompletedProcess:
    command = [*schemathesis_command(), "--config-file", str(CONFIG), "run", served.url + "/api/v1/openapi.json",
               "--header", f"Authorization:{headers['Authorization']}", "--checks", "all", "--max-examples", "5",
               "--seed", "15", "--workers", "1", "--no-color", "--generation-database", "none", *selection]
    # Run in a scratch folder: schemathesis leaves a cache folder where it runs.
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=workdir)


@pytest.mark.parametrize(
    ("role", "selection"),
    [("nurse", ("--exclude-path-regex", f"{NOT_YET}|/users|/audit")),
     ("admin", ("--include-path-regex", "/users|/audit|/openapi.json|/devices"))],
)
def test_schemathesis_finds_no_server_error_and_no_contract_violation(service, role, selection):
    served, nurse, admin, workdir = service
    result = run_schemathesis(served, nurse if role == "nurse" else admin, workdir, *selection)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Traceback" not in served.output and "unhandled" not in served.output, served.output[-3000:]
