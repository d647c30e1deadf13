"""The crackle model's caveats (its manifest's ``validation_status.caveats``, written by ``audio_models.export.
validation_caveats``): what its statement says of the test adults that their figures alone do not (they had
been scored with added noise before the input noise was chosen; crackles against normal breathing; what the
noise may hide). The visit page and the referral letter word each in the reader's language from the numbers
the manifest gives, so the Chinese letter carries them too; a caveat this version cannot word (a newer model's
code) or a result that kept none shows the manifest's English statement instead, never nothing."""
from __future__ import annotations

import json
import re

import pytest
from markupsafe import escape

from audio_models.errors import ModelError
from edge.config import load_settings
from edge.inference.models import validation_status
from edge.web import presenters
from edge.web.i18n import CATALOG
from test_clinic_adult_population import visit_with_takes
from test_result_as_stored import letter_of, refer
from test_stethoscope import CLINIC, LITTMANN, shipped_entry
from test_ui_lung_sound_result import assess

CAVEATS = [
    {"code": "test_seen_before_input_noise", "population": "adults", "patients": 15, "positive_patients": 3,
     "devices": ["Stetho A bell", "Stetho A diaphragm"]},
    {"code": "crackles_against_normal_breathing", "population": "adults", "auc": 0.6333, "auc_ci95": [0.244, 0.8986],
     "crackle_free_patients": 4, "against_wheeze_auc": 0.8647, "devices": ["Stetho A bell", "Stetho A diaphragm"]},
    {"code": "input_noise_may_hide_crackles", "population": "adults", "snr_db": 20.0, "icbhi_with_crackles": 1,
     "icbhi_found": 0},
]


@pytest.fixture
def settings(tmp_path, no_env_settings):
    """A clinic whose stethoscopes include the shipped model's adults' Littmann 3200."""
    return load_settings(data_dir=tmp_path / "data", max_upload_mb=2, **CLINIC)


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", ["The 15 test adults (3 with crackles) had been scored with added noise before the adults' input noise was "
            "chosen, so their figures are not a clean test of it.",
            "Against adults' recordings with no other sound (no wheeze), through Stetho A (Bell, Diaphragm) together, "
            "its AUC was 0.63 (95% CI 0.24-0.90; 4 patients without crackles). That is below its 0.86 against wheezes: "
            "in adults it tells crackles from wheezes better than from normal breathing.",
            "Adults' recordings are scored with white noise 20 dB below their level added: it hides faint sounds of "
            "normal chests that the model took for crackles, and may hide faint crackles too. Of 1 adult recording(s) "
            "with crackles from another data set (ICBHI), it found 0."]),
    ("zh-CN", ["这 15 名测试成人（3 名有爆裂音）在选定成人输入噪声之前已被加噪评分过，因此其结果并非对该噪声的干净检验。",
               "与无其他声音（无哮鸣音）的成人录音相比，经 Stetho A（钟型面、膜型面）合计，AUC 为 0.63（95% 置信区间 "
               "0.24–0.90；4 名无爆裂音者）。低于与哮鸣音相比的 0.86：在成人中，它区分爆裂音与哮鸣音优于区分爆裂音与正常呼吸音。",
               "成人录音评分时加入比其音量低 20 分贝的白噪声：它能掩盖模型曾误判为爆裂音的正常胸部微弱声音，也可能掩盖微弱的"
               "爆裂音。在另一数据集（ICBHI）中 1 条有爆裂音的成人录音里，它检出 0 条。"]),
])
def test_each_caveat_is_worded_from_its_numbers_in_the_readers_language(lang, expected):
    assert presenters.crackle_model_caveats({"statement": "S", "caveats": CAVEATS}, lang) == expected


def test_the_wheeze_sentence_and_the_icbhi_sentence_follow_what_was_measured():
    normal, noise = CAVEATS[1], CAVEATS[2]
    above = {**normal, "against_wheeze_auc": 0.5}  # better against normal breathing: nothing to warn of
    unmeasured = {**normal, "against_wheeze_auc": None}
    for caveat in (above, unmeasured):
        assert "wheezes" not in presenters.crackle_model_caveats({"caveats": [caveat]}, "en")[0]
    no_icbhi = {key: value for key, value in noise.items() if not key.startswith("icbhi")}
    assert "ICBHI" not in presenters.crackle_model_caveats({"caveats": [no_icbhi]}, "en")[0]


@pytest.mark.parametrize("model", [
    {"statement": "S"},  # a result kept before manifests had caveats
    {"statement": "S", "caveats": [*CAVEATS, {"code": "a_newer_models_caveat", "n": 3}]},  # a code not known here
    {"statement": "S", "caveats": [{"code": "test_seen_before_input_noise", "patients": 15}]},  # a number missing
    None,
])
def test_caveats_that_cannot_all_be_worded_give_none_so_the_page_shows_the_statement(model):
    assert presenters.crackle_model_caveats(model, "zh-CN") is None


def test_a_model_with_no_caveats_has_nothing_to_add():
    assert presenters.crackle_model_caveats({"statement": "S", "caveats": []}, "zh-CN") == []


