"""The one home of what the clinic service and the hospital CT server share (issue 26: edge/ and
imaging_server/ carried twin error bases, settings loaders and request logs)."""
from __future__ import annotations

import socket

import pytest

from common.errors import DomainError
from common.migrations import migration_order_problem
from common.serving import PortUnavailable, bind_listener


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


def test_each_server_reads_its_own_variables_and_refuses_unknown_ones(tmp_path, monkeypatch):
    from edge.config import load_settings as edge_settings
    from edge.errors import ConfigError as EdgeConfigError
    from imaging_server.config import load_settings as imaging_settings
    from imaging_server.errors import ConfigError as ImagingConfigError

    for key in [key for key in __import__("os").environ if key.startswith("ILDSCREEN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ILDSCREEN_IMAGING_PORT", "8191")
    assert edge_settings(data_dir=tmp_path).port == 8080  # the hospital's variable is not the clinic's
    assert imaging_settings(data_dir=tmp_path).port == 8191
    monkeypatch.setenv("ILDSCREEN_IMAGING_PROT", "1")
    with pytest.raises(ImagingConfigError, match="ILDSCREEN_IMAGING_PROT: unknown setting"):
        imaging_settings(data_dir=tmp_path)
    (tmp_path / "config.toml").write_text("port = [")
    with pytest.raises(EdgeConfigError, match="config.toml: not valid TOML"):
        edge_settings(data_dir=tmp_path)
