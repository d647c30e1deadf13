"""The one home of what the clinic service and the hospital CT server share (issue 26: edge/ and
imaging_server/ carried twin error bases, settings loaders and request logs)."""
from __future__ import annotations

import hashlib
import logging
import re
import socket

import pytest
from flask import Flask, abort, request

from common.errors import DomainError
from common.hashing import sha256_file
from common.i18n import lookup
from common.migrations import migration_order_problem
from common.serving import PortUnavailable, bind_listener
from common.web import register_error_handlers

REQUEST_ID = re.compile(r"request id ([0-9a-f]{12})")


def test_both_servers_errors_share_one_base_and_one_json_shape():
    from edge.errors import IldscreenError, ValidationError as EdgeValidation
    from imaging_server.errors import ImagingError, ValidationError as ImagingValidation

    assert issubclass(IldscreenError, DomainError) and issubclass(ImagingError, DomainError)
    fields = [{"field": "code", "reason": "too long"}]
    assert EdgeValidation("bad", fields=fields).to_json() == ImagingValidation("bad", fields=fields).to_json() == {
        "error": {"code": "validation_error", "message": "bad", "fields": fields}}
    assert DomainError("plain").to_json() == {"error": {"code": "error", "message": "plain"}}


@pytest.mark.parametrize(("applied", "problem"), [
    ([], None),
    ([1, 2], None),
    ([1, 3], "migration 2 (b) is not applied but the database is already at version 3"),
    ([1, 2, 3, 6, 7], None),  # newer than the software: the stores refuse that with their own message
    ([1, 5, 6, 9], "the database records migration 5, which this software does not declare"),
])
def test_migrations_are_appended_never_inserted(applied, problem):
    found = migration_order_problem([(1, "a"), (2, "b"), (3, "c"), (6, "f")], applied)
    assert (found is None) if problem is None else found.startswith(problem)


def test_migrations_declared_out_of_order_are_refused():
    assert migration_order_problem([(1, "a"), (3, "c"), (2, "b")], []) == (
        "migrations are out of order: version 2 is declared after version 3")


def test_a_busy_port_is_one_message_and_a_free_one_listens():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortUnavailable, match=f"port {port} on 127.0.0.1 is already in use"):
            bind_listener("127.0.0.1", port)
    listener = bind_listener("127.0.0.1", 0)
    try:
        with socket.create_connection(listener.getsockname(), timeout=5):
            pass
    finally:
        listener.close()
    with pytest.raises(PortUnavailable, match="cannot listen on 203.0.113.9"):
        bind_listener("203.0.113.9", 8080)  # an address this machine does not have


def test_each_server_reads_its_own_variables_and_refuses_unknown_ones(tmp_path, no_env_settings, monkeypatch):
    from edge.config import load_settings as edge_settings
    from edge.errors import ConfigError as EdgeConfigError
    from imaging_server.config import load_settings as imaging_settings
    from imaging_server.errors import ConfigError as ImagingConfigError

    monkeypatch.setenv("ILDSCREEN_IMAGING_PORT", "8191")
    assert edge_settings(data_dir=tmp_path).port == 8080  # the hospital's variable is not the clinic's
    assert imaging_settings(data_dir=tmp_path).port == 8191
    monkeypatch.setenv("ILDSCREEN_IMAGING_PROT", "1")
    with pytest.raises(ImagingConfigError, match="ILDSCREEN_IMAGING_PROT: unknown setting"):
        imaging_settings(data_dir=tmp_path)
    (tmp_path / "config.toml").write_text("port = [")
    with pytest.raises(EdgeConfigError, match="config.toml: not valid TOML"):
        edge_settings(data_dir=tmp_path)


class Refused(DomainError):
    status = 409
    code = "conflict"


def _app_with_error_routes(**options) -> Flask:
    app = Flask("errors")
    app.config["MAX_CONTENT_LENGTH"] = 10
    register_error_handlers(app, logging.getLogger("errors"), domain_error=Refused, **options)

    @app.route("/domain", methods=["GET", "POST"])
    def domain():
        raise Refused("the referral is closed")

    @app.post("/upload")
    def upload():
        return app.response_class(str(len(request.get_data())))

    @app.get("/crash")
    def crash():
        code = request.args["code"]
        try:
            {}[code]
        except KeyError as exc:  # what a careless message could carry: the patient's code
            raise ValueError(f"patient {code}") from exc

    @app.get("/teapot")
    def teapot():
        abort(418, "short and stout")

    return app


