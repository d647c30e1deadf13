"""The hospital's programme view in Debian's Chromium against a real ``ildscreen imaging-server
serve`` holding figures of two simulated clinics (and one silent clinic): a programme viewer signs
in with their name and password (a wrong one is refused; the cookie is a session id, never the
token), sees the pooled figures, the server-drawn calibration plot and each clinic's flags, in
English and Chinese (no English word left), with axe-core and the 44 px check, and signs out; the
page asks nothing of any other host and runs no script. Screenshots: test-artifacts/e2e/<lang>/."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from e2e_support import ARTIFACTS
from tablet import page_problems
from support import clean_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging_server"))
from programme_clinics import changed, simulated_figures  # noqa: E402
from test_ct_serve_process import CtServer, ildscreen  # noqa: E402


PASSWORD = "programme lead password"
WORDS = {"en": {"title": "Screening programme", "wrong": "Wrong name or password."},
         "zh-CN": {"title": "筛查项目", "wrong": "名称或密码错误。"}}


@pytest.fixture(scope="module")
def programme_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("programme")
    env = clean_env(PYTHONPATH=os.pathsep.join(sys.path), PYTHONUNBUFFERED="1")
    data = ["--data-dir", str(root / "hospital")]
    tokens = {name: ildscreen("imaging-server", "clinics", "add", name, *data, env=env).stdout.strip()
              for name in ("clinic-east", "clinic-north", "clinic-west")}
    viewer = ildscreen("imaging-server", "programme-viewers", "add", "lead", *data, env=env).stdout.strip()
    subprocess.run([sys.executable, "-m", "edge", "imaging-server", "programme-viewers", "set-password", "lead",
                    "--password-stdin", *data], input=PASSWORD + "\n", text=True, check=True, capture_output=True,
                   env=env, timeout=60)
    server = CtServer(root / "hospital", env, "--no-watch")
    east = simulated_figures(root / "east", seed=3, n_patients=110)
    north = changed(simulated_figures(root / "north", seed=4, n_patients=120), **{"models.labs.version": "0.0.9"})
    for name, payload in (("clinic-east", east), ("clinic-north", north)):
        answer = requests.post(server.url + "/api/v1/programme/figures", json=payload,
                               headers={"Authorization": f"Bearer {tokens[name]}"}, timeout=30)
        assert answer.status_code == 201, answer.text
    yield server, viewer, (east, north)
    server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_programme_viewer_reads_the_programme_view(browser, programme_server, lang):
    server, viewer, (east, north) = programme_server
    words = WORDS[lang]
    folder = ARTIFACTS / lang
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale=lang)
    # Path / (the server's one language cookie): Playwright drops a cookie url's path after its last "/".
    context.add_cookies([{"name": "lang", "value": lang, "url": server.url}])
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    problems: list[str] = []

    def check(name: str) -> None:
        problems.extend(page_problems(page, folder / f"programme-{name}.png", lang, name))

    assert page.goto(server.url + "/programme").status == 401  # the sign-in form
    assert page.locator("#token").count() == 0  # no token pasted by a person
    check("sign-in")
    page.fill("#name", "lead")
    page.fill("#password", "not the password")
    page.click("#sign-in button[type=submit]")
    assert words["wrong"] in page.locator("#sign-in-error").inner_text()
    page.fill("#name", "lead")
    page.fill("#password", PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#overall")
    cookie = next(c for c in context.cookies() if c["name"] == "ildscreen_programme")
    assert cookie["value"] != viewer and cookie["httpOnly"]  # a session id, not the token
    assert page.locator("h1").inner_text() == words["title"]
    assert page.locator("#clinics-reporting").inner_text() == "2"
    screened = east["counts"]["screened_patients"] + north["counts"]["screened_patients"]
    assert page.locator("#overall-screened_patients").inner_text().startswith(str(screened))
    # The pooled calibration bins, drawn by the server (how many depends on the simulated outcomes:
    # 2 since main's evidence changes, 3 before; the plot being drawn is the point).
    assert page.locator("#overall svg.plot circle").count() >= 1
    assert page.locator("#clinic-clinic-north .flag[data-code=older_model]").is_visible()
    assert page.locator("#clinic-clinic-west .flag[data-code=not_reporting]").is_visible()
    assert page.locator("#clinic-clinic-east .flag[data-code=older_model]").count() == 0
    assert page.locator("script").count() == 0
    assert not re.search(r"\d{4}-\d\d-\d\dT", page.inner_text("main"))  # local times, not UTC ISO stamps
    check("view")
    assert all(url.startswith(server.url) for url in requested), requested  # nothing from another host
    page.click("#sign-out button[type=submit]")
    page.wait_for_selector("#sign-in")
    assert not problems, "\n".join(problems)
    context.close()
