"""The command line: every command works, errors are one line, and all of it is documented."""
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest

import edge
from edge.cli import cli
from edge.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def data_dir(tmp_path, no_env_settings):
    return str(tmp_path / "data")


@pytest.fixture
def initialised(runner, data_dir):
    """A data folder made by 'db init', as every command but 'db init' and 'serve' needs."""
    assert run(runner, "db", "init", data_dir=data_dir).exit_code == 0
    return data_dir


def run(runner, *args, data_dir=None, input=None):
    extra = ["--data-dir", data_dir] if data_dir else []
    return runner.invoke(cli, [*args, *extra], input=input)


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("ildscreen, version")


@pytest.mark.parametrize("module", ["edge", "edge.cli"])
def test_python_dash_m_runs_the_command_line(module):
    """`python -m edge.cli` did nothing (no entry point) while `python -m edge` and `ildscreen` worked."""
    result = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ildscreen, version {edge.__version__}"
    usage = subprocess.run([sys.executable, "-m", module, "users", "--help"], capture_output=True, text=True,
                           timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert usage.stdout.startswith("Usage: ildscreen users "), usage.stdout  # the command the README names


def test_db_init_shows_the_first_admin_password_once(runner, data_dir):
    first = run(runner, "db", "init", data_dir=data_dir)
    assert first.exit_code == 0 and "one-time password" in first.output
    again = run(runner, "db", "init", data_dir=data_dir)
    assert again.exit_code == 0 and "one-time password" not in again.output


def test_users_add_list_disable_enable(runner, initialised):
    added = run(runner, "users", "add", "wang.li", "--role", "nurse", data_dir=initialised)
    assert added.exit_code == 0 and re.search(r"one-time password: \S{16}", added.output)
    chosen = run(runner, "users", "add", "dr.chen", "--role", "clinician", "--password-stdin",
                 data_dir=initialised, input="a long enough secret\n")
    assert chosen.exit_code == 0 and "one-time password" not in chosen.output
    assert run(runner, "users", "disable", "wang.li", data_dir=initialised).exit_code == 0
    listed = json.loads(run(runner, "users", "list", "--json", data_dir=initialised).output)
    states = {row["username"]: (row["role"], row["disabled"]) for row in listed}
    assert states == {"admin": ("admin", False), "wang.li": ("nurse", True), "dr.chen": ("clinician", False)}
    assert run(runner, "users", "enable", "wang.li", data_dir=initialised).exit_code == 0
    assert "wang.li" in run(runner, "users", "list", data_dir=initialised).output


def test_users_token_prints_a_bearer_token(runner, initialised):
    run(runner, "users", "add", "importer", "--role", "nurse", data_dir=initialised)
    result = run(runner, "users", "token", "importer", "--name", "lab importer", data_dir=initialised)
    assert result.exit_code == 0 and result.output.startswith("ild_")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "add", "Bad Name", "--role", "nurse"], "must be 2-32 lower-case"),
        (["users", "disable", "ghost"], "no user named 'ghost'"),
        (["users", "token", "ghost", "--name", "x1"], "no user named 'ghost'"),
    ],
)
def test_errors_are_one_line_without_traceback(runner, initialised, args, message):
    result = run(runner, *args, data_dir=initialised)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_duplicate_user_and_weak_password_are_clear_errors(runner, initialised):
    run(runner, "users", "add", "nurse1", "--role", "nurse", data_dir=initialised)
    duplicate = run(runner, "users", "add", "nurse1", "--role", "nurse", data_dir=initialised)
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    weak = run(runner, "users", "add", "nurse2", "--role", "nurse", "--password-stdin", data_dir=initialised, input="abc\n")
    assert weak.exit_code == 1 and "at least 10 characters" in weak.output


def test_invalid_configuration_names_the_key(runner, data_dir):
    Path(data_dir).mkdir(parents=True)
    (Path(data_dir) / "config.toml").write_text("lockout_threshold = 0\n")
    result = run(runner, "db", "init", data_dir=data_dir)
    assert result.exit_code == 1 and "lockout_threshold" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args", [["screen", "--age", "60", "--sex", "F", "--ctd", "SSc"], ["engines", "build"]])
