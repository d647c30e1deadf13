"""The step-by-step installs of deploy/README.md, followed as far as this machine allows (no
Docker engine, no systemd): the unit file is installed where it says and read before it is
enabled, the first admin password is where the log search looks for it, and every ``ildscreen``
command shown inside a container runs, with the container's data folder setting, against a
data folder a real ``ildscreen serve`` made (issue 26: the Jetson steps omitted installing the
unit and ``daemon-reload``, where the password appears, and how to run ``users`` commands)."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
sys.path.insert(0, str(ROOT / "tests" / "edge"))
from served import ServedProcess, first_admin_password, ildscreen_command  # noqa: E402
from support import clean_env  # noqa: E402

pytestmark = pytest.mark.slow


def steps(heading: str) -> list[str]:
    """The command lines of the first code block under ``heading`` in deploy/README.md."""
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    section = text[text.index(heading):]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL).group(1)
    return [line.split(" #")[0].strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def container_commands(lines: list[str]) -> list[tuple[Path, str, list[str]]]:
    """(compose file, service, ildscreen arguments) of each ``docker compose ... exec`` line."""
    found = []
    for line in lines:
        words = shlex.split(line)
        if "exec" not in words:
            continue
        compose = ROOT / words[words.index("-f") + 1]
        service = words[words.index("exec") + 1]
        assert words[words.index("exec") + 2] == "ildscreen", line
        found.append((compose, service, words[words.index("exec") + 3:]))
    return found


def test_the_jetson_steps_install_the_unit_and_reload_systemd_before_enabling_it():
    lines = steps("### Installing the clinic box, step by step")
    unit = DEPLOY / "jetson" / "ildscreen.service"
    installed = unit.read_text(encoding="utf-8").splitlines()[0].split()[1].rstrip(":")
    copy = next(i for i, line in enumerate(lines) if line.startswith("sudo cp deploy/jetson/ildscreen.service"))
    assert lines[copy].split()[-1] == installed == "/etc/systemd/system/ildscreen.service"
    reload = lines.index("sudo systemctl daemon-reload")
    enable = lines.index("sudo systemctl enable --now ildscreen")
    assert copy < reload < enable
    exec_start = next(line for line in unit.read_text(encoding="utf-8").splitlines() if line.startswith("ExecStart="))
    # In the foreground, so that the service's output (the first password) reaches the journal.
    assert "compose -f deploy/jetson/compose.yaml up" in exec_start and " -d" not in exec_start
    assert "WorkingDirectory=/opt/ildscreen" in unit.read_text(encoding="utf-8")


def test_the_first_password_is_where_the_jetson_steps_look_and_the_container_commands_run(tmp_path):
    lines = steps("### Installing the clinic box, step by step")
    search = next(line for line in lines if line.startswith("sudo journalctl -u ildscreen"))
    pattern, after = re.search(r'grep -A (\d+) "([^"]+)"', search).group(2, 1)
    compose_file = DEPLOY / "jetson" / "compose.yaml"
    services = yaml.safe_load(compose_file.read_text(encoding="utf-8"))["services"]
    dockerfile = (DEPLOY / "jetson" / "Dockerfile").read_text(encoding="utf-8")
    assert "ILDSCREEN_DATA_DIR=/data" in dockerfile and any(v.endswith(":/data") for v in services["edge"]["volumes"])
    data_dir = tmp_path / "data"  # plays /data
    server = ServedProcess(data_dir)
    try:
        output = server.output.splitlines()
        hit = next(i for i, line in enumerate(output) if pattern in line)
        assert first_admin_password(server.output) in "\n".join(output[hit:hit + int(after) + 1])
        commands = container_commands(lines)
        assert {args[0] for _, _, args in commands} >= {"users"}
        for compose, service, args in commands:
            assert compose == compose_file and service in services
            result = subprocess.run([*ildscreen_command(), *args], capture_output=True, text=True, timeout=120,
                                    env=clean_env(ILDSCREEN_DATA_DIR=str(data_dir)))
            assert result.returncode == 0, f"{shlex.join(args)}: {result.stderr}"
    finally:
        server.stop()


def test_the_hospital_steps_run_their_ildscreen_commands_in_the_ct_container(tmp_path):
    lines = steps("### Installing the hospital server, step by step")
    compose_file = DEPLOY / "server" / "compose.yaml"
    services = yaml.safe_load(compose_file.read_text(encoding="utf-8"))["services"]
    assert any(line.startswith("cp deploy/server/env.example deploy/server/.env") for line in lines)
    assert (DEPLOY / "server" / "env.example").is_file()
    commands = container_commands(lines)
    assert commands and all(compose == compose_file and service == "ct" in services
                            for compose, service, _ in commands)
    for _, _, args in commands:  # SQLite in a folder here; the compose gives PostgreSQL's URL
        result = subprocess.run([*ildscreen_command(), *args], capture_output=True, text=True, timeout=120,
                                env=clean_env(ILDSCREEN_IMAGING_DATA_DIR=str(tmp_path / "ct")))
        assert result.returncode == 0, f"{shlex.join(args)}: {result.stderr}"
    assert "clinic-north" in result.stdout
