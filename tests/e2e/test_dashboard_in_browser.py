"""The programme dashboard in Debian's Chromium against a real server holding a simulated site,
in both languages: a clinician logs in, sees the figures, the two server-drawn plots, the drift
table and the exports, then a patient's timeline with its outcomes; an admin reaches the
dashboard too. Screenshots under test-artifacts/e2e/<lang>/dashboard-*.png. The pages ask
nothing of any other host."""
from __future__ import annotations

import json
import subprocess

import pytest

from e2e_support import ARTIFACTS
from served import ServedProcess, ildscreen_command
from support import clean_env

PASSWORD = "clinician password 1"
TEXT = {"en": {"title": "Programme dashboard", "yield": "Referral yield (PPV)", "outcomes": "Confirmed outcomes"},
        "zh-CN": {"title": "筛查项目看板", "yield": "转诊阳性率（PPV）", "outcomes": "确认结局"}}
VIEWPORT = {"width": 1280, "height": 800}


def cli(data_dir, *args, stdin=None) -> str:
    result = subprocess.run([*ildscreen_command(), *args, "--data-dir", str(data_dir)], input=stdin, text=True,
                            capture_output=True, env=clean_env(), timeout=300, check=True)
    return result.stdout


@pytest.fixture(scope="module")
def site_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    cli(data_dir, "db", "init")  # simulate fills a folder, never creates one
    summary = json.loads(cli(data_dir, "outcomes", "simulate", "--patients", "120", "--seed", "1"))
    for name, role in (("clin1", "clinician"), ("admin9", "admin")):
        cli(data_dir, "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
    served = ServedProcess(data_dir)
    yield served, summary
    served.stop()


def log_in(page, url, username, next_path):
    page.goto(f"{url}/login?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(url + next_path)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_clinician_reads_the_programme_dashboard(browser, site_server, lang):
    server, summary = site_server
    text = TEXT[lang]
    folder = ARTIFACTS / lang
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT, locale=lang, device_scale_factor=1)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    log_in(page, server.url, "clin1", "/dashboard")
    assert page.locator("h1").inner_text() == text["title"]
    assert page.locator("#referred").inner_text().strip() == str(summary["referred"])
    assert text["yield"] in page.locator("#counts").inner_text()
    assert page.locator("#risk-over-time svg polyline").count() == 1
    assert page.locator("#calibration svg circle").count() >= 3
    assert page.locator("#drift tr").count() == 4  # header + three models
    page.screenshot(path=str(folder / "dashboard-clinician.png"), full_page=True)

    exported = page.request.get(server.url + page.locator("#export-csv").get_attribute("href"))
    assert exported.status == 200 and "referral_yield" in exported.text()

    with_outcome = next(pid for pid in range(1, 121)
                        if page.request.get(f"{server.url}/api/v1/patients/{pid}/outcomes").json()["outcomes"])
    page.goto(f"{server.url}/patients/{with_outcome}")
    assert text["outcomes"] in page.locator("#timeline").inner_text()
    assert page.locator("#outcomes li").count() >= 1
    page.screenshot(path=str(folder / "dashboard-timeline.png"), full_page=True)
    foreign = [url for url in requested if not url.startswith((server.url, "data:", "blob:"))]
    assert foreign == []
    context.close()


@pytest.mark.slow
def test_an_admin_reaches_the_dashboard(browser, site_server):
    server, _ = site_server
    context = browser.new_context(viewport=VIEWPORT, locale="en", device_scale_factor=1)
    page = context.new_page()
    log_in(page, server.url, "admin9", "/dashboard")
    assert page.locator("h1").inner_text() == TEXT["en"]["title"]
    page.screenshot(path=str(ARTIFACTS / "en" / "dashboard-admin.png"), full_page=True)
    context.close()
