"""A real Orthanc PACS with the DICOMweb plugin, started as a plain process on loopback for tests.

The Debian packages ``orthanc`` and ``orthanc-dicomweb`` provide it (``.ci/run`` installs them).
Tests that need it skip, saying why, when ``/usr/sbin/Orthanc`` is absent.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests


ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER, PASSWORD = "ildscreen", "orthanc test password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OrthancProcess:
    """One Orthanc process with its storage in ``folder``; HTTP basic auth with a test user."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.auth = (USER, PASSWORD)
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "ildscreen-test-pacs",
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"),
            "HttpPort": self.port,
            "HttpServerEnabled": True,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.log = (folder / "orthanc.log").open("w")
        self.process = subprocess.Popen([str(ORTHANC), str(folder / "orthanc.json")], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self.folder = folder
        self._wait_until_ready()

    def _wait_until_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited early:\n{(self.folder / 'orthanc.log').read_text()}")
            try:
                if requests.get(self.url + "/system", auth=self.auth, timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("Orthanc did not answer within 60 s")

    def upload(self, paths: list[Path]) -> None:
        """Store DICOM files as a modality would (Orthanc REST ``POST /instances``)."""
        for path in paths:
            response = requests.post(self.url + "/instances", data=path.read_bytes(), auth=self.auth, timeout=30)
            response.raise_for_status()

    def clear(self) -> None:
        """Delete every stored study, so that a test sees only what it uploads (one PACS serves the
        session, and each test runs once per database)."""
        patients = requests.get(self.url + "/patients", auth=self.auth, timeout=30)
        patients.raise_for_status()
        for patient in patients.json():
            requests.delete(f"{self.url}/patients/{patient}", auth=self.auth, timeout=30).raise_for_status()

    def stop(self) -> None:
        """Stop Orthanc and wait for its PID to exit, so that its storage folder can be reused."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    if not ORTHANC.exists() or not DICOMWEB_PLUGIN.exists():
        pytest.skip("Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)")
    pacs = OrthancProcess(tmp_path_factory.mktemp("orthanc"))
    yield pacs
    pacs.stop()