def test_screen_and_engines_build_give_a_settings_error_in_one_line(runner, data_dir, args):
    """Commands whose whole body is wrapped by ``domain_errors``: the settings' own message, one
    'Error:' line, exit status 1 (as the inline try/except they replaced gave)."""
    from edge.config import load_settings
    from edge.errors import ConfigError

    Path(data_dir).mkdir(parents=True)
    (Path(data_dir) / "config.toml").write_text("lockout_threshold = 0\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(data_dir=data_dir)
    result = run(runner, *args, data_dir=data_dir)
    assert (result.exit_code, result.output) == (1, f"Error: {refused.value.message}\n")
    assert "lockout_threshold" in result.output


def test_migrate_and_backup(runner, data_dir, tmp_path):
    missing = run(runner, "db", "migrate", data_dir=data_dir)
    assert missing.exit_code == 1 and "run 'ildscreen db init' first" in missing.output
    run(runner, "db", "init", data_dir=data_dir)
    migrated = run(runner, "db", "migrate", data_dir=data_dir)
    assert migrated.exit_code == 0 and "applied: none" in migrated.output
    target = tmp_path / "copy.db"
    backed_up = runner.invoke(cli, ["db", "backup", str(target), "--data-dir", data_dir])
    assert backed_up.exit_code == 0, backed_up.output
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT username FROM users").fetchall() == [("admin",)]
    refused = runner.invoke(cli, ["db", "backup", str(target), "--data-dir", data_dir])
    assert refused.exit_code == 1 and "already exists" in refused.output


def _command_paths(group: click.Group, prefix: str = "ildscreen"):
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from _command_paths(command, path)
        else:
            yield path


def test_users_reset_password_gives_a_one_time_password_and_ends_sessions_and_tokens(runner, initialised):
    """Issue 15: there was no way to reset a forgotten password."""
    from edge.auth import token_user, verify_login, LockoutPolicy
    from edge.errors import AuthenticationError
    from edge.store.database import open_database

    run(runner, "users", "add", "wang.li", "--role", "nurse", "--password-stdin", data_dir=initialised,
        input="a long enough secret\n")
    token = run(runner, "users", "token", "wang.li", "--name", "importer", data_dir=initialised).output.strip()
    reset = run(runner, "users", "reset-password", "wang.li", data_dir=initialised)
    assert reset.exit_code == 0, reset.output
    password = re.search(r"one-time password for wang.li: (\S+)", reset.output).group(1)
    database = open_database(Path(initialised) / "ildscreen.db")
    try:
        with pytest.raises(AuthenticationError):
            token_user(database, token)
        user = verify_login(database, "wang.li", password, LockoutPolicy(5, 15))
        assert user["must_change_password"] == 1
        entry = database.execute("SELECT username, action FROM audit_log WHERE action = 'reset_password'").fetchall()
        assert entry == [("cli", "reset_password")]
    finally:
        database.close()
    ghost = run(runner, "users", "reset-password", "ghost", data_dir=initialised)
    assert ghost.exit_code == 1 and "no user named 'ghost'" in ghost.output


@pytest.mark.parametrize("args", [
    ["users", "list"], ["users", "add", "nurse1", "--role", "nurse"], ["users", "token", "nurse1", "--name", "x1"],
    ["users", "reset-password", "admin"], ["outbox", "status"], ["models", "activate", "bundled"],
    ["models", "rollback"], ["db", "migrate"], ["db", "backup"], ["outcomes", "simulate", "--patients", "20"],
])
def test_no_command_but_db_init_and_serve_creates_a_data_folder(runner, tmp_path, no_env_settings, monkeypatch, args):
    """Issue 15: run from another folder, any command silently created ./data with an admin whose
    password was never shown. Now it fails naming the folder and the fix."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "data" in result.output and ("db init" in result.output or "no database" in result.output)
    assert list(tmp_path.iterdir()) == []


def test_readme_documents_every_command_and_setting():
    readme = README.read_text(encoding="utf-8")
    for path in _command_paths(cli):
        assert f"`{path}" in readme, f"README does not document {path}"
    for name in Settings.model_fields:
        assert f"ILDSCREEN_{name.upper()}" in readme, f"README does not document setting {name}"


@pytest.mark.parametrize("decorator", ["domain_errors", "model_errors"])
def test_the_error_decorators_make_a_library_error_one_line_and_let_a_bug_through(runner, decorator):
    """A settings or bundle error (and, for model commands, a model error) is one 'Error:' line and exit
    status 1; anything else is a bug and keeps its traceback."""
    from audio_models.errors import ModelError
    from edge.commands import models as commands
    from edge.errors import ConfigError
    from imaging_server.errors import ConfigError as ImagingConfigError

    def command_raising(error):
        @click.command()
        @getattr(commands, decorator)
        def raising() -> None:
            raise error

        return raising

    refused = runner.invoke(command_raising(ConfigError("setting port: must be 1-65535, got 0")))
    assert (refused.exit_code, refused.output) == (1, "Error: setting port: must be 1-65535, got 0\n")
    imaging = runner.invoke(command_raising(ImagingConfigError("setting port: must be 1-65535, got 0")))
    assert (imaging.exit_code, imaging.output) == (1, "Error: setting port: must be 1-65535, got 0\n")
    model = runner.invoke(command_raising(ModelError("crackle model file is missing")))
    if decorator == "model_errors":
        assert (model.exit_code, model.output) == (1, "Error: crackle model file is missing\n")
    else:
        assert isinstance(model.exception, ModelError)
    assert isinstance(runner.invoke(command_raising(KeyError("bug"))).exception, KeyError)


def test_a_missing_extra_is_one_line_naming_the_module_and_the_extra(runner):
    """``extra_needed``: a module that is not installed says which extra to install; any other import
    error is a broken install (a bug to see), not a missing extra, and keeps its traceback."""
    from edge.commands.models import extra_needed

    @click.command()
    def missing_module() -> None:
        with extra_needed("evaluation"):
            import no_such_module_h65  # noqa: F401

    @click.command()
    def missing_name() -> None:
        with extra_needed("evaluation"):
            from json import no_such_name_h65  # noqa: F401

    missing = runner.invoke(missing_module)
    assert (missing.exit_code, missing.output) == (
        1, "Error: the evaluation extra is not installed (no_such_module_h65): pip install 'ildscreen[evaluation]'\n")
    broken = runner.invoke(missing_name)
    assert type(broken.exception) is ImportError
