"""The referral bundle is valid FHIR R4, carries nothing that identifies the patient, says
which guideline line applies, each model's version and validation status, and codes a lab
result without a LOINC (KL-6) validly."""
import json
import re

import pytest

from imaging_client.referral import (NOTE_KIND_URL, NOTE_KINDS, REFERRAL_CODE_PATTERN, build_referral_bundle,
                                     new_referral_code, pseudonym)

MODEL = {"version": "labs-0.1.0", "synthetic": True, "clinically_validated": False,
         "training_population": "synthetic cohorts (no patient data)",
         "statement": "Trained on synthetic data only; not validated on patients; not for clinical use."}
ASSESSMENT = {"probability": 0.42, "tier": "high",
              "recommendation": {"advice": "hrct_pfts", "priority": "within_3_months", "text": "HRCT plus PFTs.",
                                 "guideline": {
                  "code": "ssc", "line": "Systemic sclerosis is at increased risk of ILD: screen with HRCT and PFTs.",
                  "source": "Johnson SR et al. 2023 ACR/CHEST"}},
              "contributions": {"auscultation": {"finding": {"level": "basal", "validated": False}}},
              "validation": {"note": "Not validated for clinical use: the evidence model has not been validated.",
                             "models": {"labs": MODEL}},
              "uncertainty": "90% interval 30-55%."}
LABS = [{"loinc": "718-7", "analyte": "Hemoglobin", "si_value": 131.0, "si_unit": "g/L"}]


def bundle(**overrides):
    values = dict(referral_code="ILD-ABCDEFGHIJ", tier="high", patient_code="CL01-0001", birth_year=1952, sex="F",
                  site_secret=b"s" * 32, assessment=ASSESSMENT, lab_results=LABS)
    values.update(overrides)
    return build_referral_bundle(**values)


def test_bundle_has_the_service_request_patient_and_observations():
    entries = [entry["resource"] for entry in bundle()["entry"]]
    request, patient = entries[0], entries[1]
    assert request["code"]["coding"][0]["code"] == "241541005"
    assert request["identifier"][0] == {"system": "urn:ildscreen:referral", "value": "ILD-ABCDEFGHIJ"}
    assert request["subject"]["reference"] == bundle()["entry"][1]["fullUrl"] or request["subject"]["reference"]
    assert patient["birthDate"] == "1952" and patient["gender"] == "female"
    codes = [e["code"]["coding"][0]["code"] for e in entries[2:]]
    assert codes == ["ild-risk", "crackle-detector-finding", "718-7"]


def test_the_referral_carries_the_guideline_line_validation_statement_and_model_versions():
    entries = [entry["resource"] for entry in bundle()["entry"]]
    notes = [note["text"] for note in entries[0]["note"]]
    assert any("Systemic sclerosis is at increased risk" in n and "ACR/CHEST" in n for n in notes)
    assert ASSESSMENT["validation"]["note"] in notes
    assert any(n.startswith("labs model labs-0.1.0: Trained on synthetic data only") and
               "synthetic cohorts (no patient data)" in n for n in notes)
    risk = entries[2]
    assert "research model" in risk["code"]["text"]
    assert [n["text"] for n in risk["note"]] == [ASSESSMENT["validation"]["note"], "90% interval 30-55%."]
    crackle = entries[3]
    assert crackle["valueString"].startswith("crackles at a lung base") and "not validated" in crackle["valueString"]
    assert "probability" not in json.dumps(crackle).lower()  # no score sold as a fine-crackle probability


def test_a_lab_result_without_a_loinc_gets_a_local_code_and_text():
    kl6 = {"loinc": None, "analyte": "kl6", "si_value": 820.0, "si_unit": "U/mL"}
    observation = bundle(lab_results=[kl6])["entry"][-1]["resource"]
    assert observation["code"] == {"coding": [{"system": "urn:ildscreen:analyte", "code": "kl6", "display": "kl6"}],
                                   "text": "kl6"}
    assert observation["valueQuantity"]["value"] == 820.0


def test_nothing_identifying_leaves_the_clinic():
    text = json.dumps(bundle())
    assert "CL01-0001" not in text
    patient = bundle()["entry"][1]["resource"]
    assert set(patient) == {"resourceType", "identifier", "gender", "birthDate"}
    assert re.fullmatch(r"\d{4}", patient["birthDate"])


