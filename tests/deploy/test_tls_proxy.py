"""The Jetson deployment's TLS front: make-cert.sh and nginx.conf, run for real on loopback in
front of a real ``ildscreen serve`` (Docker itself cannot run here; the compose file is only
parsed)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "jetson"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
from served import ServedProcess, free_port  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def make_cert(folder: Path) -> Path:
    result = subprocess.run([str(DEPLOY / "make-cert.sh"), str(folder), "clinic-box.local"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return folder / "ildscreen.crt"


def test_make_cert_covers_localhost_and_extra_names(tmp_path):
    cert = make_cert(tmp_path)
    names = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
                           capture_output=True, text=True, check=True).stdout
    assert "DNS:localhost" in names and "IP Address:127.0.0.1" in names and "DNS:clinic-box.local" in names
    assert oct((tmp_path / "ildscreen.key").stat().st_mode & 0o777) == "0o600"


@pytest.mark.slow
@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (apt-get install nginx-light)")
def test_the_service_is_reachable_over_https_through_the_deploy_nginx_conf(tmp_path):
    cert = make_cert(tmp_path / "tls")
    server = ServedProcess(tmp_path / "data")
    https_port, http_port = free_port(), free_port()
    site = (DEPLOY / "nginx.conf").read_text()
    site = (site.replace("http://edge:8080", server.url).replace("/etc/ildscreen-tls", str(tmp_path / "tls"))
                .replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl").replace("listen 80;", f"listen 127.0.0.1:{http_port};"))
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
        response = requests.get(f"https://127.0.0.1:{https_port}/readyz", verify=str(cert), timeout=10)
        assert response.status_code == 200 and response.json()["ready"] is True
        redirect = requests.get(f"http://127.0.0.1:{http_port}/", allow_redirects=False, timeout=10)
        assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        server.stop()


def test_compose_file_runs_the_edge_with_restart_and_a_host_volume():
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    edge = compose["services"]["edge"]
    assert edge["restart"] == "always" and edge["runtime"] == "nvidia"
    assert any(volume.endswith(":/data") for volume in edge["volumes"])
    assert (DEPLOY.parent.parent / edge["build"]["dockerfile"]).exists()
