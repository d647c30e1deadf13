"""A stand-in hospital referral server speaking the wire contract of ``imaging_server`` over
real HTTP on loopback, with switches for the failures the outbox must survive."""
from __future__ import annotations

import hashlib
import json
import threading
import time

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

TOKEN = "clinic-token-123"


class HospitalDouble:
    def __init__(self, port: int = 0):
        self.referrals: dict[str, dict] = {}  # code -> {"hash", "bundle", "status"}
        self.requests: list[dict] = []  # every request body received, for payload inspection
        self.fail_next = 0
        self.delay_s = 0.0
        self.on_post = None  # called with the code before answering (to kill a client mid-delivery)
        self.reports: dict[str, dict] = {}
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def accepted_codes(self) -> list[str]:
        return list(self.referrals)

    def app(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        self.requests.append({"method": request.method, "path": request.path, "body": body.decode()})
        response = self.handle(request, body)
        return response(environ, start_response)

    def _json(self, payload, status=200):
        return Response(json.dumps(payload), status=status, mimetype="application/json")

    def handle(self, request: Request, body: bytes) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._json({"error": {"code": "authentication_failed", "message": "bad token"}}, 401)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_next:
            self.fail_next -= 1
            return self._json({"error": {"code": "internal_error", "message": "boom"}}, 500)
        parts = request.path.strip("/").split("/")
        if request.method == "POST" and parts == ["api", "v1", "referrals"]:
            bundle = json.loads(body)
            code = bundle["entry"][0]["resource"]["identifier"][0]["value"]
            if request.headers.get("Idempotency-Key") != code:
                return self._json({"error": {"code": "validation_error", "message": "key mismatch"}}, 422)
            if bundle.get("invalid_for_test"):
                return self._json({"error": {"code": "validation_error", "message": "bad bundle"}}, 422)
            digest = hashlib.sha256(json.dumps(bundle, sort_keys=True).encode()).hexdigest()
            if self.on_post:
                self.on_post(code)
            if code in self.referrals:
                if self.referrals[code]["hash"] != digest:
                    return self._json({"error": {"code": "conflict", "message": "different bundle"}}, 409)
                return self._json({"referral_code": code, "status": "awaiting_images", "accession_number": code})
            self.referrals[code] = {"hash": digest, "bundle": bundle, "status": "awaiting_images"}
            return self._json({"referral_code": code, "status": "awaiting_images", "accession_number": code}, 201)
        if request.method == "POST" and len(parts) == 5 and parts[:3] == ["api", "v1", "referrals"] \
                and parts[4] == "revoke":
            code = parts[3]
            if code not in self.referrals:
                return self._json({"error": {"code": "not_found", "message": "unknown"}}, 404)
            if self.referrals[code]["status"] not in ("awaiting_images", "revoked"):
                return self._json({"error": {"code": "conflict", "message": "CT already done"}}, 409)
            self.referrals[code]["status"] = "revoked"
            return self._json({"referral_code": code, "status": "revoked", "updated_at": "t", "error": None})
        if request.method == "GET" and len(parts) >= 4 and parts[:3] == ["api", "v1", "referrals"]:
            code = parts[3]
            if code not in self.referrals:
                return self._json({"error": {"code": "not_found", "message": "unknown"}}, 404)
            status = self.referrals[code]["status"]
            if len(parts) == 4:
                return self._json({"referral_code": code, "status": status, "updated_at": "t",
                                   "error": "series is not CT (modality MR)" if status == "failed" else None})
            if status != "reported":
                return self._json({"error": {"code": "not_ready", "message": "not yet"}}, 409)
            return self._json(self.reports[code])
        return self._json({"error": {"code": "not_found", "message": "no route"}}, 404)

    def report(self, code: str, haa_percent: float, findings: dict | None = None) -> None:
        self.referrals[code]["status"] = "reported"
        self.reports[code] = {"referral_code": code, "status": "reported",
                              "metrics": {"haa_percent": haa_percent, "lung_volume_ml": 4200.0, **(findings or {})},
                              "diagnostic_report": {"resourceType": "DiagnosticReport"},
                              "algorithm": {"name": "ildscreen-ct-quant", "version": "test"},
                              "disclaimer": "Not for clinical use until validated."}
