"""Helpers shared by the tests (imported by name: every package has its own conftest)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.child_process import PROJECT_ROOT, module_command
from edge.inference.bundle_checks import SIGNATURE_FILE, public_key_text, sign_manifest
from edge.inference.models import BUNDLED_DIR

# A model signing key made for this test run only (a publisher's key never enters the repository).
TEST_SIGNING_KEY = Ed25519PrivateKey.generate()
TEST_SIGNING_KEY_PEM = TEST_SIGNING_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption())
TEST_PUBLIC_KEY = public_key_text(TEST_SIGNING_KEY.public_key())

PASSWORD = "correct horse battery"


def login(client, username: str, password: str = PASSWORD) -> dict:
    """Log the test client in; return headers carrying the session's CSRF token."""
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.json
    return {"X-CSRF-Token": response.json["csrf_token"]}


def csrf_of(page: str) -> str:
    """The CSRF token a tablet page carries in its ``csrf-token`` meta tag."""
    import re

    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def shown_result_of(page: str) -> str:
    """The result a visit page's referral form names (``assessment_id``): a referral is sent only
    for the result the nurse saw."""
    import re

    return re.search(r'name="assessment_id" value="(\d+)"', page).group(1)


def version_shown(page: str) -> str:
    """The record version a tablet edit form carries (its hidden ``version``: the patient form's, the
    visit page's status form's): a save is checked against it, and one without it is refused."""
    import re

    return re.search(r'name="version" value="(\d+)"', page).group(1)


def post_visit_status(client, csrf: str, visit_id: int, action: str):
    """Finish or close the visit from its page, as the nurse does: with the version the page shows."""
    shown = version_shown(client.get(f"/visits/{visit_id}").get_data(as_text=True))
    return client.post(f"/visits/{visit_id}/status", data={"csrf_token": csrf, "action": action, "version": shown})


def patch_visit(client, visit_id: int, changes: dict, headers: dict = None):
    """PATCH the visit with ``changes`` against the version it has now (read first), as a client
    that read the visit before editing it does."""
    version = client.get(f"/api/v1/visits/{visit_id}", headers=headers).json["version"]
    return client.patch(f"/api/v1/visits/{visit_id}", json={**changes, "version": version}, headers=headers)


def patch_user(client, user_id: int, changes: dict, headers: dict = None):
    """PATCH the account with ``changes`` against the version it has now (read from the list first)."""
    listed = client.get("/api/v1/users", headers=headers).json["users"]
    version = next(user["version"] for user in listed if user["id"] == user_id)
    return client.patch(f"/api/v1/users/{user_id}", json={**changes, "version": version}, headers=headers)


def freshness_by_assessment(client, headers: dict, visit_id: int) -> dict[int, dict]:
    """What the API says of each assessment of the visit (``GET .../assessments``): its
    ``freshness``, by id, oldest first."""
    response = client.get(f"/api/v1/visits/{visit_id}/assessments", headers=headers)
    assert response.status_code == 200, response.json
    return {assessment["id"]: assessment["freshness"] for assessment in response.json["assessments"]}


def assert_referral_follows_freshness(client, headers: dict, visit_id: int) -> dict[int, dict]:
    """Refer naming each assessment of the visit in turn, oldest first, and check each answer
    against what the API said of it (:func:`freshness_by_assessment`, returned): 409 exactly when it
    is not current, naming the latest result and what the API named (``result_superseded`` for a
    superseded one); 201 for a current one (the latest: tried last, the visit has no referral yet)."""
    verdicts = freshness_by_assessment(client, headers, visit_id)
    for assessment_id, verdict in verdicts.items():
        answer = client.post(f"/api/v1/visits/{visit_id}/referrals", headers=headers,
                             json={"reason": "new cough", "assessment_id": assessment_id})
        if verdict["current"]:
            assert answer.status_code == 201, (assessment_id, verdict, answer.json)
            continue
        assert answer.status_code == 409, (assessment_id, verdict, answer.json)
        error = answer.json["error"]
        if verdict["superseded_by"] is not None:
            assert (error["code"], error["current_assessment_id"]) == ("result_superseded", verdict["superseded_by"])
        else:
            assert (error["code"], error["current_assessment_id"]) == ("result_out_of_date", assessment_id)
            named = ("changed", "settings_changed", "models_changed", "models_unchecked")
            assert {name: error[name] for name in named} == {name: verdict[name] for name in named}
    return verdicts


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the ``ILDSCREEN_`` settings of whoever runs the tests, plus
    ``extra``: for a child process (a served clinic or CT server, a CLI run) that must read only the
    settings a test gives it."""
    return {**{key: value for key, value in os.environ.items() if not key.startswith("ILDSCREEN_")}, **extra}


def drop_env_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove the ``ILDSCREEN_`` settings of whoever runs the tests from this process until ``monkeypatch``
    puts them back: settings loaded in the test come only from its arguments and files (as
    :func:`clean_env` does for a child process). Tests take it as the ``no_env_settings`` fixture."""
    for key in [key for key in os.environ if key.startswith("ILDSCREEN_")]:
        monkeypatch.delenv(key)