def test_pseudonym_is_stable_per_clinic_and_differs_between_clinics():
    assert pseudonym("CL01-0001", b"a" * 32) == pseudonym("CL01-0001", b"a" * 32)
    assert pseudonym("CL01-0001", b"a" * 32) != pseudonym("CL01-0001", b"b" * 32)
    assert pseudonym("CL01-0001", b"a" * 32) != pseudonym("CL01-0002", b"a" * 32)


def test_referral_codes_are_random_and_well_formed():
    codes = {new_referral_code() for _ in range(200)}
    assert len(codes) == 200 and all(REFERRAL_CODE_PATTERN.match(code) for code in codes)


@pytest.mark.parametrize("priority, fhir", [("urgent", "asap"), ("within_3_months", "urgent"), ("routine", "routine")])
def test_the_fhir_priority_follows_the_computed_priority(priority, fhir):
    assessment = {**ASSESSMENT, "recommendation": {**ASSESSMENT["recommendation"], "priority": priority}}
    assert bundle(assessment=assessment)["entry"][0]["resource"]["priority"] == fhir


def test_the_crackle_finding_goes_out_preliminary_and_the_risk_final():
    entries = [entry["resource"] for entry in bundle()["entry"]]
    assert [e["status"] for e in entries[2:4]] == ["final", "preliminary"]


def test_a_referral_against_the_advice_carries_the_reason_and_never_claims_screening():
    assessment = {**ASSESSMENT, "recommendation": {**ASSESSMENT["recommendation"], "advice": "rescreen",
                                                   "priority": "routine", "text": "Re-screen in 12 months."}}
    request = bundle(assessment=assessment, reason="new cough")["entry"][0]["resource"]
    assert [r["text"] for r in request["reasonCode"]] == ["Clinician's reason: new cough"]
    assert any("against the screening advice" in n["text"] and "new cough" in n["text"] for n in request["note"])


def kinds(request: dict) -> list[str]:
    """Each note's kind, from its one extension."""
    assert all([extension["url"] for extension in note["extension"]] == [NOTE_KIND_URL] for note in request["note"])
    return [note["extension"][0]["valueCode"] for note in request["note"]]


def test_each_note_names_its_kind_the_advice_first_and_disagreeing_hrct_reads_next():
    """The hospital shows the advice first and marks disagreeing reads by these kinds (imaging_server.worklist)."""
    assert kinds(bundle()["entry"][0]["resource"]) == ["advice", "guideline_line", "validation", "model"]
    discordant = {"ild_on": "2025-05-01", "no_ild_on": "2026-03-01"}
    assessment = {**ASSESSMENT, "recommendation": {**ASSESSMENT["recommendation"], "advice": "monitoring",
                                                   "discordant_hrct": discordant}}
    request = bundle(assessment=assessment, reason="second opinion")["entry"][0]["resource"]
    assert kinds(request) == ["advice", "discordant_hrct_reads", "against_advice", "guideline_line", "validation",
                              "model"]
    assert set(kinds(request)) <= set(NOTE_KINDS)
    assert request["note"][1]["text"] == ("HRCT reads disagree: the HRCT on 2026-03-01 read no ILD after the HRCT on "
                                          "2025-05-01 read ILD. Discuss both reads with the rheumatologist and the "
                                          "radiologist.")


def test_invalid_fhir_is_refused_before_sending():
    from pydantic import ValidationError

    with pytest.raises((ValidationError, KeyError)):
        bundle(sex="X")


def test_a_lab_without_a_loinc_code_is_sent_under_the_local_system():
    """KL-6 has no LOINC code; an empty one made the bundle invalid and the referral a 500 (issue 15)."""
    kl6 = {"loinc": "", "analyte": "kl6", "si_value": 1500.0, "si_unit": "U/mL"}
    entries = [entry["resource"] for entry in bundle(lab_results=[*LABS, kl6])["entry"]]
    codings = [e["code"]["coding"][0] for e in entries[2:]]
    assert codings[-2]["system"] == "http://loinc.org" and codings[-2]["code"] == "718-7"
    assert codings[-1] == {"system": "urn:ildscreen:analyte", "code": "kl6", "display": "kl6"}
    assert entries[-1]["valueQuantity"]["value"] == 1500.0
