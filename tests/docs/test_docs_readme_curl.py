"""The README's curl walk-through works as written against a real ``ildscreen serve``, and the
service serves its API reference as a self-contained HTML page.

Every ```sh block between the README's ``curl-walkthrough`` markers runs, in order, in one bash
session (as a reader pasting them would); ``curl`` is wrapped so that each request's HTTP status
is recorded and compared with the ``# → NNN`` lines of the blocks.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "edge"))
from served import ServedProcess, first_admin_password  # noqa: E402

pytestmark = pytest.mark.slow

START = "<!-- curl-walkthrough:start"
END = "<!-- curl-walkthrough:end -->"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
EXPECTED = re.compile(r"^# → (\d{3})$", re.MULTILINE)
README_URL = "http://127.0.0.1:8080"
NEW_ADMIN_PASSWORD = "the clinic's own passphrase 2026"

# Records the status of every request on its own line of $STATUS_LOG and prints the body, so the
# README's pipes and redirections work unchanged.
CURL_WRAPPER = r"""
curl() {
    local out status
    out=$(command curl --max-time 60 --write-out '\n%{http_code}' "$@") || return $?
    status=${out##*$'\n'}
    printf '%s\n' "$status" >> "$STATUS_LOG"
    printf '%s' "${out%$'\n'*}"
}
"""


def walkthrough(readme: str) -> tuple[str, list[str]]:
    """The walk-through's shell blocks joined into one script, and the statuses they expect."""
    if START not in readme or END not in readme:
        raise ValueError("README has no curl-walkthrough section (markers missing)")
    section = readme.split(START, 1)[1].split(END, 1)[0]
    blocks = SH_BLOCK.findall(section)
    if not blocks:
        raise ValueError("README's curl-walkthrough section has no ```sh blocks")
    script = "\n".join(blocks)
    return script, EXPECTED.findall(script)


def test_walkthrough_extraction_refuses_a_readme_without_the_section():
    with pytest.raises(ValueError, match="markers missing"):
        walkthrough("# ildscreen\n\n```sh\ncurl -s http://127.0.0.1:8080/healthz\n```\n")
    with pytest.raises(ValueError, match="no ```sh blocks"):
        walkthrough(f"{START} -->\nno code here\n{END}\n")


def test_every_curl_request_has_its_expected_status_noted():
    script, expected = walkthrough((ROOT / "README.md").read_text(encoding="utf-8"))
    requests_made = len(re.findall(r"(?:^|\$\()curl ", script, re.MULTILINE))
    assert requests_made == len(expected) >= 12, "each curl command needs one '# → NNN' line"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    served = ServedProcess(tmp_path_factory.mktemp("readme") / "data")
    yield served
    served.stop()


def test_the_readme_walkthrough_runs_and_every_request_gets_its_status(service, tmp_path):
    script, expected = walkthrough((ROOT / "README.md").read_text(encoding="utf-8"))
    assert README_URL in script
    status_log = tmp_path / "statuses"
    # The console command of the walk-through runs on the served data folder, as on the clinic box.
    console = str(Path(sys.executable).parent / "ildscreen")
    program = "set -euo pipefail\n" + CURL_WRAPPER + script.replace(README_URL, service.url).replace(
        ".venv/bin/ildscreen", console)
    passwords = f"{first_admin_password(service.output)}\n{NEW_ADMIN_PASSWORD}\n"
    result = subprocess.run(["bash", "-c", program], input=passwords, capture_output=True, text=True, cwd=tmp_path,
                            timeout=300, env={"PATH": "/usr/bin:/bin", "STATUS_LOG": str(status_log), "HOME": str(tmp_path),
                                 "ILDSCREEN_DATA_DIR": str(service.data_dir)})
    statuses = status_log.read_text().split() if status_log.exists() else []
    assert result.returncode == 0, f"stopped after statuses {statuses}:\n{result.stdout}\n{result.stderr}"
    assert statuses == expected, result.stdout
    # What the walk-through claims happened, checked from outside: the admin's new password works.
    login = requests.post(service.url + "/api/v1/auth/login", json={"username": "admin", "password": NEW_ADMIN_PASSWORD},
                          timeout=10)
    assert login.status_code == 200


def test_the_api_reference_page_is_served_without_scripts_or_other_hosts(service):
    page = requests.get(service.url + "/api/v1/docs", timeout=10)
    document = requests.get(service.url + "/api/v1/openapi.json", timeout=10).json()
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for path in document["paths"]:
        assert f"<code>{path}</code>" in page.text, f"{path} missing from /api/v1/docs"
    assert "PatientCreate" in page.text and "ctd_diagnosis" in page.text
    assert "<script" not in page.text.lower()
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text), "the page loads something from another host"
