"""The compose files validate against the Compose Specification's JSON schema (the check
``docker compose config`` makes, without a Docker engine: check-jsonschema ships the schema),
the hospital compose wires the CT server to its PostgreSQL and Orthanc with one set of
credentials, its Orthanc configuration serves DICOMweb behind the password when a real Orthanc
runs it, and the image build contexts leave data, secrets and environments out."""
from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
sys.path.insert(0, str(ROOT / "tests" / "imaging_server"))
COMPOSE_FILES = [DEPLOY / "jetson" / "compose.yaml", DEPLOY / "server" / "compose.yaml"]
VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
# What deploy/server/env.example asks the operator to fill in.
HOSPITAL_ENV = {"CT_DB_PASSWORD": "db0password0hex", "ORTHANC_PASSWORD": "pacs0password0hex"}


def validate(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           *map(str, paths)], capture_output=True, text=True, timeout=120)


def interpolate(text: str, env: dict) -> str:
    """Compose's variable substitution: ${X}, ${X:-default}, ${X-default}, ${X:?error}, ${X?error}."""
    def value(match: re.Match) -> str:
        name, operator, argument = match.groups()
        found = env.get(name)
        missing = found is None or (found == "" and operator and operator.startswith(":"))
        if operator in (":?", "?") and missing:
            raise ValueError(f"{name}: {argument}")
        if operator in (":-", "-") and missing:
            return argument
        return found or ""
    return VARIABLE.sub(value, text)


def hospital(env: dict = HOSPITAL_ENV) -> dict:
    return yaml.safe_load(interpolate((DEPLOY / "server" / "compose.yaml").read_text(encoding="utf-8"), env))


def test_every_compose_file_is_valid_against_the_compose_specification():
    result = validate(*COMPOSE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("change", "where"), [
    (lambda compose: compose["services"]["ct"]["depends_on"]["db"].update(condition="when_ready"), "when_ready"),
    (lambda compose: compose["services"]["db"].update(enviroment={"X": "1"}), "enviroment"),
])
def test_the_validator_refuses_a_broken_compose_file(tmp_path, change, where):
    compose = yaml.safe_load((DEPLOY / "server" / "compose.yaml").read_text(encoding="utf-8"))
    change(compose)
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(compose))
    result = validate(broken)
    assert result.returncode != 0 and where in result.stdout + result.stderr


def test_the_hospital_compose_needs_both_passwords_and_documents_every_variable():
    for name in HOSPITAL_ENV:
        with pytest.raises(ValueError, match=name):
            hospital({**HOSPITAL_ENV, name: ""})
    used = set(VARIABLE.findall((DEPLOY / "server" / "compose.yaml").read_text(encoding="utf-8")))
    example = (DEPLOY / "server" / "env.example").read_text(encoding="utf-8")
    assert {name for name, _, _ in used} <= set(re.findall(r"^#?\s*(\w+)=", example, flags=re.MULTILINE))


def test_the_hospital_compose_wires_the_ct_server_to_its_postgresql_and_orthanc(tmp_path, no_env_settings, monkeypatch):
    from imaging_server.config import ImagingSettings, load_settings

    compose = hospital()
    services = compose["services"]
    ct, db, pacs = services["ct"], services["db"], services["pacs"]
    for service in services.values():
        assert service["restart"] == "always"
        assert set(service.get("depends_on", [])) <= set(services)
    assert set(ct["depends_on"]) == {"db", "pacs"} and ct["depends_on"]["db"]["condition"] == "service_healthy"
    settings_env = ct["environment"]
    assert all(key.removeprefix("ILDSCREEN_IMAGING_").lower() in ImagingSettings.model_fields for key in settings_env)
    for key, value in settings_env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(data_dir=tmp_path)  # the CT server's settings accept them
    database = urlparse(settings.database_target)
    assert database.scheme == "postgresql" and database.hostname == "db" and database.port == 5432
    assert (database.username, database.password, database.path.lstrip("/")) == (
        db["environment"]["POSTGRES_USER"], db["environment"]["POSTGRES_PASSWORD"], db["environment"]["POSTGRES_DB"])
    pacs_url = urlparse(settings.orthanc_url)
    assert pacs_url.hostname == "pacs" and str(pacs_url.port) in pacs["expose"]
    orthanc = json.loads((DEPLOY / "server" / "orthanc.json").read_text(encoding="utf-8"))
    assert settings.orthanc_username in orthanc["RegisteredUsers"] and orthanc["AuthenticationEnabled"] is True
    assert settings.orthanc_password.get_secret_value() == pacs["environment"]["ORTHANC_PASSWORD"]
    assert orthanc["DicomWeb"]["Enable"] is True and orthanc["DicomWeb"]["Root"].strip("/") == \
        settings.dicomweb_root.strip("/")
    assert "./orthanc.json:/etc/orthanc/orthanc.json:ro" in pacs["volumes"]
    published = {service: spec.get("ports", []) for service, spec in services.items()}
    assert published == {"db": [], "pacs": ["4242:4242"], "ct": [], "tls": ["443:443", "80:80"]}


