"""What the tablet says about lung sounds (brief h33, the tablet's safety): a take the quality gate
refused, whatever the reason, never reads as "no crackles" on the take, the site list, the result
or the letter, and its site still needs a recording; an exam without the protocol's bases says so
plainly and a clear chest elsewhere does not lower the risk; lung sounds that no validation counts
say "measured, not yet counted" beside the finding, in both languages, and leave the risk where it
was."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import soundfile
from markupsafe import escape

from edge.web.i18n import CATALOG
from support import birth_year_for_age, bundled_crackle_stamp

LOW_RISK = {"code": "CL33-0001", "birth_year": birth_year_for_age(70), "sex": "F", "ctd_diagnosis": "SLE", "autoantibodies": [],
            "smoking": "never", "symptoms": []}
# The gate's refusals as the recordings table keeps them ("code: measured detail"): a rule, the new
# steady-hiss rule and the learned quality head. A head-refused take is still scored (0.03 here):
# that low probability is exactly what must never read as a clear chest.
REFUSALS = ["clipping: 4.1% of samples clipped (at most 1.0%)",
            "no_breath_sounds: the sound's level varies 1.2 dB over the recording (10th to 90th centile, "
            "at least 4.0 dB needed)",
            "poor_signal: the model rates the signal not assessable (score 0.91, limit 0.50)"]
BASES = ("posterior_left_base", "posterior_right_base")


def stored_take(db, visit_id: int, chest_site: str, crackle_probability, issues=()) -> int:
    """A scored take as ``add_recording`` stores it (the audio itself is not needed for the pages)."""
    stamp = bundled_crackle_stamp()
    pk = db["recordings"].insert({
        "visit_id": visit_id, "chest_site": chest_site, "source": "upload", "sha256": f"{chest_site:0>64}"[:64],
        "file_path": "x.wav", "media_type": "audio/wav", "size_bytes": 1, "sample_rate": 4000, "channels": 1,
        "duration_s": 20.0, "quality": json.dumps({"ok": not issues, "issues": list(issues)}),
        "crackle_probability": crackle_probability, "model_version": f"auscultation-{stamp['version']}-fp32",
        "result": json.dumps({"model": stamp, "windows": []}), "created_at": "2026-01-01T00:00:00+00:00"}).last_pk
    db.conn.commit()
    return pk


@pytest.fixture
def visit(client, nurse):
    patient = client.post("/api/v1/patients", json=LOW_RISK, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json


def assess(client, nurse, visit_id: int) -> dict:
    response = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse)
    assert response.status_code == 201, response.json
    return response.json


def element(page: str, element_id: str) -> str:
    """The inside of the element with ``element_id``, up to its tag's first closing tag."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>', page)
    assert match, f"no #{element_id} on the page"
    return page[match.end():page.index(f"</{match.group(1)}>", match.end())]


def text(key: str, lang: str = "en", **values) -> str:
    return str(escape(CATALOG[key][lang].format(**values)))


@pytest.mark.parametrize("issue", REFUSALS, ids=lambda issue: issue.split(":")[0])
def test_a_refused_take_never_reads_as_clear_anywhere_and_its_site_still_needs_a_recording(client, nurse, db, visit,
                                                                                          issue):
    stored_take(db, visit["id"], "posterior_left_base", 0.02)
    refused = stored_take(db, visit["id"], "posterior_right_base", 0.03, issues=[issue])
    assess(client, nurse, visit["id"])
    client.set_cookie("lang", "en")
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    right, left = CATALOG["site_posterior_right_base"]["en"], CATALOG["site_posterior_left_base"]["en"]

    take = page.split(f'id="take-{refused}"', 1)[1].split("</li>", 1)[0]
    assert CATALOG["quality_refused"]["en"] in take and "3%" not in take and CATALOG["quality_ok"]["en"] not in take
    # The chest map and the site list: the refused site is still to do, the accepted one done.
    site = page.split('data-site="posterior_right_base"', 1)[1].split("</g>", 1)[0]
    assert f'{right}: {CATALOG["state_pending"]["en"]}' in site and "✓" not in site
    assert 'class="site done' in page.split('data-site="posterior_left_base"', 1)[0][-80:]
    option = page.split('<option value="posterior_right_base"', 1)[1].split("</option>", 1)[0]
    assert "✓" not in option
    # The result: "no crackles" names only the site heard; the refused base is said not heard.
    finding = element(page, "lung-sound-finding")
    assert text("crackle_none") in finding and left in finding and right not in finding
    assert right in element(page, "exam-incomplete") and left not in element(page, "exam-incomplete")
    contributions = element(page, "contributions")
    assert right not in contributions

    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": "clinician's concern"},
                           headers=nurse).json
    letter = client.get(f"/referrals/{referral['id']}/letter").get_data(as_text=True)
    assert right not in element(letter, "letter-crackles") and left in element(letter, "letter-crackles")
    assert right not in element(letter, "lung-sound-finding") and right in element(letter, "exam-incomplete")