def test_the_shared_handlers_answer_every_error_as_the_one_json_shape(caplog):
    client = _app_with_error_routes().test_client()
    refused = client.get("/domain")
    assert refused.status_code == 409 and refused.json == {"error": {"code": "conflict",
                                                                     "message": "the referral is closed"}}
    not_allowed = client.put("/domain")
    assert not_allowed.status_code == 405 and not_allowed.json["error"]["code"] == "method_not_allowed"
    assert set(not_allowed.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert not_allowed.headers["Content-Type"] == "application/json"
    assert client.get("/teapot").json == {"error": {"code": "i'm_a_teapot", "message": "short and stout"}}
    too_large = client.post("/upload", data=b"x" * 11)
    assert too_large.status_code == 413 and too_large.json["error"]["code"] == "request_entity_too_large"
    with caplog.at_level(logging.ERROR, logger="errors"):
        crashed = client.get("/crash?code=CL01-0042")
    assert crashed.status_code == 500 and crashed.json["error"]["code"] == "internal_error"
    request_id = REQUEST_ID.search(crashed.json["error"]["message"]).group(1)
    # The admin finds the log line from the id; the exception's text (patient data) is nowhere.
    (logged,) = [record.getMessage() for record in caplog.records]
    assert logged.startswith(f"unhandled ValueError in /crash (request id {request_id})\n")
    # The whole chain's stack and types are logged, never a message.
    assert "KeyError\n-- which led to --\n" in logged and logged.endswith("ValueError") and "in crash" in logged
    assert "CL01" not in logged + caplog.text + crashed.get_data(as_text=True)
    assert "Traceback" not in crashed.get_data(as_text=True)
    assert REQUEST_ID.search(client.get("/crash?code=CL01-0042").json["error"]["message"]).group(1) != request_id


def test_a_server_with_pages_gets_its_page_and_its_own_413():
    pages = []

    def error_page(code, detail, status):
        pages.append((code, detail, status))
        return f"page {code}", status

    app = _app_with_error_routes(too_large=lambda: Refused("over the 10 byte limit"),
                                 wants_json=lambda: request.path == "/domain",
                                 error_page=error_page)
    client = app.test_client()
    assert client.get("/domain").json["error"]["code"] == "conflict"  # JSON where JSON is wanted
    assert client.post("/upload", data=b"x" * 11).get_data(as_text=True) == "page conflict"
    assert client.get("/teapot").status_code == 418 and client.get("/crash?code=CL01-0042").status_code == 500
    assert pages == [("conflict", "over the 10 byte limit", 409), ("http_418", "short and stout", 418),
                     ("http_500", "", 500)]


def test_a_files_sha256_is_read_in_blocks_and_matches_the_whole_files(tmp_path):
    data = bytes(range(256)) * 9000  # 2.3 MB: three read blocks, the last one partial
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(path)) == sha256_file(path)


def test_a_catalogs_chinese_has_no_ascii_space_beside_full_width_punctuation_whatever_fills_it():
    """A Chinese sentence spaces a Latin value off its characters; a value ending in a full-width bracket (a
    stethoscope with its chest piece) then left "（钟型面） 的录音" (brief h119). English keeps its spaces;
    both servers' catalogs are filled here (common.i18n.lookup)."""
    catalog = {"through": {"en": "The takes through {device} do not count.", "zh-CN": "经 {device} 的录音不计入。"}}
    assert lookup(catalog, "through", "zh-CN", device="Littmann 3200（钟型面）") == "经 Littmann 3200（钟型面）的录音不计入。"
    assert lookup(catalog, "through", "zh-CN", device="Littmann 3200") == "经 Littmann 3200 的录音不计入。"
    assert lookup(catalog, "through", "zh-CN", device="（未说明）") == "经（未说明）的录音不计入。"
    assert lookup(catalog, "through", "en", device="Littmann 3200 (Bell)") == \
        "The takes through Littmann 3200 (Bell) do not count."
