"""A valid referral bundle as the clinic sends it (wire contract in imaging_server/README.md)."""
from __future__ import annotations

import copy
import uuid

REFERRAL_CODE = "ILD-ABCDEFGHIJ"


def referral_bundle(code: str = REFERRAL_CODE, *, priority: str = "urgent") -> dict:
    patient_url, request_url, observation_url = (f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, code + part)}"
                                                 for part in ("p", "s", "o"))
    return copy.deepcopy({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": request_url, "resource": {
                "resourceType": "ServiceRequest",
                "identifier": [{"system": "urn:ildscreen:referral", "value": code}],
                "status": "active", "intent": "order", "priority": priority,
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "241541005",
                                     "display": "High resolution computed tomography of lungs"}]},
                "subject": {"reference": patient_url},
                "reasonCode": [{"text": "Suspected interstitial lung disease"}],
            }},
            {"fullUrl": patient_url, "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:ildscreen:pseudonym", "value": "9f86d081884c7d659a2feaa0c55ad015"}],
                "gender": "female", "birthDate": "1952",
            }},
            {"fullUrl": observation_url, "resource": {
                "resourceType": "Observation", "status": "final",
                "code": {"text": "ILD risk score"}, "valueInteger": 78,
            }},
        ],
    })