def steady_hiss_wav(seconds: float = 20.0, rate: int = 4000) -> bytes:
    """White noise at a steady level: no breathing in it (the chest piece in the air)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.1 * np.random.default_rng(3).standard_normal(int(seconds * rate)), rate,
                    format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_only_refused_takes_read_as_no_usable_recording_and_lung_sounds_still_to_do(client, nurse, visit, lang):
    """Through the real upload and quality gate: a steady hiss is refused (``no_breath_sounds``)."""
    upload = client.post(f"/api/v1/visits/{visit['id']}/recordings", headers=nurse, data={
        "chest_site": "posterior_left_base", "file": (io.BytesIO(steady_hiss_wav()), "hiss.wav")})
    assert upload.status_code == 201 and not upload.json["quality"]["ok"], upload.json
    assert any(issue.startswith("no_breath_sounds") for issue in upload.json["quality"]["issues"]), upload.json
    assessment = assess(client, nurse, visit["id"])
    assert "auscultation" in assessment["missing"]
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert text("lung_sounds_no_usable", lang) in element(page, "lung-sound-finding")
    incomplete = element(page, "exam-incomplete")
    assert all(CATALOG[f"site_{base}"][lang] in incomplete for base in BASES)
    assert CATALOG["crackle_none"][lang] not in page
    assert 'data-step="auscultation"' in page.split('class="step step-pending"', 1)[1][:40]
    assert 'data-modality="auscultation"' in element(page, "not-measured")  # still to do, in the missing list


def test_a_usable_take_after_the_result_is_never_called_refused(client, nurse, db, visit):
    """The result was calculated before any take: a good take added since is not "no usable
    recording"; lung sounds stay in the missing list until the risk is calculated again."""
    assess(client, nurse, visit["id"])
    stored_take(db, visit["id"], "posterior_left_base", 0.02)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert 'id="lung-sounds"' not in page and CATALOG["lung_sounds_no_usable"]["en"] not in page
    assert 'data-modality="auscultation"' in element(page, "not-measured")


def counted_detector(monkeypatch):
    """A patient-level adult validation that passes the validation rule, so lung sounds count (through the
    shipped model's adult devices: a take through another stethoscope does not count)."""
    from edge import modalities

    real_entry = modalities.manifest_entry
    devices = real_entry("auscultation")["validation"]["populations"]["adults"]["devices"]
    detector = {"unit": "patient", "ci_method": "patient_cluster_bootstrap", "populations": {"adults": {
        "patients": 60, "positive_patients": 20, "sensitivity": 0.8, "sensitivity_ci95": [0.7, 0.88],
        "specificity": 0.9, "specificity_ci95": [0.84, 0.94], "dataset": "fixture", "devices": devices}}}
    monkeypatch.setattr(modalities, "manifest_entry", lambda name: (
        {**real_entry(name), "validation": detector} if name == "auscultation" else real_entry(name)))


def test_a_clear_chest_without_the_bases_is_said_incomplete_and_never_lowers_the_risk(client, nurse, db, visit,
                                                                                      monkeypatch):
    counted_detector(monkeypatch)
    stored_take(db, visit["id"], "posterior_left_upper", 0.01)
    stored_take(db, visit["id"], "posterior_right_mid", 0.01)
    # Both bases taken, both refused: they were not heard.
    for base in BASES:
        stored_take(db, visit["id"], base, 0.01, issues=[REFUSALS[2]])
    assessment = assess(client, nurse, visit["id"])
    crackles = assessment["contributions"]["auscultation"]
    assert crackles["counted"] and crackles["finding"]["level"] == "none"
    assert crackles["applied_likelihood_ratio"] == pytest.approx(1.0)
    assert assessment["probability"] == pytest.approx(assessment["pretest_probability"])
    client.set_cookie("lang", "en")
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    incomplete = element(page, "exam-incomplete")
    assert all(CATALOG[f"site_{base}"]["en"] in incomplete for base in BASES)
    assert "Lung sounds lowered" not in element(page, "contributions")

    # Once both bases are heard clear the exam is complete: no notice, and the clear chest counts.
    for base in BASES:
        stored_take(db, visit["id"], base, 0.01)
    complete = assess(client, nurse, visit["id"])
    assert complete["contributions"]["auscultation"]["applied_likelihood_ratio"] < 1
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert 'id="exam-incomplete"' not in page and "Lung sounds lowered" in element(page, "contributions")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_lung_sounds_no_validation_counts_say_so_beside_the_finding_and_the_risk_did_not_move(client, nurse, db,
                                                                                             visit, lang):
    before = assess(client, nurse, visit["id"])
    stored_take(db, visit["id"], "posterior_left_base", 0.9)  # crackles at a base: would raise the risk if counted
    stored_take(db, visit["id"], "posterior_right_base", 0.02)
    after = assess(client, nurse, visit["id"])
    crackles = after["contributions"]["auscultation"]
    assert crackles["counted"] is False and crackles["finding"]["level"] == "basal"  # the shipped state for adults
    assert after["probability"] == pytest.approx(before["probability"]) and after["tier"] == before["tier"]
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    finding = element(page, "lung-sound-finding")
    assert CATALOG["crackle_basal"][lang] in finding
    reason = CATALOG[f"not_counted_{crackles['reason_code']}"][lang]
    assert text("lung_sounds_not_counted", lang, reason=reason) in finding
    assert page.count(str(escape(reason))) == 1  # said beside the finding, not again in a list apart
    assert 'id="exam-incomplete"' not in page
