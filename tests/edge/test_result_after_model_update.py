"""A model update marks an earlier result out of date (edge.freshness.models_changed): "Calculate"
scores the takes again with the crackle model served then (edge.recordings.rescore_takes_of_other_models)
and the blood tests with the lab model served then, so a result whose crackle or lab model is no
longer the one served is not what calculating again would give. The visit page says which model was
updated, the API's assessments say so (``freshness.models_changed``), the referral waits for a new
result (409 ``result_out_of_date`` naming ``models_changed`` through the API, the tablet's form
refused), and after "Calculate again" the result is current. Calculate scores the breath reading
from its stored features with the served breath model too, and weighs it with that model's manifest
entry (its training prevalence, its validation): another served breath entry, at another version or
re-issued at the same one, is a change, and calculating again names the served model while the
reading keeps the score and label it was read with; features the served model cannot take make the
reading not counted, saying why, never its old score weighed with the new entry. A model the result
did not use (an auscultation update for a visit without takes, a breath update for a visit without a
reading) is no change.

The real flow: results calculated on the SQLite file of a data folder, another bundle installed (or
rolled back) with ``ildscreen models install`` / ``rollback``, and the service started again on it.
"""
from __future__ import annotations

import io
import json
import re

import pytest
from markupsafe import escape

from edge import freshness
from edge.app import create_app
from edge.cli import cli
from edge.fusion.evidence import KL6_VERSION
from edge.inference.bundles import SelectedBundle, select_bundle
from edge.inference.models import BUNDLED_DIR, entry_digest
from edge.web.i18n import CATALOG, join_sentences
from support import (PASSWORD, PATIENT, assert_referral_follows_freshness, csrf_of, edit_manifest,
                     freshness_by_assessment, model_bundle, patch_visit, shown_result_of)
from support import settings_trusting_test_key  # noqa: F401 (the settings fixture, test key pinned)
from test_breath_api import breath_csv
from test_model_bundles import synthetic_crackles_wav

CRP = {"analyte": "crp", "value": 4, "unit": "mg/L"}  # the lab model scores it; it does not count
KL6 = {"analyte": "kl6", "value": 900, "unit": "U/mL"}  # counts by its published accuracy instead


def restarted(settings):
    """The service started again on the data folder's active bundle, a nurse signed in: (client, headers)."""
    client = create_app(settings).test_client()
    response = client.post("/api/v1/auth/login", json={"username": "nurse1", "password": PASSWORD})
    assert response.status_code == 200, response.json
    return client, {"X-CSRF-Token": response.json["csrf_token"]}


