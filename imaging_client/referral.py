"""The FHIR R4 referral for HRCT that leaves the clinic: pseudonymous by construction.

A referral is a ``collection`` Bundle with one ServiceRequest (SNOMED CT 241541005,
high-resolution CT of lungs; reason: suspected ILD), one Patient and Observations for the
fused risk, the lung-sound finding and key laboratory results, and notes that say which
guideline line applies, each model's version and validation status and that the risk is not
validated for clinical use. Laboratory results without a LOINC code (KL-6 has none) are coded
in the local ``urn:ildscreen:analyte`` system with the analyte name as text, which FHIR allows
(a CodeableConcept needs a coding or text, not a LOINC). The Patient carries no name,
address, telecom or local identifier: only an HMAC-SHA256 of the clinic's patient code under a
secret kept at the clinic (so the hospital can link repeat referrals of one patient without
learning the code), the birth year and the administrative gender. Resources are validated
with the ``fhir.resources`` R4B models before they leave.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from typing import Optional

from fhir.resources.R4B.bundle import Bundle

REFERRAL_CODE_PATTERN = re.compile(r"^ILD-[A-Z2-7]{10}$")
REFERRAL_SYSTEM = "urn:ildscreen:referral"
PSEUDONYM_SYSTEM = "urn:ildscreen:pseudonym"
LOCAL_OBSERVATION_SYSTEM = "urn:ildscreen:observation"
LOCAL_ANALYTE_SYSTEM = "urn:ildscreen:analyte"
NOT_VALIDATED = "Not validated for clinical use."
CRACKLE_LEVELS = {"basal": "crackles at a lung base", "other_sites": "crackles away from the bases only",
                  "none": "no crackles at the recorded sites"}
SNOMED_HRCT_LUNGS = {"system": "http://snomed.info/sct", "code": "241541005",
                     "display": "High resolution computed tomography of lungs"}
PRIORITY_BY_TIER = {"urgent": "urgent", "high": "routine", "intermediate": "routine", "low": "routine"}
GENDER = {"F": "female", "M": "male"}
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_referral_code() -> str:
    """A random referral code, also the PACS accession number: ``ILD-`` and 10 base32 letters."""
    return "ILD-" + "".join(secrets.choice(BASE32) for _ in range(10))


def pseudonym(patient_code: str, site_secret: bytes) -> str:
    """HMAC-SHA256 of the clinic's patient code under the clinic's secret, hex."""
    return hmac.new(site_secret, patient_code.encode(), hashlib.sha256).hexdigest()


def _observation(full_url: str, patient_url: str, code: dict, value: dict, notes: tuple[str, ...] = ()) -> dict:
    resource = {"resourceType": "Observation", "status": "final",
                "code": {"coding": [code], "text": code["display"]},
                "subject": {"reference": patient_url}, **value}
    if notes:
        resource["note"] = [{"text": text} for text in notes]
    return {"fullUrl": full_url, "resource": resource}


def _quantity(value: float, unit: str, ucum: Optional[str] = None) -> dict:
    quantity = {"value": round(float(value), 6), "unit": unit}
    if ucum:
        quantity.update(system="http://unitsofmeasure.org", code=ucum)
    return {"valueQuantity": quantity}


def lab_code(row: dict) -> dict:
    """LOINC when the analyte has one, else the local analyte system with the analyte's name."""
    if row.get("loinc"):
        return {"system": "http://loinc.org", "code": row["loinc"], "display": row["analyte"]}
    return {"system": LOCAL_ANALYTE_SYSTEM, "code": row["analyte"], "display": row["analyte"]}


def model_notes(assessment: dict) -> list[str]:
    """One line per model used: version, validation statement and training population."""
    models = (assessment.get("validation") or {}).get("models") or {}
    return [f"{name} model {model['version']}: {model['statement']} Training data: {model['training_population']}."
            for name, model in sorted(models.items())]


def build_referral_bundle(
    *,
    referral_code: str,
    tier: str,
    patient_code: str,
    birth_year: int,
    sex: str,
    site_secret: bytes,
    assessment: dict,
    lab_results: list[dict] = (),
) -> dict:
    """The referral Bundle as JSON-ready dict, validated against the FHIR R4B models.

    ``lab_results`` rows carry ``loinc`` (None for an analyte without one), ``analyte``,
    ``si_value`` and ``si_unit``.
    """
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    entries = [{
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": {
            "resourceType": "ServiceRequest",
            "identifier": [{"system": REFERRAL_SYSTEM, "value": referral_code}],
            "status": "active",
            "intent": "order",
            "priority": PRIORITY_BY_TIER[tier],
            "code": {"coding": [SNOMED_HRCT_LUNGS]},
            "subject": {"reference": patient_url},
            "reasonCode": [{"text": "Suspected interstitial lung disease"}],
            "note": [{"text": text} for text in referral_notes(tier, assessment)],
        },
    }, {
        "fullUrl": patient_url,
        "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": PSEUDONYM_SYSTEM, "value": pseudonym(patient_code, site_secret)}],
            "gender": GENDER[sex],
            "birthDate": str(birth_year),
        },
    }]
    validation_note = (assessment.get("validation") or {}).get("note", NOT_VALIDATED)
    entries.append(_observation(f"urn:uuid:{uuid.uuid4()}", patient_url,
                                {"system": LOCAL_OBSERVATION_SYSTEM, "code": "ild-risk",
                                 "display": "ILD risk estimate, research model (ildscreen)"},
                                _quantity(assessment["probability"] * 100, "%", "%"),
                                tuple(filter(None, (validation_note, assessment.get("uncertainty"))))))
    finding = (assessment["contributions"].get("auscultation") or {}).get("finding") or {}
    if finding.get("level") in CRACKLE_LEVELS:
        validated = "" if finding.get("validated") else " (crackle detector not validated: not used in the risk)"
        entries.append(_observation(f"urn:uuid:{uuid.uuid4()}", patient_url,
                                    {"system": LOCAL_OBSERVATION_SYSTEM, "code": "crackle-detector-finding",
                                     "display": "Lung-sound crackle detector finding (ildscreen)"},
                                    {"valueString": CRACKLE_LEVELS[finding["level"]] + validated},
                                    (NOT_VALIDATED,)))
    for row in lab_results:
        if row.get("si_value") is None:
            continue
        entries.append(_observation(f"urn:uuid:{uuid.uuid4()}", patient_url, lab_code(row),
                                    _quantity(row["si_value"], row["si_unit"], row["si_unit"])))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


def referral_notes(tier: str, assessment: dict) -> list[str]:
    """The ServiceRequest's notes: tier and advice, guideline line, validation, model versions."""
    recommendation = assessment["recommendation"]
    notes = [f"ILD screening tier {tier}; {recommendation['text']}"]
    guideline = recommendation.get("guideline")
    if guideline:
        notes.append(f"Guideline line: {guideline['line']} Source: {guideline['source']}.")
    notes.append((assessment.get("validation") or {}).get("note", NOT_VALIDATED))
    return notes + model_notes(assessment)
