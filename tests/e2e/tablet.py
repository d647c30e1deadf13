"""A nurse's tablet in the browser tests: logs every page it checks (screenshots in both
orientations, touch targets, axe-core, and in Chinese any English left on the page)."""
from __future__ import annotations

import re
import subprocess

from e2e_support import ARTIFACTS, ORIENTATIONS, PORTRAIT, VISIBLE_TEXT_JS, check_accessibility, small_targets
from served import ildscreen_command
from support import birth_year_for_age, clean_env

# Latin-script words a Chinese page may show: clinical abbreviations and codes used as such in
# Chinese clinics, unit symbols, file formats, and names of things (the brand, settings).
ALLOWED_LATIN = {
    "ildscreen", "ILD", "HRCT", "CT", "FVC", "DLCO", "PFT", "PFTs", "KL", "CRP", "ESR", "LDH", "ALT", "AST", "ALP", "WBC",
    "RBC", "Hb", "HCT", "MCV", "PLT", "RDW", "Na", "Cl", "Cr", "Glu", "Ca", "TP", "ALB", "TBIL", "CO", "SSc", "RA",
    "IIM", "SjD", "SLE", "MCTD", "MDA", "ACR", "CHEST", "QR", "WAV", "FLAC", "CSV", "JSON", "FHIR", "anti", "Scl",
    "ANA", "RF", "CCP", "Jo", "PL", "EJ", "OJ", "Ro", "SSA", "SSB", "RNP", "dsDNA", "Sm", "RNA", "III", "U1",
    "polymerase", "centromere", "titre", "high",
    "PIN",  # "PIN 码", as Chinese banks and phones say
    "ILDSCREEN_CLINIC_NAME", "ILDSCREEN_DEVICE_PORTS", "readyz",
    "Hz", "HU", "mL", "fL", "pg", "dev", "pts", "tty", "ttys", "Clinic",  # the test clinic's configured name
    # The programme view's metric abbreviations, used as such (like FVC), and a cited author.
    "ECE", "CITL", "PSI", "Siddiqi",
    "Littmann",  # a stethoscope's make: the crackle model's adults were validated through a Littmann 3200
    "KAUH",  # the lung-sound dataset's name (King Abdullah University Hospital), as its manifest and letter name it
    "ICBHI",  # the other adult lung-sound dataset's name (the crackle model's caveats name it, as KAUH)
    "AUC",  # the crackle model's caveats quote its AUC, used as such in Chinese clinical writing (like ECE)
}
UNIT_OR_CODE = re.compile(
    r"(?:\b[A-Z]{2,6}\d*-[A-Z0-9-]+\b)"  # patient, referral and board codes (CL7-ZH01, ILD-…, STETH-42)
    r"|(?:[µu]?(?:mol|mmol|umol|g|mg|kat|ukat|IU|U|L|dL|uL|µL|mm|h|s|m|fL|pg|mEq|meq)(?:/[µu]?[A-Za-z]+)+)"  # units
    r"|(?:(?<![\w/])/(?:[\w.-]+/)*[\w.-]+)"  # paths: serial ports, /readyz
    r"|(?:nurse\d+|newnurse\d*\w*|clinician\d+)")  # the test accounts' user names


def untranslated(texts: list[str]) -> list[str]:
    """Strings that still hold an English word after codes, units and allowed terms are removed."""
    found = []
    for text in texts:
        rest = UNIT_OR_CODE.sub(" ", text)
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z_]+", rest) if w not in ALLOWED_LATIN]
        if words:
            found.append(f"{text[:80]!r} -> {words}")
    return found


def page_problems(page, screenshot, lang: str, name: str) -> list[str]:
    """A desktop page of the hospital's server, checked once: a full-page screenshot to ``screenshot``,
    then what is wrong with it, each prefixed by ``name``: touch targets under 44 px, axe-core
    violations and, in Chinese, English words left."""
    page.screenshot(path=str(screenshot), full_page=True)
    problems = [f"{name}: small target {t}" for t in small_targets(page)]
    problems.extend(f"{name}: axe {v}" for v in check_accessibility(page))
    if lang == "zh-CN":
        problems.extend(f"{name}: untranslated {t}" for t in untranslated(page.evaluate(VISIBLE_TEXT_JS)))
    return problems


class Tablet:
    """One page in one language; ``check`` records what is wrong instead of stopping at the first."""

    def __init__(self, page, lang: str, name: str):
        self.page, self.lang = page, lang
        self.folder = ARTIFACTS / lang / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.problems: list[str] = []
        self.api_calls: list[str] = []
        page.on("request", lambda request: self.api_calls.append(request.url) if "/api/" in request.url else None)

    def check(self, name: str, *, orientations=("portrait", "landscape"), accessibility: bool = True) -> None:
        """Screenshots in each orientation; touch targets measured in each; axe-core once; in
        Chinese, no English word left."""
        self.count += 1
        for orientation in orientations:
            self.page.set_viewport_size(ORIENTATIONS[orientation])
            self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}-{orientation}.png"), full_page=True)
            self.problems += [f"{name} {orientation}: small target {t}" for t in small_targets(self.page)]
        self.page.set_viewport_size(ORIENTATIONS[orientations[0]])
        if accessibility:
            self.problems += [f"{name}: axe {v}" for v in check_accessibility(self.page)]
        if self.lang == "zh-CN":
            self.problems += [f"{name}: untranslated {t}" for t in untranslated(self.page.evaluate(VISIBLE_TEXT_JS))]

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def one_time_account(data_dir, username: str) -> str:
    """A fresh nurse account as the admin creates it: the one-time password it prints."""
    result = subprocess.run([*ildscreen_command(), "users", "add", username, "--role", "nurse", "--data-dir",
                             str(data_dir)], capture_output=True, text=True, check=True, env=clean_env())
    return result.stdout.split("one-time password:")[1].split()[0]


def new_page(browser, lang: str, **options):
    """A fresh browser context in portrait, the page's language chosen by cookie; (context, page)."""
    context = browser.new_context(viewport=PORTRAIT, locale=lang, device_scale_factor=1, **options)
    context.add_cookies([{"name": "lang", "value": lang, "url": "http://127.0.0.1"}])
    return context, context.new_page()


def log_in(page, url: str, username: str, password: str, *, then: str = "#logout-button") -> None:
    """Log in through the login page; ``then`` is what appears once the server has answered."""
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector(then)  # the submit waits for the server's answer first


def set_pin(page, password: str, pin: str) -> None:
    """Set the logged-in nurse's tablet PIN on her account page (with her current password)."""
    page.click("#account-link")
    page.fill("#pin_password", password)
    page.fill("#pin", pin)
    page.fill("#repeat_pin", pin)
    with page.expect_navigation():
        page.click("#pin-button")
    page.wait_for_selector("#pin-state")


def register_patient(page, url: str, code: str, *, birth_year: int = birth_year_for_age(77), sex: str = "F",
                     ctd: str = "SSc", symptoms: tuple[str, ...] = ()) -> str:
    """Register a patient on the new-patient page; returns the patient page's URL."""
    page.goto(url + "/patients/new")
    page.fill("input[name=code]", code)
    page.fill("input[name=birth_year]", str(birth_year))
    page.check(f"input[name=sex][value={sex}]")
    page.select_option("select[name=ctd_diagnosis]", ctd)
    for symptom in symptoms:
        page.check(f"input[name=symptoms][value={symptom}]")
    page.click("#patient-form button[type=submit]")
    page.wait_for_selector("#new-visit")
    return page.url
