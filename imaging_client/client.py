"""HTTP client of the hospital's referral server (see ``imaging_server/README.md`` for the API).

Errors are sorted into the two kinds the outbox needs (``imaging_client.errors``): ``DeliveryUnavailable``
(try again later: no connection, timeout, HTTP 5xx or 429) and ``ReferralRejected`` (the server refused
the referral itself: fixing it needs a person).
"""
from __future__ import annotations

import logging
from typing import Optional

import requests

from imaging_client.errors import DeliveryUnavailable, ReferralRejected

logger = logging.getLogger(__name__)

# The programme figures' wire contract, shared by the clinic that builds them (edge.programme) and
# the hospital that validates them (imaging_server.programme_figures): the schema id, and the
# pattern of the only strings a payload may carry (device ids, versions: labels, never free text).
FIGURES_SCHEMA = "ildscreen.programme-figures/1"
FIGURES_LABEL = r"[A-Za-z0-9][A-Za-z0-9._:+/ -]{0,127}"


class ReferralServerClient:
    """Talks to one hospital referral server with a clinic token."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            response = self.session.request(method, self.base_url + path, timeout=self.timeout_s, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise DeliveryUnavailable(f"referral server unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise DeliveryUnavailable(f"referral server answered HTTP {response.status_code}")
        return response

    @staticmethod
    def _reason(response: requests.Response) -> str:
        try:
            return response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            return response.text[:200]

    def submit(self, referral_code: str, bundle: dict) -> dict:
        """POST the referral with its code as the idempotency key; a replay is success too."""
        response = self._request("POST", "/api/v1/referrals", json=bundle,
                                 headers={"Idempotency-Key": referral_code})
        if response.status_code in (200, 201):
            return response.json()
        raise ReferralRejected(f"HTTP {response.status_code}: {self._reason(response)}")

    def revoke(self, referral_code: str) -> dict:
        """Ask the hospital to revoke a delivered referral (its ServiceRequest becomes ``revoked``);
        a referral already revoked is success too."""
        response = self._request("POST", f"/api/v1/referrals/{referral_code}/revoke")
        if response.status_code == 200:
            return response.json()
        raise ReferralRejected(f"HTTP {response.status_code}: {self._reason(response)}")

    def submit_figures(self, figures: dict) -> dict:
        """POST the clinic's programme figures; the server deduplicates on period and sequence."""
        response = self._request("POST", "/api/v1/programme/figures", json=figures)
        if response.status_code in (200, 201):
            return response.json()
        raise ReferralRejected(f"HTTP {response.status_code}: {self._reason(response)}")

    def status(self, referral_code: str) -> dict:
        response = self._request("GET", f"/api/v1/referrals/{referral_code}")
        if response.status_code == 200:
            return response.json()
        raise ReferralRejected(f"HTTP {response.status_code}: {self._reason(response)}")

    def report(self, referral_code: str) -> Optional[dict]:
        """The CT report, or None while the server has none yet."""
        response = self._request("GET", f"/api/v1/referrals/{referral_code}/report")
        if response.status_code == 200:
            return response.json()
        if response.status_code == 409:
            return None
        raise ReferralRejected(f"HTTP {response.status_code}: {self._reason(response)}")