@pytest.mark.parametrize("caveats", ["none", [{"population": "adults"}], [{"code": ""}], ["test_seen"]])
def test_a_manifest_with_malformed_caveats_is_refused(caveats):
    entry = {"validation_status": {"synthetic": False, "clinically_validated": False, "training_population": "p",
                                   "statement": "s", "caveats": caveats}}
    with pytest.raises(ModelError, match="caveats must be a list of objects, each with a non-empty string code"):
        validation_status(entry, name="auscultation")


def test_the_stamp_carries_the_caveats_only_when_the_manifest_has_them():
    status = {"synthetic": False, "clinically_validated": False, "training_population": "p", "statement": "s"}
    assert "caveats" not in validation_status({"validation_status": status}).as_dict()
    stamped = validation_status({"validation_status": {**status, "caveats": CAVEATS}}).as_dict()
    assert json.loads(json.dumps(stamped))["caveats"] == CAVEATS


# --- through the real app: the shipped manifest's caveats -----------------------------------------------------

def caveat_list(page: str, element_id: str) -> list[str]:
    match = re.search(rf'id="{element_id}">(.*?)</ul>', page, re.S)
    return re.findall(r"<li>(.*?)</li>", match.group(1), re.S) if match else []


def shipped_caveats(lang: str) -> list[str]:
    """The shipped manifest's caveats in ``lang``, worded here from its numbers with the catalogue's words."""
    by_code = {caveat["code"]: caveat for caveat in shipped_entry()["validation_status"]["caveats"]}
    seen = by_code["test_seen_before_input_noise"]
    return [CATALOG["crackle_caveat_test_seen_before_input_noise"][lang].format(
        patients=seen["patients"], positive=seen["positive_patients"])]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_visit_page_and_the_letter_give_the_shipped_models_caveats_in_both_languages(client, nurse, db, lang):
    entry = shipped_entry()
    codes = [caveat["code"] for caveat in entry["validation_status"]["caveats"]]
    assert codes == ["test_seen_before_input_noise", "crackles_against_normal_breathing",
                     "input_noise_may_hide_crackles"]
    # The numbers are the manifest's own figures, not typed beside them.
    adults = entry["validation"]["populations"]["adults"]
    normal = entry["metrics"]["test"]["populations"]["adults"]["subgroups"]["against_crackle_free"]["none"]
    caveats = entry["validation_status"]["caveats"]
    assert (caveats[0]["patients"], caveats[0]["positive_patients"]) == (adults["patients"], adults["positive_patients"])
    assert (caveats[1]["auc"], caveats[1]["crackle_free_patients"]) == (normal["auc"], normal["crackle_free_patients"])

    visit_id = visit_with_takes(client, nurse, db, "CL24-0901", (LITTMANN,))
    assessment = assess(client, nurse, visit_id)
    assert assessment["validation"]["models"]["auscultation"]["caveats"] == caveats
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    worded = [str(escape(text)) for text in presenters.crackle_model_caveats({"caveats": caveats}, lang)]
    assert caveat_list(page, "crackle-model-caveats") == worded and len(worded) == 3
    assert worded[0] == str(escape(shipped_caveats(lang)[0]))
    assert 'id="crackle-model-statement"' not in page

    letter = letter_of(client, refer(client, nurse, visit_id))
    assert caveat_list(letter, "letter-crackle-caveats") == worded
    assert f'{escape(CATALOG["crackle_model_caveats"][lang])}<ul id="letter-crackle-caveats">' in letter
    # Said once, in the reader's language: the English statement is not added beside them.
    assert 'id="letter-crackle-statement"' not in letter
    if lang == "zh-CN":
        assert "not a clean test" not in letter and "并非对该噪声的干净检验" in letter


@pytest.mark.parametrize("kept", ["none", "unknown"])
def test_a_result_whose_caveats_cannot_be_worded_shows_the_english_statement(client, nurse, db, kept):
    """A result kept before manifests had caveats, or one of a newer model with a code this version does not
    know: the Chinese page and letter give the manifest's own English statement, marked as English."""
    visit_id = visit_with_takes(client, nurse, db, "CL24-0902", (LITTMANN,))
    assessment = assess(client, nurse, visit_id)
    row = db.execute("SELECT result FROM risk_assessments WHERE id = ?", [assessment["id"]]).fetchone()
    result = json.loads(row[0])
    model = result["validation"]["models"]["auscultation"]
    if kept == "none":
        del model["caveats"]
    else:
        model["caveats"].append({"code": "a_newer_models_caveat", "population": "adults"})
    db["risk_assessments"].update(assessment["id"], {"result": json.dumps(result)})
    db.conn.commit()
    statement = str(escape(model["statement"]))
    client.set_cookie("lang", "zh-CN")

    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert caveat_list(page, "crackle-model-caveats") == []
    shown = re.search(r'id="crackle-model-statement">(.*?)</p>', page, re.S).group(1)
    assert shown == f'{CATALOG["crackle_model_statement_english"]["zh-CN"]} <span lang="en">{statement}</span>'

    letter = letter_of(client, refer(client, nurse, visit_id))
    assert caveat_list(letter, "letter-crackle-caveats") == []
    assert re.search(r'<span lang="en" id="letter-crackle-statement">(.*?)</span>', letter, re.S).group(1) == statement
    assert CATALOG["crackle_model_statement_english"]["zh-CN"] in letter
