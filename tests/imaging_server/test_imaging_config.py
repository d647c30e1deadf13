"""The CT server's settings and commands: precedence, refusals naming the key, documentation, and the renamed
sign-in settings' former names (still read, with a warning; both names differing in one source refused)."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from edge.cli import cli
from imaging_server.config import RENAMED_SETTINGS, ImagingSettings, load_settings
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
    (data_dir / "config.toml").write_text(f"sign_in_audit_retention_days = {value}\n")
    with pytest.raises(ConfigError, match="sign_in_audit_retention_days:"):
        load_settings(data_dir=data_dir)


def test_serve_with_a_bad_sign_in_audit_retention_stops_before_creating_anything(runner, data_dir, monkeypatch):
    """The start is refused in one line naming the setting (before the port or the database)."""
    monkeypatch.setenv("ILDSCREEN_IMAGING_SIGN_IN_AUDIT_RETENTION_DAYS", "0")
    result = runner.invoke(cli, ["imaging-server", "serve", "--no-watch", "--port", "1", "--data-dir", str(data_dir)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search("sign_in_audit_retention_days: .*greater than or equal to 1", result.output)
    assert not (data_dir / "imaging.db").exists()


# The sign-in settings govern both doors (programme view and reader pages) and were renamed for it (brief h111).
FORMER = {"programme_sign_in_lockout_threshold": ("sign_in_lockout_threshold", 3),
          "programme_sign_in_lockout_minutes": ("sign_in_lockout_minutes", 10.0),
          "programme_sign_in_audit_retention_days": ("sign_in_audit_retention_days", 30)}


def test_the_renamed_settings_are_the_ones_their_former_names_lead_to():
    assert RENAMED_SETTINGS == {former: current for former, (current, _value) in FORMER.items()}
    assert set(RENAMED_SETTINGS.values()) <= set(ImagingSettings.model_fields)
    assert not set(RENAMED_SETTINGS) & set(ImagingSettings.model_fields)


def _warnings(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


@pytest.mark.parametrize("source", ["file", "environment"])
def test_former_names_still_apply_with_one_warning_each_naming_the_current_name(data_dir, monkeypatch, caplog,
                                                                               source):
    spell = str if source == "file" else (lambda key: f"ILDSCREEN_IMAGING_{key.upper()}")
    if source == "file":
        (data_dir / "config.toml").write_text("".join(f"{former} = {value!r}\n" for former, (_name, value)
                                                      in FORMER.items()))
    for former, (_name, value) in FORMER.items() if source == "environment" else ():
        monkeypatch.setenv(spell(former), str(value))
    with caplog.at_level(logging.WARNING, logger="common.settings"):
        settings = load_settings(data_dir=data_dir)
    assert {name: getattr(settings, name) for name, _value in FORMER.values()} == dict(FORMER.values())
    warnings = _warnings(caplog)
    assert len(warnings) == len(FORMER)
    for former, (name, _value) in FORMER.items():
        assert sum(f"{spell(former)} is a former name: it still works, but rename it {spell(name)}" in line
                   for line in warnings) == 1, warnings


def test_the_current_names_apply_without_a_warning(data_dir, monkeypatch, caplog):
    (data_dir / "config.toml").write_text("sign_in_lockout_threshold = 3\nsign_in_audit_retention_days = 30\n")
    monkeypatch.setenv("ILDSCREEN_IMAGING_SIGN_IN_LOCKOUT_MINUTES", "10")
    with caplog.at_level(logging.WARNING, logger="common.settings"):
        settings = load_settings(data_dir=data_dir)
    assert (settings.sign_in_lockout_threshold, settings.sign_in_lockout_minutes,
            settings.sign_in_audit_retention_days) == (3, 10.0, 30)
    assert _warnings(caplog) == []


def test_both_names_in_one_source_agreeing_apply_and_differing_are_refused_naming_both(data_dir, monkeypatch):
    config = data_dir / "config.toml"
    config.write_text("programme_sign_in_lockout_threshold = 3\nsign_in_lockout_threshold = 3\n")
    assert load_settings(data_dir=data_dir).sign_in_lockout_threshold == 3
    config.write_text("programme_sign_in_lockout_threshold = 3\nsign_in_lockout_threshold = 4\n")
    with pytest.raises(ConfigError, match=re.escape(
            "sets both programme_sign_in_lockout_threshold (a former name) and sign_in_lockout_threshold, to "
            "different values: keep sign_in_lockout_threshold only")):
        load_settings(data_dir=data_dir)
    config.unlink()
    monkeypatch.setenv("ILDSCREEN_IMAGING_PROGRAMME_SIGN_IN_LOCKOUT_MINUTES", "10")
    monkeypatch.setenv("ILDSCREEN_IMAGING_SIGN_IN_LOCKOUT_MINUTES", "20")
    with pytest.raises(ConfigError, match=re.escape(
            "the environment sets both ILDSCREEN_IMAGING_PROGRAMME_SIGN_IN_LOCKOUT_MINUTES (a former name) and "
            "ILDSCREEN_IMAGING_SIGN_IN_LOCKOUT_MINUTES, to different values")):
        load_settings(data_dir=data_dir)


def test_across_sources_the_environment_beats_the_file_whichever_name_each_uses(data_dir, monkeypatch):
    (data_dir / "config.toml").write_text("programme_sign_in_lockout_threshold = 3\nsign_in_lockout_minutes = 10\n")
    monkeypatch.setenv("ILDSCREEN_IMAGING_SIGN_IN_LOCKOUT_THRESHOLD", "7")
    monkeypatch.setenv("ILDSCREEN_IMAGING_PROGRAMME_SIGN_IN_LOCKOUT_MINUTES", "20")
    settings = load_settings(data_dir=data_dir)
    assert (settings.sign_in_lockout_threshold, settings.sign_in_lockout_minutes) == (7, 20.0)


@pytest.mark.parametrize(("source", "named"), [
    ("file", "programme_sign_in_audit_retention_days (now sign_in_audit_retention_days):"),
    ("environment", "ILDSCREEN_IMAGING_PROGRAMME_SIGN_IN_AUDIT_RETENTION_DAYS (now sign_in_audit_retention_days):")])
def test_a_bad_value_under_a_former_name_is_refused_naming_the_name_given(data_dir, monkeypatch, source, named):
    if source == "file":
        (data_dir / "config.toml").write_text("programme_sign_in_audit_retention_days = 0\n")
    else:
        monkeypatch.setenv("ILDSCREEN_IMAGING_PROGRAMME_SIGN_IN_AUDIT_RETENTION_DAYS", "0")
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_settings(data_dir=data_dir)


def test_serve_with_both_names_set_differently_stops_in_one_line_before_creating_anything(runner, data_dir,
                                                                                          monkeypatch):
    monkeypatch.setenv("ILDSCREEN_IMAGING_PROGRAMME_SIGN_IN_AUDIT_RETENTION_DAYS", "30")
    monkeypatch.setenv("ILDSCREEN_IMAGING_SIGN_IN_AUDIT_RETENTION_DAYS", "60")
    result = runner.invoke(cli, ["imaging-server", "serve", "--no-watch", "--port", "1", "--data-dir", str(data_dir)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 and "ILDSCREEN_IMAGING_SIGN_IN_AUDIT_RETENTION_DAYS" in result.output
    assert not (data_dir / "imaging.db").exists()
