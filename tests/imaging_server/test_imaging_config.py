"""The CT server's settings and commands: precedence, refusals naming the key, documentation."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.cli import cli
from imaging_server.config import ImagingSettings, load_settings
from imaging_server.errors import ConfigError

SERVER_README = Path(__file__).resolve().parents[2] / "imaging_server" / "README.md"


@pytest.fixture
def data_dir(tmp_path, no_env_settings):
    folder = tmp_path / "ct-data"
    folder.mkdir()
    return folder


def test_flags_beat_environment_beats_file(data_dir, monkeypatch):
    (data_dir / "config.toml").write_text('port = 9001\npoll_interval_s = 5\northanc_url = "http://pacs:8042"\n')
    monkeypatch.setenv("ILDSCREEN_IMAGING_PORT", "9002")
    settings = load_settings(data_dir=data_dir, poll_interval_s=2)
    assert (settings.port, settings.poll_interval_s, settings.orthanc_url) == (9002, 2, "http://pacs:8042")
    assert settings.dicomweb_url == "http://pacs:8042/dicom-web"


@pytest.mark.parametrize(
    ("text", "message"),
    [("portt = 1\n", "portt: unknown setting"), ("port = 0\n", "port:"),
     ('orthanc_url = "ftp://x"\n', "orthanc_url:"), ("port = [\n", "not valid TOML")],
)
def test_bad_config_file_is_refused_naming_the_key(data_dir, text, message):
    (data_dir / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(data_dir=data_dir)


def test_unknown_environment_variable_is_refused(data_dir, monkeypatch):
    monkeypatch.setenv("ILDSCREEN_IMAGING_POLL_INTERVAL", "3")
    with pytest.raises(ConfigError, match="ILDSCREEN_IMAGING_POLL_INTERVAL: unknown setting"):
        load_settings(data_dir=data_dir)


def test_the_pacs_password_is_never_shown(data_dir):
    settings = load_settings(data_dir=data_dir, orthanc_password="s3cret-pw")
    assert "s3cret-pw" not in repr(settings) and settings.orthanc_password.get_secret_value() == "s3cret-pw"


def test_every_setting_and_command_is_documented():
    readme = SERVER_README.read_text(encoding="utf-8")
    for name in ImagingSettings.model_fields:
        assert f"ILDSCREEN_IMAGING_{name.upper()}" in readme, f"imaging_server/README.md misses setting {name}"
    for command in ("serve", "clinics add", "clinics list", "poll-once"):
        assert f"`ildscreen imaging-server {command}" in readme
    for command in ("quantify", "bench"):
        assert f"`ildscreen ct {command}" in readme


def test_clinics_add_prints_a_token_once_and_list_shows_it(runner, data_dir):
    added = runner.invoke(cli, ["imaging-server", "clinics", "add", "clinic-north", "--data-dir", str(data_dir)])
    assert added.exit_code == 0 and added.output.startswith("ildct_")
    token = added.output.strip()
    assert token not in (data_dir / "imaging.db").read_bytes().decode("latin-1")  # only its hash is stored
    listed = runner.invoke(cli, ["imaging-server", "clinics", "list", "--data-dir", str(data_dir)])
    assert listed.exit_code == 0 and "clinic-north" in listed.output and token not in listed.output


@pytest.mark.parametrize(("name", "message"), [("Clinic North", "must be 2-64 lower-case"),
                                               ("clinic-north", "already exists")])
def test_clinics_add_errors_are_one_line(runner, data_dir, name, message):
    runner.invoke(cli, ["imaging-server", "clinics", "add", "clinic-north", "--data-dir", str(data_dir)])
    result = runner.invoke(cli, ["imaging-server", "clinics", "add", name, "--data-dir", str(data_dir)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_poll_once_with_an_unreachable_pacs_is_not_an_error(runner, data_dir):
    (data_dir / "config.toml").write_text('orthanc_url = "http://127.0.0.1:9"\npacs_timeout_s = 2\n')
    result = runner.invoke(cli, ["imaging-server", "poll-once", "--data-dir", str(data_dir)])
    assert result.exit_code == 0 and '"checked": 0' in result.output


def test_clinics_list_never_creates_a_database(runner, tmp_path):
    """Issue 26: listing clinics in the wrong folder made a new, empty hospital database there."""
    listed = runner.invoke(cli, ["imaging-server", "clinics", "list", "--data-dir", str(tmp_path / "nowhere")])
    assert listed.exit_code == 1 and "no CT server database" in listed.output and "Traceback" not in listed.output
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("value", ["0", "3651", "-5", '"a year"', "30.5"])
def test_a_bad_sign_in_audit_retention_is_refused_naming_the_setting(data_dir, value):
    (data_dir / "config.toml").write_text(f"programme_sign_in_audit_retention_days = {value}\n")
    with pytest.raises(ConfigError, match="programme_sign_in_audit_retention_days:"):
        load_settings(data_dir=data_dir)


def test_serve_with_a_bad_sign_in_audit_retention_stops_before_creating_anything(runner, data_dir, monkeypatch):
    """The start is refused in one line naming the setting (before the port or the database)."""
    monkeypatch.setenv("ILDSCREEN_IMAGING_PROGRAMME_SIGN_IN_AUDIT_RETENTION_DAYS", "0")
    result = runner.invoke(cli, ["imaging-server", "serve", "--no-watch", "--port", "1", "--data-dir", str(data_dir)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search("programme_sign_in_audit_retention_days: .*greater than or equal to 1", result.output)
    assert not (data_dir / "imaging.db").exists()
