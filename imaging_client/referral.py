"""The FHIR R4 referral for HRCT that leaves the clinic: pseudonymous by construction.

A referral is a ``collection`` Bundle with one ServiceRequest (SNOMED CT 241541005,
high-resolution CT of lungs; reason: suspected ILD), one Patient and Observations for the
fused risk, the crackle evidence and key laboratory results. The Patient carries no name,
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


def _observation(full_url: str, patient_url: str, code: dict, value: float, unit: str,
                 ucum: Optional[str] = None) -> dict:
    quantity = {"value": round(float(value), 6), "unit": unit}
    if ucum:
        quantity.update(system="http://unitsofmeasure.org", code=ucum)
    return {
        "fullUrl": full_url,
        "resource": {"resourceType": "Observation", "status": "final", "code": {"coding": [code]},
                     "subject": {"reference": patient_url}, "valueQuantity": quantity},
    }


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

    ``lab_results`` rows carry ``loinc``, ``analyte``, ``si_value`` and ``si_unit``.
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
            "note": [{"text": f"ILD screening tier {tier}; {assessment['recommendation']['text']}"}],
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
    entries.append(_observation(f"urn:uuid:{uuid.uuid4()}", patient_url,
                                {"system": LOCAL_OBSERVATION_SYSTEM, "code": "ild-risk",
                                 "display": "Fused ILD risk (ildscreen)"},
                                assessment["probability"] * 100, "%", "%"))
    auscultation = assessment["contributions"].get("auscultation")
    if auscultation:
        entries.append(_observation(f"urn:uuid:{uuid.uuid4()}", patient_url,
                                    {"system": LOCAL_OBSERVATION_SYSTEM, "code": "crackle-probability",
                                     "display": "Fine crackle probability, lung auscultation (ildscreen)"},
                                    auscultation["probability"] * 100, "%", "%"))
    for row in lab_results:
        if row.get("si_value") is None:
            continue
        # An analyte without a LOINC code (KL-6 has none) is named in the local system instead of
        # sending an empty LOINC code, which FHIR refuses: the referral must still leave.
        code = ({"system": "http://loinc.org", "code": row["loinc"], "display": row["analyte"]} if row.get("loinc")
                else {"system": LOCAL_OBSERVATION_SYSTEM, "code": f"lab-{row['analyte']}", "display": row["analyte"]})
        entries.append(_observation(f"urn:uuid:{uuid.uuid4()}", patient_url, code,
                                    row["si_value"], row["si_unit"], row["si_unit"]))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
