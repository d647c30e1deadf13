"""The deployments' TLS fronts: make-cert.sh and each nginx.conf, run for real on loopback in front
of a real ``ildscreen serve`` (clinic box) and a real ``ildscreen imaging-server serve`` (hospital);
Docker itself cannot run here, so the compose files and Dockerfiles are checked statically."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging_server"))
from served import ServedProcess, free_port  # noqa: E402
from support import clean_env  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
needs_nginx = pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (apt-get install nginx-light)")


def make_cert(folder: Path) -> Path:
    result = subprocess.run([str(DEPLOY / "jetson" / "make-cert.sh"), str(folder), "clinic-box.local"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return folder / "ildscreen.crt"


def test_make_cert_covers_localhost_and_extra_names(tmp_path):
    cert = make_cert(tmp_path)
    names = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
                           capture_output=True, text=True, check=True).stdout
    assert "DNS:localhost" in names and "IP Address:127.0.0.1" in names and "DNS:clinic-box.local" in names
    assert oct((tmp_path / "ildscreen.key").stat().st_mode & 0o777) == "0o600"


@contextlib.contextmanager
def nginx_in_front(site_file: Path, upstream: str, backend_url: str, tmp_path: Path):
    """Run the deploy ``site_file`` with Debian's nginx on loopback; yields (https_port, http_port)."""
    make_cert(tmp_path / "tls")
    https_port, http_port = free_port(), free_port()
    site = (site_file.read_text().replace(upstream, backend_url).replace("/etc/ildscreen-tls", str(tmp_path / "tls"))
            .replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
            .replace("listen 80;", f"listen 127.0.0.1:{http_port};"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{}}
http {{ access_log off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;
       fastcgi_temp_path {tmp_path}/f; uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;
{site}
}}""")
    nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=0.5).close()
                break
            except OSError:
                assert nginx.poll() is None, nginx.stderr.read()
                time.sleep(0.1)
        yield https_port, http_port
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


def assert_https_only(https_port: int, http_port: int, path: str, tmp_path: Path) -> requests.Response:
    response = requests.get(f"https://127.0.0.1:{https_port}{path}", verify=str(tmp_path / "tls" / "ildscreen.crt"),
                            timeout=10)
    redirect = requests.get(f"http://127.0.0.1:{http_port}{path}", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")
    return response


@pytest.mark.slow
@needs_nginx
def test_the_clinic_service_is_reachable_over_https_through_the_jetson_nginx_conf(tmp_path):
    server = ServedProcess(tmp_path / "data")
    try:
        with nginx_in_front(DEPLOY / "jetson" / "nginx.conf", "http://edge:8080", server.url, tmp_path) as ports:
            response = assert_https_only(*ports, "/readyz", tmp_path)
            assert response.status_code == 200 and response.json()["ready"] is True
    finally:
        server.stop()


@pytest.mark.slow
@needs_nginx
def test_the_hospital_ct_server_is_reachable_over_https_through_the_server_nginx_conf(tmp_path):
    """Issue 15: the hospital image bound 0.0.0.0 without TLS."""
    from test_ct_serve_process import CtServer, ildscreen

    env = clean_env(PYTHONPATH=os.pathsep.join(sys.path), PYTHONUNBUFFERED="1")
    token = ildscreen("imaging-server", "clinics", "add", "clinic-north", "--data-dir", str(tmp_path / "ct"),
                      env=env).stdout.strip()
    server = CtServer(tmp_path / "ct", env, "--no-watch")
    try:
        with nginx_in_front(DEPLOY / "server" / "nginx.conf", "http://ct:8090", server.url, tmp_path) as ports:
            assert assert_https_only(*ports, "/healthz", tmp_path).status_code == 200
            unknown = requests.get(f"https://127.0.0.1:{ports[0]}/api/v1/referrals/ILD-SSSSSSSSSS",
                                   headers={"Authorization": f"Bearer {token}"},
                                   verify=str(tmp_path / "tls" / "ildscreen.crt"), timeout=10)
            assert unknown.status_code == 404  # the clinic's token got through the proxy
    finally:
        server.stop()


def test_jetson_compose_runs_the_edge_with_restart_and_a_host_volume():
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed")
    compose = yaml.safe_load((DEPLOY / "jetson" / "compose.yaml").read_text())
    edge = compose["services"]["edge"]
    assert edge["restart"] == "always" and edge["runtime"] == "nvidia"
    assert any(volume.endswith(":/data") for volume in edge["volumes"])
    assert (DEPLOY.parent / edge["build"]["dockerfile"]).exists()


def test_server_compose_publishes_only_the_tls_proxy_and_runs_the_ct_server_unprivileged():
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed")
    compose = yaml.safe_load((DEPLOY / "server" / "compose.yaml").read_text())
    ct, tls = compose["services"]["ct"], compose["services"]["tls"]
    assert "ports" not in ct and ct["expose"] == ["8090"]
    assert tls["ports"] == ["443:443", "80:80"] and any(v.startswith("./nginx.conf:") for v in tls["volumes"])
    assert not ct["user"].startswith(("0", "root")) and ct["read_only"] is True
    assert (DEPLOY.parent / ct["build"]["dockerfile"]).exists()
    assert "proxy_pass http://ct:8090;" in (DEPLOY / "server" / "nginx.conf").read_text()


def test_server_image_runs_as_a_non_root_user():
    """The last USER of the hospital image is not root (issue 15: it ran as root)."""
    dockerfile = (DEPLOY / "server" / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert dockerfile.rfind("USER") < dockerfile.rfind("CMD")
