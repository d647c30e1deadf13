"""The tablet UI's translations: every key in both languages, every vocabulary term covered,
and the advice shown to nurses matches the triage module's steps."""
import re
from pathlib import Path

import pytest

from edge.fusion.triage import ADVICE, SCREENING_LINES, TIER_ORDER
from edge.vocabulary import CHEST_SITES, SYMPTOMS
from edge.web.i18n import (CATALOG, LANGUAGES, QUALITY_ISSUE_TO_DO, QUALITY_ISSUES, UNKNOWN_QUALITY_ISSUE, join_sentences,
                           quality_issue, translate)
from edge.web.views import LAB_FORM_ANALYTES

TEMPLATES = Path(__file__).resolve().parents[2] / "edge" / "templates"


def test_every_entry_has_every_language():
    for key, entry in CATALOG.items():
        assert set(entry) == set(LANGUAGES), key


def test_every_site_symptom_and_tier_is_translated():
    for site in CHEST_SITES:
        assert f"site_{site}" in CATALOG
    for symptom in SYMPTOMS:
        assert f"symptom_{symptom}" in CATALOG
    for analyte in LAB_FORM_ANALYTES:
        assert f"analyte_{analyte['key']}" in CATALOG
    for tier in TIER_ORDER:
        assert f"tier_{tier}" in CATALOG
    for line in SCREENING_LINES:
        assert f"guideline_{line.code}" in CATALOG and CATALOG[f"guideline_{line.code}"]["en"] == line.text


@pytest.mark.parametrize("advice", list(ADVICE))
def test_english_advice_is_the_triage_modules_advice(advice):
    assert CATALOG[f"advice_steps_{advice}"]["en"].split("|") == ADVICE[advice]["next_steps"]
    assert len(CATALOG[f"advice_steps_{advice}"]["zh-CN"].split("|")) == len(ADVICE[advice]["next_steps"])


def test_templates_use_only_known_keys():
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_]+)'\)", template.read_text(encoding="utf-8")))
    assert used and used <= set(CATALOG), used - set(CATALOG)


def _codes_in(module_path: str, pattern: str) -> set[str]:
    source = (Path(__file__).resolve().parents[2] / module_path).read_text(encoding="utf-8")
    return set(re.findall(pattern, source))


def test_every_quality_issue_code_has_an_instruction_in_every_other_language():
    audio = _codes_in("audio_models/quality.py", r'f?"([a-z_]+): ') | _codes_in("audio_models/scoring.py",
                                                                                r'POOR_SIGNAL = "([a-z_]+)"')
    assert "poor_signal" in audio  # the crackle model's learned quality head
    breath = _codes_in("tabular_models/breath_signal.py", r'"code": "([a-z_]+)"')
    assert {"too_short", "silent", "clipped", "handling_noise", "speech", "unreadable"} <= audio
    assert {"missing_phase", "saturated", "no_breath"} <= breath
    expected = {f"audio:{code}" for code in audio} | {f"breath:{code}" for code in breath}
    assert expected <= set(QUALITY_ISSUES), expected - set(QUALITY_ISSUES)
    for entry in QUALITY_ISSUES.values():
        assert set(entry) == set(LANGUAGES)


def test_every_quality_issue_says_what_happened_then_what_to_do_so_a_closed_visit_says_only_the_first():
    """quality_issue(advise=False) keeps what comes before QUALITY_ISSUE_TO_DO (a closed visit's take is a record):
    each entry must have it once, or the closed page would drop the fact or keep an instruction."""
    for entry in [*QUALITY_ISSUES.values(), *UNKNOWN_QUALITY_ISSUE.values()]:
        for lang in LANGUAGES:
            assert entry[lang].count(QUALITY_ISSUE_TO_DO[lang]) == 1, (lang, entry[lang])
    assert quality_issue("silent: rms -80 dB", "audio", "en", advise=False) == "No sound was recorded."
    assert quality_issue({"code": "no_breath"}, "breath", "zh-CN", advise=False) == "未检测到呼气。"
    assert quality_issue("new_code: x", "audio", "en", advise=False) == "The recording could not be used."


