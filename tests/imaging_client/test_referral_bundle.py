"""The referral bundle is valid FHIR R4 and carries nothing that identifies the patient."""
import json
import re

import pytest

from imaging_client.referral import REFERRAL_CODE_PATTERN, build_referral_bundle, new_referral_code, pseudonym

ASSESSMENT = {"probability": 0.42, "tier": "high", "recommendation": {"text": "Refer for HRCT plus PFTs."},
              "contributions": {"auscultation": {"probability": 0.9}}}
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
    assert codes == ["ild-risk", "crackle-probability", "718-7"]


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


def test_urgent_tier_gives_urgent_priority():
    assert bundle(tier="urgent")["entry"][0]["resource"]["priority"] == "urgent"
    assert bundle(tier="high")["entry"][0]["resource"]["priority"] == "routine"


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
    assert codings[-1] == {"system": "urn:ildscreen:observation", "code": "lab-kl6", "display": "kl6"}
    assert entries[-1]["valueQuantity"]["value"] == 1500.0