def test_the_hospital_orthanc_config_serves_dicomweb_behind_its_password(tmp_path, no_env_settings):
    """The compose's Orthanc configuration run by a real Orthanc (Debian's, with the DICOMweb
    plugin), and the CT server's readiness through it as the compose configures it."""
    from imaging_server.app import create_app
    from imaging_server.config import load_settings
    from orthanc_pacs import DICOMWEB_PLUGIN, ORTHANC, free_port

    if not ORTHANC.exists() or not DICOMWEB_PLUGIN.exists():
        message = "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    config = json.loads((DEPLOY / "server" / "orthanc.json").read_text(encoding="utf-8"))
    port = free_port()
    # Only where it runs changes: folders, ports and loopback; auth, users and DICOMweb are as shipped.
    config.update(StorageDirectory=str(tmp_path / "db"), IndexDirectory=str(tmp_path / "db"), HttpPort=port,
                  DicomServerEnabled=False, RemoteAccessAllowed=False)
    (tmp_path / "orthanc.json").write_text(json.dumps(config))
    password = HOSPITAL_ENV["ORTHANC_PASSWORD"]
    with (tmp_path / "orthanc.log").open("w") as log:
        pacs = subprocess.Popen([str(ORTHANC), str(tmp_path / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "ORTHANC_PASSWORD": password})
    try:
        studies = f"http://127.0.0.1:{port}/dicom-web/studies"
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(studies, auth=("ildscreen", password), timeout=2)
                break
            except requests.ConnectionError:
                assert pacs.poll() is None and time.monotonic() < deadline, (tmp_path / "orthanc.log").read_text()
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json() == []
        assert requests.get(studies, timeout=5).status_code == 401
        assert requests.get(studies, auth=("ildscreen", "${ORTHANC_PASSWORD}"), timeout=5).status_code == 401
        ct_env = hospital()["services"]["ct"]["environment"]
        settings = load_settings(data_dir=tmp_path / "ct", orthanc_url=f"http://127.0.0.1:{port}",
                                 orthanc_username=ct_env["ILDSCREEN_IMAGING_ORTHANC_USERNAME"],
                                 orthanc_password=ct_env["ILDSCREEN_IMAGING_ORTHANC_PASSWORD"])
        ready = create_app(settings, pacs_watched=True).test_client().get("/readyz")
        assert ready.status_code == 200 and ready.json["pacs"]["ok"] is True
    finally:
        pacs.terminate()
        pacs.wait(timeout=30)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's patterns (as Docker matches them, ``**`` any depth) leave ``path`` out."""
    for pattern in patterns:
        stripped = pattern.rstrip("/")
        candidates = [stripped, stripped.replace("**/", "")]
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(prefix, candidate) for prefix in prefixes for candidate in candidates) or any(
                fnmatch.fnmatch(part, stripped.replace("**/", "")) for part in parts if pattern.startswith("**/")):
            return True
    return False


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_build_context_leaves_out_data_secrets_and_environments():
    """Issue 26: without a .dockerignore, the hospital image's ``COPY . .`` took data/ with the
    clinic's site_secret, .venv and .git."""
    patterns = dockerignore()
    for path in ("data/ildscreen.db", "data/site_secret", "data/blobs/ab/abcd", "imaging-data/imaging.db",
                 ".venv/bin/python", ".git/config", "deploy/server/.env", "edge/__pycache__/cli.cpython-311.pyc"):
        assert ignored(path, patterns), f"{path} would be copied into the image"
    for path in ("pyproject.toml", "README.md", "LICENSE", "edge/cli.py", "common/serving.py",
                 "edge/bundled_models/manifest.json", "deploy/server/orthanc.json"):
        assert not ignored(path, patterns), f"{path} is needed by the image build but ignored"


def test_the_jetson_image_copies_every_package_the_build_installs():
    """Its Dockerfile copies folders one by one: a package added to pyproject.toml (common/) must
    be copied too, or the service fails to import it on the box."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = set()
    for line in (DEPLOY / "jetson" / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            copied.update(line.split()[1:-1])
    # The federated-learning extra is not part of the clinic box's serving image.
    needed = {pattern.rstrip("*") for pattern in includes} - {"federated"}
    assert needed <= copied, f"the Jetson Dockerfile does not copy {sorted(needed - copied)}"
    assert {"pyproject.toml", "README.md", *project["project"]["license-files"]} <= copied
