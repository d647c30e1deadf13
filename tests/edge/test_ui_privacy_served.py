"""No patient identifier in a URL the tablet uses, in a page's title, nor in the service's log (brief
h33, the tablet's safety, point 5; titles: brief h34): a real ``ildscreen serve`` at DEBUG, a whole
visit driven through the pages as the tablet does (register, search, visit, labs typed and imported,
a take, lung function, result, referral, letter, timeline, edit), every URL requested and every
redirect collected with each page's ``<title>``, then all scanned for the patient's code and birth
year. A shared tablet keeps titles in its history, tab strip and task switcher as it keeps URLs.
Every UI asset is local (point 6)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from served import ServedProcess, run_cli
from support import birth_year_for_age, shown_result_of, version_shown, wav_bytes

# An age, not a year: a fixed birth year ages out of the form's 16-120 years (edge.schemas.BIRTH_YEAR_MIN).
CODE, BIRTH_YEAR = "CL33-PRIV7", str(birth_year_for_age(79))  # 1947 in 2026
EDGE = Path(__file__).resolve().parents[2] / "edge"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("privacy") / "data"
    run_cli(data_dir, "db", "init")
    run_cli(data_dir, "users", "add", "nurse1", "--role", "nurse", "--password-stdin", input="nurse password 1\n")
    process = ServedProcess(data_dir, env={"ILDSCREEN_LOG_LEVEL": "DEBUG"})
    yield process
    process.stop()


class Tablet:
    """A logged-in tablet over plain HTTP that remembers every URL it asked for or was sent to."""

    def __init__(self, url: str):
        self.url, self.session, self.urls, self.titles = url, requests.Session(), [], {}
        page = self.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        self.post("/login", {"csrf_token": token, "username": "nurse1", "password": "nurse password 1"})
        self.csrf = self.get("/").text.split('name="csrf-token" content="')[1].split('"')[0]

    def _seen(self, response: requests.Response) -> requests.Response:
        for hop in [*response.history, response]:
            self.urls += [hop.url, hop.headers.get("Location", "")]
        title = re.search(r"<title>(.*?)</title>", response.text, re.S)
        if title:
            self.titles[response.url] = title.group(1)
        return response

    def get(self, path: str) -> requests.Response:
        return self._seen(self.session.get(self.url + path, timeout=30))

    def post(self, path: str, data: dict, files: dict | None = None) -> requests.Response:
        data = {"csrf_token": getattr(self, "csrf", ""), **data}
        return self._seen(self.session.post(self.url + path, data=data, files=files, timeout=60))


def test_a_visit_through_the_pages_puts_no_identifier_in_a_url_or_the_log(served):
    tablet = Tablet(served.url)
    registered = tablet.post("/patients/new", {"code": CODE, "birth_year": BIRTH_YEAR, "sex": "F",
                                               "ctd_diagnosis": "SSc", "smoking": "never"})
    assert registered.status_code == 200 and CODE in registered.text, registered.text[:300]
    patient_path = "/patients/" + registered.url.rsplit("/patients/", 1)[1].split("?")[0]
    assert CODE in tablet.post("/", {"code": CODE[:6]}).text  # the search finds it, by POST
    visit = tablet.post(patient_path + "/visits", {})
    visit_path = "/visits/" + visit.url.split("/visits/", 1)[1].split("?")[0].split("#")[0]
    tablet.post(visit_path + "/labs", {"lab_crp": "4", "unit_crp": "mg/L", "lab_hgb": "abc"})  # refused, kept
    tablet.post(visit_path + "/labs", {"lab_crp": "4", "unit_crp": "mg/L"})
    # A hospital export with the patient's code and birth year in it: refused, naming what it read.
    export = f"analyte,value,unit\n{CODE},{BIRTH_YEAR},\n".encode()
    refused = tablet.post(visit_path + "/labs/file", {}, files={"file": (f"{CODE}.csv", export, "text/csv")})
    assert refused.status_code == 200 and 'id="labs-error"' in refused.text
    tablet.post(visit_path + "/recordings", {"chest_site": "posterior_left_base"},
                files={"file": (f"{CODE}-{BIRTH_YEAR}.wav", wav_bytes(seconds=8.0), "audio/wav")})
    tablet.post(visit_path + "/lung-function", {"fvc_percent": "650"})
    tablet.post(visit_path + "/lung-function", {"fvc_percent": "65", "dlco_percent": "60"})
    tablet.post(visit_path + "/assess", {})
    shown = shown_result_of(tablet.get(visit_path).text)
    tablet.post(visit_path + "/refer", {"reason": "clinical concern", "assessment_id": shown})
    page = tablet.get(visit_path)
    letter = re.search(r'href="(/referrals/\d+/letter)"', page.text).group(1)
    assert CODE in tablet.get(letter).text
    tablet.get(patient_path)
    tablet.get(f"/lang/zh-CN?next={visit_path}")
    edit = patient_path + "/edit"
    version = version_shown(tablet.get(edit).text)
    tablet.post(edit, {"birth_year": "1800", "sex": "F", "ctd_diagnosis": "SSc", "version": version})  # refused
    tablet.post(f"{edit}?visit={visit_path.rsplit('/', 1)[1]}", {"birth_year": BIRTH_YEAR, "sex": "F",
                                                                    "ctd_diagnosis": "SSc", "smoking": "never",
                                                                    "version": version})
    # The error's words come from the catalog by key: a link cannot put its own text on the page.
    assert "Call 555" not in tablet.get(visit_path + "?upload_error=Call+555-0100+now").text
    tablet.post("/lock", {"next": visit_path})

    urls = [url for url in tablet.urls if url]
    assert len(urls) > 30
    leaked = [url for url in urls if CODE.lower() in url.lower() or BIRTH_YEAR in url]
    assert not leaked, leaked
    titles = {url.split("?")[0]: title for url, title in tablet.titles.items()}
    assert {served.url + patient_path, served.url + visit_path, served.url + letter} <= set(titles), titles
    leaked = {url: title for url, title in titles.items() if CODE.lower() in title.lower() or BIRTH_YEAR in title}
    assert not leaked, leaked
    log = served.output
    assert "GET /visits/<int:visit_id>" in log  # the request log is on, by route template
    assert CODE.lower() not in log.lower() and BIRTH_YEAR not in log, [
        line for line in log.splitlines() if CODE.lower() in line.lower() or BIRTH_YEAR in line]


# An address on another host: a scheme with "//", or a protocol-relative "//host" in an attribute or url().
FOREIGN = re.compile(r"(?:[a-z][a-z0-9+.-]*:)?//[a-z0-9.-]+\.[a-z]{2,}", re.I)
ALLOWED = ("http://www.w3.org/2000/svg",)  # an XML namespace name, never fetched


def test_every_ui_asset_is_local_no_template_or_script_names_another_host():
    files = sorted([*EDGE.joinpath("templates").rglob("*.html"), *EDGE.joinpath("static").rglob("*")])
    assert any(f.suffix == ".js" for f in files) and any(f.suffix == ".html" for f in files)
    found = []
    for path in files:
        if path.is_file():
            for match in FOREIGN.finditer(path.read_text(encoding="utf-8")):
                if not any(allowed.startswith(match.group(0)) for allowed in ALLOWED):
                    found.append(f"{path.relative_to(EDGE)}: {match.group(0)}")
    assert not found, found


def test_the_pages_may_load_nothing_from_another_host(served):
    """The browser enforces it too: the policy allows this server only, for every kind of asset."""
    policy = requests.get(served.url + "/login", timeout=10).headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    for name in ("script-src", "style-src", "img-src", "media-src", "connect-src"):
        assert all(source in ("'self'", "data:", "blob:") for source in directives[name].split()), (name, directives)