#: The real data sets beside the repository (``../shared/data``; CI always has it), or the folder
#: ``ILDSCREEN_SHARED_DATA`` names.
SHARED_DATA = Path(os.environ.get("ILDSCREEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def shared_data_or_skip(path: Path, what: str) -> Path:
    """``path`` (a file, or a folder with something in it) from :data:`SHARED_DATA`; else the
    test skips naming what is missing and where it was looked for, except in CI (``CI`` set),
    where ``../shared/data`` is always there and a missing piece must fail rather than quietly
    skip the real-data tests."""
    if path.is_file() or (path.is_dir() and any(path.iterdir())):
        return path
    message = f"{what} not found at {path} (set ILDSCREEN_SHARED_DATA to the folder holding it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


#: A real adult recording (ICBHI 2017, Littmann 3200, 4 kHz, no crackles annotated) that passes the
#: quality gate: for tests that need a recording the service accepts as a lung sound. White noise
#: (wav_bytes) is, rightly, refused by the crackle model's learned quality head.
REAL_LUNG_SOUND = SHARED_DATA / "icbhi_extra" / "104_1b1_Lr_sc_Litt3200.wav"


def lung_sound_bytes() -> bytes:
    """The bytes of :data:`REAL_LUNG_SOUND` (``../shared/data``; skips, or fails in CI, without it)."""
    return shared_data_or_skip(REAL_LUNG_SOUND, "the real ICBHI recording icbhi_extra/104_1b1_Lr_sc_Litt3200.wav").read_bytes()


def wav_bytes(seconds: float = 2.0, rate: int = 4000, channels: int = 1, subtype: str = "PCM_16") -> bytes:
    """A breath-like recording: noise that rises and falls with one breath every 4 s, so the quality
    gate's breathing rule (``audio_models.quality``, ``no_breath``) hears breathing in it."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * t / 4.0)
    signal = 0.1 * envelope[:, None] * rng.standard_normal((t.size, channels))
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def birth_year_for_age(age: int) -> int:
    """The birth year of a patient who turns ``age`` this year: a visit today reads ages ``age - 1`` and
    ``age`` (only the birth year is on record), whenever the test runs. For tests whose risk, tier,
    advice or age band depend on the patient's age, which a fixed birth year moves a year every year."""
    return dt.date.today().year - age


PATIENT = {
    "code": "CL01-0001",
    "birth_year": birth_year_for_age(74),  # born in 1952 when written (2026)
    "sex": "F",
    "ctd_diagnosis": "SSc",
    "autoantibodies": ["anti-Scl-70"],
    "smoking": "former",
    "pack_years": 10,
    "symptoms": ["exertional_dyspnoea", "dry_cough"],
    "medications": ["mycophenolate"],
}


def model_bundle(folder, **versions):
    """A copy of the bundled models in ``folder``, with the given model versions changed
    (``labs="0.2.0"``), so that it is a new bundle, signed with the test key; returns ``folder``."""
    shutil.copytree(BUNDLED_DIR, folder)
    sign_manifest(folder, TEST_SIGNING_KEY_PEM)
    edit_manifest(folder, lambda models: [models[name].update(version=v) for name, v in versions.items()])
    return folder


def bundled_crackle_stamp() -> dict:
    """The model stamp of a take the bundled crackle model scored, as a take stored before stamps kept
    their threshold (so the rule under test gives it): a take stamped by another model would be
    scored again from its audio when its visit is assessed (edge.recordings.rescore_takes_of_other_models)."""
    entry = json.loads((BUNDLED_DIR / "manifest.json").read_text(encoding="utf-8"))["models"]["auscultation"]
    return {"name": entry["name"], "version": entry["version"], "variant": "fp32", "synthetic": False}


def edit_manifest(folder, change) -> None:
    """Rewrite ``folder/manifest.json`` after ``change(models)`` edited its models in place (and
    sign it again with the test key if it was signed, so tests reach the check they aim at)."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest["models"])
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if (folder / SIGNATURE_FILE).exists():
        sign_manifest(folder, TEST_SIGNING_KEY_PEM)


def trust_test_key(data_dir) -> None:
    """Pin the test signing key in the data folder's config.toml, as a clinic pins its publisher's."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "config.toml", "a", encoding="utf-8") as config:
        config.write(f'model_signing_keys = ["{TEST_PUBLIC_KEY}"]\n')


@pytest.fixture(name="settings")
def settings_trusting_test_key(settings):
    """The shared ``settings`` fixture with the test signing key pinned, in the settings the app is made
    from and in the data folder's config.toml (which a CLI run reads): for tests that install bundles
    signed with :data:`TEST_SIGNING_KEY`. A test module takes it by importing it (it overrides
    ``settings``)."""
    trust_test_key(settings.data_dir)
    return settings.model_copy(update={"model_signing_keys": [TEST_PUBLIC_KEY]})


#: The date :func:`on_another_day` makes today: later than any run of these tests.
ANOTHER_DAY = dt.date(2031, 1, 2)


class _AnotherDate(dt.date):
    @classmethod
    def today(cls):
        return cls(ANOTHER_DAY.year, ANOTHER_DAY.month, ANOTHER_DAY.day)


class _AnotherDayTime(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return super().now(tz).replace(year=ANOTHER_DAY.year, month=ANOTHER_DAY.month, day=ANOTHER_DAY.day)

    @classmethod
    def today(cls):
        return cls.now()

    @classmethod
    def utcnow(cls):
        return cls.now(dt.timezone.utc).replace(tzinfo=None)


def on_another_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make today :data:`ANOTHER_DAY` for the rest of the test: ``datetime.date.today`` and
    ``datetime.datetime.now``/``today``/``utcnow`` as code looks them up in the ``datetime`` module when it
    runs (a re-issue "on another day"). Files' times stay the real ones."""
    monkeypatch.setattr(dt, "date", _AnotherDate)
    monkeypatch.setattr(dt, "datetime", _AnotherDayTime)


def wait_for(check, *, timeout_s: float, what: str, every_s: float = 0.5):
    """``check()``'s first truthy value, polled every ``every_s``; fails naming ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


class ChildRecorder:
    """Stands in for ``subprocess.run`` and ``subprocess.Popen``: records each child's keyword arguments
    and starts nothing (a "started" child has already exited with status 1)."""

    def __init__(self):
        self.children: list[dict] = []

    def __call__(self, *args, **kwargs):
        self.children.append({"args": args[0] if args else kwargs.get("args"), **kwargs})
        return self

    stdout = "token"
    returncode = 1
    pid = 0

    def poll(self):
        return self.returncode


def assert_runs_this_code(child: dict, module: str) -> None:
    """The child is ``python -m MODULE`` on this interpreter, started in the project root with the root
    leading its PYTHONPATH (``common.child_process.module_command``): started anywhere else, ``-m``
    imports a same-named package from that folder first."""
    assert child["args"][:3] == [sys.executable, "-m", module], child["args"]
    assert child.get("cwd") == str(PROJECT_ROOT), child.get("cwd")
    assert child["env"]["PYTHONPATH"].split(os.pathsep)[0] == str(PROJECT_ROOT)


def packages_loaded_after(*modules: str, packages: tuple[str, ...], then: str = "") -> list[str]:
    """The modules of ``packages`` (top-level names, e.g. ``"scipy"``) that a child process holds after
    importing ``modules`` from this checkout and running the statement ``then`` (its standard output
    discarded), sorted: a fresh process, so what this test run imported does not count."""
    where = module_command(modules[0])  # this checkout's code, as a child process sees it
    listing = (f"import contextlib, io, json, sys, {', '.join(modules)}\n"
               f"with contextlib.redirect_stdout(io.StringIO()):\n    {then or 'pass'}\n"
               f"print(json.dumps(sorted(name for name in sys.modules if name.partition('.')[0] in {list(packages)!r})))")
    loaded = subprocess.run([sys.executable, "-c", listing], cwd=where["cwd"], env=where["env"],
                            capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout)


def migrations_up_to(version: int) -> tuple:
    """The edge schema's migrations up to ``version``: a database as an older release left it."""
    from edge.store.migrations import MIGRATIONS

    return tuple(m for m in MIGRATIONS if m.version <= version)


def database_at(path, version: int):
    """A new edge database migrated up to ``version`` only (open; the caller closes it)."""
    from edge.store.database import open_database
    from edge.store.migrations import apply_migrations, current_version

    db = open_database(path)
    apply_migrations(db, migrations=migrations_up_to(version))
    assert current_version(db) == version
    return db


def damage_past_the_header(path) -> bytes:
    """Overwrite every page of the database file at ``path`` but the first: it still opens and
    lists its tables (the schema is on page 1), but reading a table fails. Returns the new bytes."""
    whole = Path(path).read_bytes()
    damaged = whole[:4096] + b"\xff" * (len(whole) - 4096)
    Path(path).write_bytes(damaged)
    return damaged


def kauh_rows(kauh_dir: Path, patients) -> list[dict]:
    """The rows of KAUH's ``recordings.csv`` for ``patients`` through the diaphragm and extended
    filters (the bell is a device of its own, left out)."""
    with open(kauh_dir / "recordings.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["patient"] in patients and row["filter_mode"] != "bell"]


def write_kauh_copy(kauh_dir: Path, rows: list[dict], folder: Path) -> Path:
    """A KAUH copy in ``folder`` holding only ``rows`` (their table and their audio), as
    ``ildscreen audio evaluate`` reads it."""
    (folder / "audio").mkdir(parents=True)
    with open(folder / "recordings.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        shutil.copy(kauh_dir / "audio" / row["recording"], folder / "audio" / row["recording"])
    return folder
