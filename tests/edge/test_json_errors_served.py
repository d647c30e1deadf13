"""Issue 26: a body over the server's own limit is the documented JSON 413, not waitress's
text/plain page (waitress answers it before the application runs)."""
import socket

import pytest
import requests

from served import ServedProcess


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    served = ServedProcess(tmp_path_factory.mktemp("wsgi") / "data", env={"ILDSCREEN_MAX_UPLOAD_MB": "1"})
    yield served
    served.stop()


def test_a_body_over_waitress_limit_is_a_json_413(service):
    # 1 MB upload limit + 1 MB of multipart slack = waitress's limit; 3 MB is over it
    response = requests.post(service.url + "/api/v1/patients", data=b"x" * (3 * 1024 * 1024),
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_malformed_request_line_is_a_json_400(service):
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):  # waitress closes the connection after an error
            chunks.append(chunk)
    answer = b"".join(chunks).decode("latin-1")
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400") and "application/json" in head
    assert '"code": "malformed_request"' in body
