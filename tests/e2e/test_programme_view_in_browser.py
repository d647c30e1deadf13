"""The hospital's programme view in Debian's Chromium against a real ``ildscreen imaging-server
serve`` holding figures of two simulated clinics (and one silent clinic): a programme viewer sees
the pooled figures, the server-drawn calibration plot and each clinic's flags after signing in
with their token (a wrong one is refused), and signs out; the page asks nothing of any other host
and runs no script. Screenshot: test-artifacts/e2e/en/programme-view.png."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import requests

from e2e_support import ARTIFACTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging_server"))
from programme_clinics import changed, simulated_figures  # noqa: E402
from test_ct_serve_process import CtServer, ildscreen  # noqa: E402


@pytest.fixture(scope="module")
def programme_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("programme")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ILDSCREEN_")}
    env.update({"PYTHONPATH": os.pathsep.join(sys.path), "PYTHONUNBUFFERED": "1"})
    data = ["--data-dir", str(root / "hospital")]
    tokens = {name: ildscreen("imaging-server", "clinics", "add", name, *data, env=env).stdout.strip()
              for name in ("clinic-east", "clinic-north", "clinic-west")}
    viewer = ildscreen("imaging-server", "programme-viewers", "add", "lead", *data, env=env).stdout.strip()
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
def test_a_programme_viewer_reads_the_programme_view(browser, programme_server):
    server, viewer, (east, north) = programme_server
    folder = ARTIFACTS / "en"
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en")
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    assert page.goto(server.url + "/programme").status == 401  # the sign-in form
    page.fill("#token", "ildpg_not-a-token")
    page.click("#sign-in button[type=submit]")
    assert "unknown programme viewer token" in page.locator("#sign-in-error").inner_text()
    page.fill("#token", viewer)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#overall")
    assert page.locator("h1").inner_text() == "Screening programme"
    assert page.locator("#clinics-reporting").inner_text() == "2"
    screened = east["counts"]["screened_patients"] + north["counts"]["screened_patients"]
    assert page.locator("#overall-screened_patients").inner_text().startswith(str(screened))
    assert page.locator("#overall svg.plot circle").count() >= 3  # the pooled calibration bins, drawn by the server
    assert page.locator("#clinic-clinic-north .flag[data-code=older_model]").is_visible()
    assert page.locator("#clinic-clinic-west .flag[data-code=not_reporting]").is_visible()
    assert page.locator("#clinic-clinic-east .flag[data-code=older_model]").count() == 0
    assert page.locator("script").count() == 0
    page.screenshot(path=str(folder / "programme-view.png"), full_page=True)
    assert all(url.startswith(server.url) for url in requested), requested  # nothing from another host
    page.click("#sign-out button[type=submit]")
    page.wait_for_selector("#sign-in")
    context.close()