def models_command(runner, settings, *args) -> None:
    result = runner.invoke(cli, ["models", *args, "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output


def install(runner, settings, folder, change=None, **versions) -> None:
    """A copy of the bundled models with ``versions`` (and ``change(models)``) installed and made active."""
    bundle = model_bundle(folder, **versions)
    if change is not None:
        edit_manifest(bundle, change)
    models_command(runner, settings, "install", str(bundle))


def new_visit(client, headers, *, take=False, labs=(), breath=False) -> int:
    patient = client.post("/api/v1/patients", json=PATIENT, headers=headers).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json["id"]
    if take:
        response = client.post(f"/api/v1/visits/{visit_id}/recordings", headers=headers,
                               content_type="multipart/form-data",
                               data={"chest_site": "posterior_left_base", "chest_piece": "diaphragm",
                                     "file": (io.BytesIO(synthetic_crackles_wav()), "base.wav")})
        assert response.status_code == 201 and response.json["quality"]["ok"], response.json
    if labs:
        response = client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": list(labs)}, headers=headers)
        assert response.status_code == 201, response.json
    if breath:
        response = client.post(f"/api/v1/visits/{visit_id}/breath", headers=headers,
                               content_type="multipart/form-data",
                               data={"file": (io.BytesIO(breath_csv().encode()), "reading.csv")})
        assert response.status_code == 201 and response.json["probability"] is not None, response.json
    return visit_id


def assess(client, headers, visit_id: int) -> dict:
    response = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def refer(client, headers, visit_id: int, assessment_id: int):
    return client.post(f"/api/v1/visits/{visit_id}/referrals", headers=headers,
                       json={"reason": "new cough", "assessment_id": assessment_id})


def referrals(db) -> int:
    return db.execute("SELECT COUNT(*) FROM referrals").fetchone()[0]


def updated_lines(page: str) -> dict[str, str]:
    """The page's "model updated" warnings, by modality."""
    return dict(re.findall(r'id="model-updated-([a-z]+)">([^<]+)<', page))


def test_a_crackle_model_update_marks_the_result_out_of_date_until_it_is_calculated_again(runner, settings, client,
                                                                                          nurse, db, tmp_path):
    visit_id = new_visit(client, nurse, take=True, labs=[CRP])
    first = assess(client, nurse, visit_id)
    install(runner, settings, tmp_path / "new", auscultation="9.9.0")
    client, headers = restarted(settings)

    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert updated_lines(page) == {"auscultation": str(escape(CATALOG["model_updated_auscultation"]["en"]))}
    assert 'id="result-out-of-date"' not in page  # nothing at the visit changed: only the model
    assert 'id="refer-form"' not in page and 'id="refer-needs-current"' in page
    assert freshness_by_assessment(client, headers, visit_id) == {first["id"]: {
        "current": False, "superseded_by": None, "changed": [], "settings_changed": [], "models_changed": ["auscultation"],
        "models_unchecked": []}}
    refused = refer(client, headers, visit_id, first["id"])
    assert refused.status_code == 409, refused.json
    error = refused.json["error"]
    assert error["code"] == "result_out_of_date" and error["current_assessment_id"] == first["id"]
    assert (error["changed"], error["settings_changed"], error["models_changed"]) == ([], [], ["auscultation"])
    assert "auscultation model changed" in error["message"]
    # The tablet's form, from a page shown before the update, is held the same way.
    held = client.post(f"/visits/{visit_id}/refer", data={"csrf_token": csrf_of(page), "reason": "new cough",
                                                           "assessment_id": str(first["id"])})
    assert held.status_code == 302 and "refer_error=out_of_date" in held.headers["Location"]
    assert referrals(db) == 0

    again = assess(client, headers, visit_id)
    assert again["model_versions"]["auscultation"].startswith("auscultation-9.9.0-")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert updated_lines(page) == {} and shown_result_of(page) == str(again["id"])
    assert again["freshness"]["current"]
    verdicts = assert_referral_follows_freshness(client, headers, visit_id)  # refers the current one
    assert [verdicts[first["id"]]["superseded_by"], verdicts[again["id"]]["current"]] == [again["id"], True]
    assert referrals(db) == 1

    # Rolled back, the model that calculated the sent result is no longer served: out of date again.
    models_command(runner, settings, "rollback")
    client, headers = restarted(settings)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert set(updated_lines(page)) == {"auscultation"}
    assert freshness_by_assessment(client, headers, visit_id)[again["id"]]["models_changed"] == ["auscultation"]


def test_the_page_says_it_in_the_nurses_language(runner, settings, client, nurse, tmp_path):
    visit_id = new_visit(client, nurse, take=True, labs=[CRP])
    assess(client, nurse, visit_id)
    install(runner, settings, tmp_path / "new", auscultation="9.9.0", labs="0.2.0")
    client, _ = restarted(settings)
    client.set_cookie("lang", "zh-CN")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert updated_lines(page) == {modality: str(escape(CATALOG[f"model_updated_{modality}"]["zh-CN"]))
                                   for modality in ("auscultation", "labs")}


@pytest.mark.parametrize("panel", [[CRP], [KL6]], ids=["lab_model", "kl6_in_its_place"])
def test_a_lab_model_update_marks_a_result_with_blood_tests_out_of_date(runner, settings, client, nurse, db,
                                                                        tmp_path, panel):
    """Whether the lab model's output was what the result used, or a KL-6 counted in its place (the
    model measured, not counted), a new lab model may give another result: it may count."""
    visit_id = new_visit(client, nurse, labs=panel)
    first = assess(client, nurse, visit_id)
    assert (first["model_versions"]["labs"] == KL6_VERSION) == (panel == [KL6])
    install(runner, settings, tmp_path / "new", labs="0.2.0")
    client, headers = restarted(settings)
    verdicts = assert_referral_follows_freshness(client, headers, visit_id)  # refused, naming labs
    assert verdicts[first["id"]]["models_changed"] == ["labs"] and not verdicts[first["id"]]["current"]
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert set(updated_lines(page)) == {"labs"}
    again = assess(client, headers, visit_id)
    assert refer(client, headers, visit_id, again["id"]).status_code == 201
    assert referrals(db) == 1


def test_a_new_crackle_threshold_for_the_same_version_is_a_change(runner, settings, client, nurse, tmp_path):
    """Takes are scored again when the served crackle model's threshold differs from theirs, even at
    the same version (edge.recordings.scored_by_another_model): the result kept the threshold it used."""
    visit_id = new_visit(client, nurse, take=True)
    first = assess(client, nurse, visit_id)
    install(runner, settings, tmp_path / "new",
            change=lambda models: models["auscultation"].update(threshold=round(first["crackle_threshold"] / 2, 6)))
    client, headers = restarted(settings)
    refused = refer(client, headers, visit_id, first["id"])
    assert refused.status_code == 409 and refused.json["error"]["models_changed"] == ["auscultation"], refused.json


@pytest.mark.parametrize("updated", ["auscultation", "breath"])
def test_a_model_the_result_did_not_use_is_no_change(runner, settings, client, nurse, db, tmp_path, updated):
    """No takes: the crackle model played no part; no breath reading: the breath model weighed none. Its new
    version gives the same range as the one the result's "if missing, measured" line read: no change there either."""
    visit_id = new_visit(client, nurse, labs=[CRP], take=updated == "breath", breath=updated == "auscultation")
    first = assess(client, nurse, visit_id)
    assert updated not in first["model_versions"]
    install(runner, settings, tmp_path / "new", **{updated: "9.9.0"})
    client, headers = restarted(settings)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert updated_lines(page) == {} and 'id="refer-form"' in page
    assert assert_referral_follows_freshness(client, headers, visit_id)[first["id"]]["current"]  # and referred
    assert referrals(db) == 1


def reworded(models, *, naming=True) -> None:
    """The crackle model re-issued from the same weights and figures with other words (a longer statement):
    naming, as ``audio_models.export.results_unchanged_from`` does, the bundled entry whose results it keeps."""
    crackles = models["auscultation"]
    crackles["validation_status"]["statement"] += " Each device alone: more words."
    bundled = json.loads((BUNDLED_DIR / "manifest.json").read_text())["models"]["auscultation"]
    if naming:
        crackles["results_unchanged_from"] = [*crackles.get("results_unchanged_from", []), entry_digest(bundled)]
    else:
        crackles.pop("results_unchanged_from", None)


def test_a_crackle_model_reissued_with_only_other_words_keeps_results_current(runner, settings, client, nurse, db,
                                                                              tmp_path):
    """A re-issue that names the entry a result was calculated with as giving the same results (its words
    changed, nothing it is calculated from) leaves that result current and its takes unscored again; the same
    words changed without naming it is a change (calculating again is the only way to know)."""
    visit_id = new_visit(client, nurse, take=True)
    first = assess(client, nurse, visit_id)
    install(runner, settings, tmp_path / "reworded", change=reworded)
    client, headers = restarted(settings)
    assert freshness_by_assessment(client, headers, visit_id)[first["id"]]["current"]
    assert updated_lines(client.get(f"/visits/{visit_id}").get_data(as_text=True)) == {}
    again = assess(client, headers, visit_id)
    assert again["crackle_takes_rescored"] == []  # the take's score is the re-issued entry's too
    assert again["probability"] == first["probability"]

    install(runner, settings, tmp_path / "unnamed", change=lambda models: reworded(models, naming=False))
    client, headers = restarted(settings)
    assert freshness_by_assessment(client, headers, visit_id)[again["id"]]["models_changed"] == ["auscultation"]
    assert len(assess(client, headers, visit_id)["crackle_takes_rescored"]) == 1


def test_a_served_entry_only_the_if_missing_line_reads_is_a_change(runner, settings, client, nurse, db, tmp_path):
    """Brief h110, point 3: a visit without a breath reading. The breath model weighed nothing, but its served
    entry gave the range the result's "if missing, measured" line read (unvalidated: a reading would not count).
    Re-issued at its version, validated in adults, it gives another range, so that line is stale: the result is
    out of date naming the breath model, the referral waits, and calculating again reads the new range. A closed
    visit's result (not calculated again) says it is out of date, naming the breath model."""
    closed_id = new_visit(client, nurse, labs=[CRP])
    assess(client, nurse, closed_id)
    assert patch_visit(client, closed_id, {"status": "completed"}, nurse).status_code == 200
    patient_id = client.get(f"/api/v1/visits/{closed_id}", headers=nurse).json["patient_id"]
    visit_id = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=nurse).json["id"]
    assert client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": [CRP]}, headers=nurse).status_code == 201
    first = assess(client, nurse, visit_id)
    assert "breath" in first["missing"] and first["inputs"]["potential_ranges"]["breath"] == [0.0, 0.0]
    assert "breath" not in (first["if_missing_measured"] or {}).get("modalities", [])
    before_ranges = {key: value for key, value in first["inputs"].items() if key != "potential_ranges"}
    kept_no_ranges = {**first, "inputs": before_ranges}  # as a result stored before results kept the ranges
    assert freshness.models_changed(kept_no_ranges, freshness.models_in_force()) == []  # the same entry: current
    install(runner, settings, tmp_path / "reissued", change=validated_in_adults)
    client, headers = restarted(settings)

    verdicts = assert_referral_follows_freshness(client, headers, visit_id)  # refused, naming breath
    assert verdicts[first["id"]]["models_changed"] == ["breath"] and verdicts[first["id"]]["changed"] == []
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert updated_lines(page) == {"breath": str(escape(CATALOG["model_updated_breath"]["en"]))}
    assert 'id="refer-form"' not in page and 'id="refer-needs-current"' in page
    assert freshness.models_changed(kept_no_ranges, freshness.models_in_force()) == ["breath"]  # cannot tell
    assert freshness.models_unchecked(kept_no_ranges, freshness.models_in_force()) == ["breath"]  # and says so
    assert freshness.models_unchecked(first, freshness.models_in_force()) == []  # its range was kept: seen
    closed_page = client.get(f"/visits/{closed_id}").get_data(as_text=True)
    line = re.search(r'id="closed-result-out-of-date">([^<]+)<', closed_page).group(1)
    assert line == str(escape(CATALOG["closed_result_out_of_date"]["en"].format(
        changes=CATALOG["changed_model_breath"]["en"])))

    again = assess(client, headers, visit_id)
    assert again["freshness"]["current"] and "breath" in again["if_missing_measured"]["modalities"]
    low, high = again["inputs"]["potential_ranges"]["breath"]
    assert low < 0 < high
    assert refer(client, headers, visit_id, again["id"]).status_code == 201


def validated_in_adults(models) -> None:
    """The breath model re-issued at its version by a publisher that validated it on adult patients, per
    patient (edge.fusion.evidence.tabular_validation): its reading now counts."""
    breath = models["breath"]
    breath["training_data"]["kind"] = "patients"
    breath["validation_status"].update(synthetic=False, training_population="adults with CTD (test figures)")
    breath["validation"] = {"unit": "patient", "populations": {"adults": {
        "auc": 0.86, "auc_ci95": [0.80, 0.91], "patients": 240, "positive_patients": 70}}}


@pytest.mark.parametrize("change", [
    validated_in_adults,
    lambda models: models["breath"]["training_data"].update(prevalence=0.15),  # the likelihood ratio's denominator
], ids=["validation", "training_prevalence"])
def test_a_breath_model_reissued_at_the_same_version_is_a_change(runner, settings, client, nurse, db, tmp_path, change):
    """The re-issued entry (same model file) scores the reading as before; what Calculate reads from it to
    weigh the score does not stay."""
    visit_id = new_visit(client, nurse, breath=True)
    first = assess(client, nurse, visit_id)
    install(runner, settings, tmp_path / "reissued", change=change)
    client, headers = restarted(settings)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert updated_lines(page) == {"breath": str(escape(CATALOG["model_updated_breath"]["en"]))}
    assert 'id="refer-form"' not in page and 'id="refer-needs-current"' in page
    verdicts = assert_referral_follows_freshness(client, headers, visit_id)  # refused, naming breath
    assert verdicts[first["id"]]["models_changed"] == ["breath"] and not verdicts[first["id"]]["current"]
    refused = refer(client, headers, visit_id, first["id"])
    assert "breath model changed" in refused.json["error"]["message"]

    again = assess(client, headers, visit_id)  # what the result would have been under the re-issued entry
    assert again["model_versions"]["breath"] == first["model_versions"]["breath"]
    kept, now = (result["contributions"]["breath"] for result in (first, again))
    assert kept["finding"]["probability"] == now["finding"]["probability"]  # the same model file scored it
    if change is validated_in_adults:
        assert (kept["counted"], now["counted"]) == (False, True) and again["probability"] != first["probability"]
    else:
        assert (kept["finding"]["training_prevalence"], now["finding"]["training_prevalence"]) == (
            pytest.approx(0.28825550838892255), 0.15)
        assert now["finding"]["likelihood_ratio_if_counted"] != kept["finding"]["likelihood_ratio_if_counted"]
    assert again["freshness"]["current"] and refer(client, headers, visit_id, again["id"]).status_code == 201


def stored_reading(client, headers, visit_id) -> dict:
    return client.get(f"/api/v1/visits/{visit_id}/breath", headers=headers).json["breath_readings"][-1]


def test_another_breath_model_version_is_a_change_and_calculating_again_scores_the_reading_with_it(
        runner, settings, client, nurse, db, tmp_path):
    """Calculate scores the reading's stored features with the served model, so the result names it;
    the reading keeps the score and label of the model it was read with, for the record."""
    visit_id = new_visit(client, nurse, breath=True)
    first = assess(client, nurse, visit_id)
    read_with = stored_reading(client, nurse, visit_id)
    assert first["model_versions"]["breath"] == read_with["model_version"] == "breath-0.1.0"
    install(runner, settings, tmp_path / "new", breath="9.9.0",
            change=lambda models: models["breath"]["training_data"].update(prevalence=0.15))
    client, headers = restarted(settings)
    client.set_cookie("lang", "zh-CN")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert updated_lines(page) == {"breath": str(escape(CATALOG["model_updated_breath"]["zh-CN"]))}
    assert freshness_by_assessment(client, headers, visit_id)[first["id"]]["models_changed"] == ["breath"]
    again = assess(client, headers, visit_id)
    assert again["model_versions"]["breath"] == "breath-9.9.0"
    evidence = next(item for item in again["inputs"]["evidence"] if item["modality"] == "breath")
    assert evidence["model_version"] == "breath-9.9.0" and evidence["finding"]["training_prevalence"] == 0.15
    assert stored_reading(client, headers, visit_id) == read_with  # its own score and model, as read
    assert again["freshness"]["current"]
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert updated_lines(page) == {} and 'id="refer-form"' in page


def reading_lacking_a_feature(client, headers, db, *, unscored: bool) -> tuple[int, dict]:
    """A visit (with KL-6) and its breath reading as software that computed one feature fewer than the served
    model takes (the humidity rise) stored it: scored when read, or ``unscored`` (kept while the breath model
    was unavailable). Returns the visit's id and the reading as read."""
    visit_id = new_visit(client, headers, labs=[KL6], breath=True)
    reading = stored_reading(client, headers, visit_id)
    features = {name: value for name, value in reading["features"].items() if name != "humidity_rise_pct"}
    db.execute("UPDATE breath_readings SET features = ? WHERE id = ?", [json.dumps(features), reading["id"]])
    if unscored:
        db.execute("UPDATE breath_readings SET probability = NULL, model_version = NULL WHERE id = ?", [reading["id"]])
    db.conn.commit()
    return visit_id, reading


def calculated_after_an_update(runner, settings, tmp_path, visit_id: int):
    """Breath model 9.9.0 installed, the service started again and the visit calculated (not refused): the
    reading the model cannot take does not count and the result says why. Returns (client, headers)."""
    install(runner, settings, tmp_path / "new", breath="9.9.0")
    client, headers = restarted(settings)
    result = assess(client, headers, visit_id)
    breath = result["contributions"]["breath"]
    assert result["model_versions"]["breath"] == "breath-9.9.0" and not breath["counted"]
    assert breath["finding"]["probability"] is None and breath["finding"]["reason_code"] == "not_scorable"
    assert "humidity_rise_pct" in breath["finding"]["reason"] and breath["log_likelihood_ratio"] == 0.0
    assert result["freshness"]["current"] and "breath" not in result["missing"]
    return client, headers


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_reading_whose_features_the_served_breath_model_cannot_take_does_not_count_and_says_why(
        runner, settings, client, nurse, db, tmp_path, lang):
    """A reading stored by software that computed one feature fewer than the served model takes (the
    humidity rise): that model cannot score it, so after the update the reading does not count (LR 1) and
    the result says why, rather than the score of the model it was read with being weighed with the new
    entry's prevalence and validation."""
    visit_id, reading = reading_lacking_a_feature(client, nurse, db, unscored=False)
    client, headers = calculated_after_an_update(runner, settings, tmp_path, visit_id)
    kept = stored_reading(client, headers, visit_id)  # kept as it was read
    assert (kept["probability"], kept["model_version"]) == (reading["probability"], "breath-0.1.0")
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    line = CATALOG["not_counted_line"][lang].format(modality=CATALOG["modality_breath"][lang],
                                                    reason=CATALOG["not_counted_not_scorable"][lang])
    advice = CATALOG["not_counted_record_again_not_scorable"][lang]
    assert str(escape(join_sentences([line, advice], lang))) in page  # the nurse of an open visit can take it again
    assert patch_visit(client, visit_id, {"status": "completed"}, headers).status_code == 200
    closed = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert str(escape(line)) in closed and advice not in closed  # a closed visit is a record: it takes no reading


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_reading_scored_when_read_that_the_served_model_cannot_take_says_so_before_calculate(
        client, nurse, db, lang):
    """Brief h120, point 5: the reading kept the score of the model it was read with, for the record, and
    Calculate does not weigh it: it scores the features with the served model, which cannot take these. The
    open visit's reading says so in the result's words before Calculate (it read only "quality OK", and the
    result then left it out unsaid there); the API keeps the score as read and names why. A closed visit's
    reading is not said so: nothing calculates its result again, which counted the score as read."""
    visit_id, reading = reading_lacking_a_feature(client, nurse, db, unscored=False)
    kept = stored_reading(client, nurse, visit_id)
    assert (kept["probability"], kept["model_version"]) == (reading["probability"], reading["model_version"])
    assert kept["score_unavailable_code"] == "not_scorable" and "humidity_rise_pct" in kept["score_unavailable"]
    client.set_cookie("lang", lang)
    said = str(escape(CATALOG["breath_not_scorable_take_again"][lang].format(
        reason=CATALOG["not_counted_not_scorable"][lang])))
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert re.search(rf'id="breath-unscored-{kept["id"]}">{re.escape(said)}<', page)

    assert patch_visit(client, visit_id, {"status": "completed"}, nurse).status_code == 200
    closed = stored_reading(client, nurse, visit_id)
    assert (closed["score_unavailable_code"], closed["probability"]) == (None, reading["probability"])
    assert f'id="breath-unscored-{kept["id"]}"' not in client.get(f"/visits/{visit_id}").get_data(as_text=True)


def test_a_reading_the_served_model_scores_says_nothing_more(client, nurse):
    visit_id = new_visit(client, nurse, breath=True)
    kept = stored_reading(client, nurse, visit_id)
    assert kept["probability"] is not None and kept["score_unavailable_code"] is None
    assert f'id="breath-unscored-{kept["id"]}"' not in client.get(f"/visits/{visit_id}").get_data(as_text=True)


def test_no_served_model_to_compare_with_is_no_change(client, nurse):
    """A bundle that cannot be served (its pointer corrupt, say) refuses every Calculate: the result
    is not called out of date by a model nobody can calculate with; /readyz says what is wrong."""
    visit_id = new_visit(client, nurse, take=True, labs=[CRP])
    result = assess(client, nurse, visit_id)
    assert freshness.models_changed(result, freshness.models_in_force()) == []
    select_bundle(SelectedBundle(None, error="active model pointer is corrupt"))
    assert freshness.models_in_force().versions == {} and freshness.models_in_force().digests == {}
    assert freshness.models_changed(result, freshness.models_in_force()) == []


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_reading_kept_unscored_that_the_served_model_cannot_take_follows_the_same_rule(
        runner, settings, client, nurse, db, tmp_path, lang):
    """A reading stored while the breath model was unavailable (no score yet), whose features the model
    served at Calculate cannot take: not counted, the result saying why, as for a reading scored when read
    (edge.breath.score_unscored_breath_readings); Calculate is not refused, and the reading stays unscored.
    The reading's own line says why in the result's words (brief h110, point 2), not that the model is
    unavailable: it is served, and cannot take the reading."""
    visit_id, _ = reading_lacking_a_feature(client, nurse, db, unscored=True)
    client, headers = calculated_after_an_update(runner, settings, tmp_path, visit_id)
    kept = stored_reading(client, headers, visit_id)
    assert (kept["probability"], kept["model_version"]) == (None, None)
    assert kept["score_unavailable_code"] == "not_scorable" and "humidity_rise_pct" in kept["score_unavailable"]
    result = client.get(f"/api/v1/visits/{visit_id}/assessments", headers=headers).json["assessments"][-1]
    assert kept["score_unavailable"] == result["contributions"]["breath"]["finding"]["reason"]  # one reason, one text
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    said = str(escape(CATALOG["breath_not_scorable_take_again"][lang].format(
        reason=CATALOG["not_counted_not_scorable"][lang])))
    assert re.search(rf'id="breath-unscored-{kept["id"]}">{re.escape(said)}<', page)
    line = CATALOG["not_counted_line"][lang].format(modality=CATALOG["modality_breath"][lang],
                                                    reason=CATALOG["not_counted_not_scorable"][lang])
    assert str(escape(line)) in page
    assert str(escape(CATALOG["breath_kept_unscored"][lang])) not in page
