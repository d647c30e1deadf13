"""A served clinic refers a patient to a CT server over the real API (the end-to-end tests' first
steps, written once)."""
from __future__ import annotations

import requests

from support import PATIENT, wait_for


def referral_at_clinic(edge_url: str, headers: dict, referral: dict) -> dict:
    """The clinic's view of ``referral`` now (status, server status, imaging result)."""
    return requests.get(f"{edge_url}/api/v1/referrals/{referral['id']}", headers=headers).json()


def refer_a_patient(edge_url: str, headers: dict) -> tuple[dict, dict, dict]:
    """Register :data:`support.PATIENT` at the clinic served at ``edge_url``, open a visit, assess it and
    refer it, then wait until the outbox has delivered the referral to the hospital; returns the
    patient, the visit and the referral as the clinic's API answered them."""
    patient = requests.post(edge_url + "/api/v1/patients", json=PATIENT, headers=headers).json()
    visit = requests.post(f"{edge_url}/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json()
    requests.post(f"{edge_url}/api/v1/visits/{visit['id']}/assessments", json={}, headers=headers)
    referral = requests.post(f"{edge_url}/api/v1/visits/{visit['id']}/referrals", json={}, headers=headers).json()
    wait_for(lambda: referral_at_clinic(edge_url, headers, referral)["status"] == "delivered", timeout_s=30,
             what="delivery to the hospital")
    return patient, visit, referral