def test_every_quality_issue_is_a_whole_sentence_in_both_languages():
    """The tablet shows each issue as it stands (a take's reason, a reading's list joined by join_sentences): both
    languages, each ending as a sentence in its own punctuation, and both with what to do after what happened or
    neither (the Chinese once lacked the full stop, and "silent" lacked "record again")."""
    for key, entry in [*QUALITY_ISSUES.items(), *UNKNOWN_QUALITY_ISSUE.items()]:
        assert set(entry) == set(LANGUAGES), key
        assert entry["en"].endswith("."), key
        assert entry["zh-CN"].endswith("。") and not re.search(r"[.,:;!?()]", entry["zh-CN"]), key
        says_again = ("again" in entry["en"], "重新" in entry["zh-CN"])
        assert says_again[0] == says_again[1], (key, entry)


def test_a_poor_recording_is_explained_in_the_pages_language(client, nurse):
    import io

    from support import PATIENT, wav_bytes

    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json
    stored = client.post(f"/api/v1/visits/{visit['id']}/recordings", headers=nurse, content_type="multipart/form-data",
                         data={"chest_site": "posterior_left_base", "file": (io.BytesIO(wav_bytes(2.0)), "short.wav")})
    assert stored.status_code == 201 and stored.json["quality"]["issues"][0].startswith("too_short:")
    client.set_cookie("lang", "zh-CN")
    chinese = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert QUALITY_ISSUES["audio:too_short"]["zh-CN"] in chinese and "too_short:" not in chinese
    client.set_cookie("lang", "en")
    english = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    # Plain words and what to do, never the gate's internal code (issue 27).
    assert QUALITY_ISSUES["audio:too_short"]["en"] in english and "too_short:" not in english


def test_every_autoantibody_has_a_chinese_label():
    """Issue 27: antibody labels stayed English on zh-CN pages."""
    from edge.vocabulary import AUTOANTIBODIES

    for code in AUTOANTIBODIES:
        assert CATALOG[f"antibody_{code}"]["en"] == code and "anti" not in CATALOG[f"antibody_{code}"]["zh-CN"]


def test_the_api_explains_a_refusal_in_plain_words_in_the_callers_language(client, nurse):
    """Issue 27: the API answered a refusal with the gate's internal code only."""
    import io

    from support import PATIENT, wav_bytes

    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json
    stored = client.post(f"/api/v1/visits/{visit['id']}/recordings", headers={**nurse, "Accept-Language": "zh-CN"},
                         content_type="multipart/form-data",
                         data={"chest_site": "posterior_left_base", "file": (io.BytesIO(wav_bytes(2.0)), "short.wav")})
    assert stored.json["quality"]["issues"][0].startswith("too_short:")  # the gate's own words stay
    advice = stored.json["quality_advice"]
    assert advice[0] == QUALITY_ISSUES["audio:too_short"]["zh-CN"] and len(advice) == len(stored.json["quality"]["issues"])
    listed = client.get(f"/api/v1/visits/{visit['id']}/recordings", headers=nurse).json["recordings"]
    assert listed[0]["quality_advice"][0] == QUALITY_ISSUES["audio:too_short"]["en"]


def test_the_visit_page_asks_for_the_diaphragm_in_the_pages_language(client, nurse):
    """Through the bell filter the crackle detector found 1 of 9 adults with crackles over all 37 KAUH
    adults, 22 of whom chose the threshold (0 of 3 on the 15 test adults alone: docs/evidence.md, model
    0.6.0); the recording step asks for the diaphragm, in both languages."""
    from markupsafe import escape

    from support import PATIENT

    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json
    for language in ("en", "zh-CN"):
        client.set_cookie("lang", language)
        page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
        hint = page.split('id="auscultation-hint">', 1)[1].split("</p>", 1)[0]
        diaphragm, bell = CATALOG["chest_piece_diaphragm"][language], CATALOG["chest_piece_bell"][language]
        assert hint == str(escape(join_sentences([
            CATALOG["auscultation_hint"][language], translate("auscultation_hint_use", language, piece=diaphragm),
            translate("auscultation_hint_avoid", language, pieces=bell)], language)))
