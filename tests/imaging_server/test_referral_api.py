"""The referral API: clinic tokens, idempotent create, validation naming the field, status and report."""
from __future__ import annotations

import json

import pytest

from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from imaging_server.app import create_app
from imaging_server.referrals import canonical_sha256
from imaging_server.store import add_clinic, open_database
from referral_bundle import REFERRAL_CODE, referral_bundle


@pytest.fixture
def api(imaging_settings):  # noqa: F811
    app = create_app(imaging_settings)
    db = open_database(imaging_settings.database_target)
    tokens = {name: add_clinic(db, name) for name in ("clinic-north", "clinic-south")}
    db.close()
    return app.test_client(), tokens


def _headers(token: str, key: str | None = REFERRAL_CODE) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def test_create_then_replay_then_conflict(api):
    """Exactly-once delivery rests on this: a replay is 200 with the same body, a reuse is 409."""
    client, tokens = api
    first = client.post("/api/v1/referrals", json=referral_bundle(), headers=_headers(tokens["clinic-north"]))
    assert first.status_code == 201
    assert first.json == {"referral_code": REFERRAL_CODE, "status": "awaiting_images",
                          "accession_number": REFERRAL_CODE}
    # The same bundle with its keys in another order is the same bundle.
    reordered = json.loads(json.dumps(referral_bundle(), sort_keys=True))
    replay = client.post("/api/v1/referrals", json=reordered, headers=_headers(tokens["clinic-north"]))
    assert replay.status_code == 200 and replay.json == first.json
    changed = client.post("/api/v1/referrals", json=referral_bundle(priority="routine"),
                          headers=_headers(tokens["clinic-north"]))
    assert changed.status_code == 409 and changed.json["error"]["code"] == "conflict"
    status = client.get(f"/api/v1/referrals/{REFERRAL_CODE}", headers=_headers(tokens["clinic-north"]))
    assert status.status_code == 200
    assert set(status.json) == {"referral_code", "status", "updated_at", "error"}
    assert status.json["status"] == "awaiting_images" and status.json["error"] is None


def test_canonical_hash_ignores_key_order_and_whitespace():
    assert canonical_sha256({"a": 1, "b": [1, 2]}) == canonical_sha256(json.loads('{ "b": [1,2], "a": 1 }'))
    assert canonical_sha256({"a": 1}) != canonical_sha256({"a": 2})


@pytest.mark.parametrize("authorization", [None, "Bearer ildct_wrong", "Basic abc", "Bearer "])
def test_missing_or_unknown_token_is_401_json(api, authorization):
    client, _ = api
    headers = {"Authorization": authorization} if authorization else {}
    for response in (client.post("/api/v1/referrals", json=referral_bundle(), headers=headers),
                     client.get(f"/api/v1/referrals/{REFERRAL_CODE}", headers=headers)):
        assert response.status_code == 401 and response.json["error"]["code"] == "authentication_failed"


def test_a_clinic_sees_only_its_own_referrals(api):
    client, tokens = api
    client.post("/api/v1/referrals", json=referral_bundle(), headers=_headers(tokens["clinic-north"]))
    for path in (f"/api/v1/referrals/{REFERRAL_CODE}", f"/api/v1/referrals/{REFERRAL_CODE}/report"):
        assert client.get(path, headers=_headers(tokens["clinic-south"])).status_code == 404
    # Another clinic cannot take over or probe the code by posting it either.
    other = client.post("/api/v1/referrals", json=referral_bundle(), headers=_headers(tokens["clinic-south"]))
    assert other.status_code == 409


def test_report_is_409_not_ready_until_reported_and_404_when_unknown(api):
    client, tokens = api
    client.post("/api/v1/referrals", json=referral_bundle(), headers=_headers(tokens["clinic-north"]))
    waiting = client.get(f"/api/v1/referrals/{REFERRAL_CODE}/report", headers=_headers(tokens["clinic-north"]))
    assert waiting.status_code == 409 and waiting.json["error"]["code"] == "not_ready"
    for code in ("ILD-ZZZZZZZZZZ", "not-a-code"):
        unknown = client.get(f"/api/v1/referrals/{code}/report", headers=_headers(tokens["clinic-north"]))
        assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found"


def test_non_json_body_is_400(api):
    client, tokens = api
    response = client.post("/api/v1/referrals", data=b"{not json", headers=_headers(tokens["clinic-north"]),
                           content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_request"


def _patient(bundle):
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def _request(bundle):
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest")


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (lambda b: _patient(b).update(name=[{"family": "Doe"}]), "entry[1].resource.name"),
        (lambda b: _patient(b).update(telecom=[{"value": "555"}]), "entry[1].resource.telecom"),
        (lambda b: _patient(b).update(address=[{"city": "X"}]), "entry[1].resource.address"),
        (lambda b: _patient(b).update(birthDate="1952-03-14"), "entry[1].resource.birthDate"),
        (lambda b: _patient(b).update(identifier=[{"system": "urn:mrn", "value": "123"}]),
         "entry[1].resource.identifier[0]"),
        (lambda b: _request(b).update(priority="stat"), "entry[0].resource.priority"),
        (lambda b: _request(b).update(intent="plan"), "entry[0].resource.intent"),
        (lambda b: _request(b).update(status="draft"), "entry[0].resource.status"),
        (lambda b: _request(b)["code"]["coding"][0].update(code="169069000"), "entry[0].resource.code.coding[0]"),
        (lambda b: _request(b).update(subject={"reference": "Patient/1"}), "entry[0].resource.subject.reference"),
        (lambda b: _request(b).update(reasonCode=[]), "entry[0].resource.reasonCode[0].text"),
        (lambda b: _request(b)["identifier"][0].update(value="ILD-abc"), "entry[0].resource.identifier[0].value"),
        (lambda b: b["entry"].append(dict(b["entry"][1])), "entry"),
        (lambda b: b["entry"].pop(1), "entry"),
        (lambda b: b["entry"][0].update(fullUrl="http://x/1"), "entry[0].fullUrl"),
        (lambda b: b.update(type="transaction"), "type"),
        (lambda b: b.update(resourceType="Patient"), "resourceType"),
    ],
)
def test_invalid_bundle_is_422_naming_the_field(api, spoil, field):
    client, tokens = api
    bundle = referral_bundle()
    spoil(bundle)
    response = client.post("/api/v1/referrals", json=bundle, headers=_headers(tokens["clinic-north"]))
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert field in [item["field"] for item in error["fields"]], error
    assert set(error) == {"code", "message", "fields"}


@pytest.mark.parametrize("key", [None, "ILD-BBBBBBBBBB"])
def test_idempotency_key_must_equal_the_referral_code(api, key):
    client, tokens = api
    response = client.post("/api/v1/referrals", json=referral_bundle(), headers=_headers(tokens["clinic-north"], key))
    assert response.status_code == 422
    assert "Idempotency-Key" in [item["field"] for item in response.json["error"]["fields"]]


def test_a_json_array_is_422_not_a_crash(api):
    client, tokens = api
    response = client.post("/api/v1/referrals", json=[1, 2], headers=_headers(tokens["clinic-north"]))
    assert response.status_code == 422


def test_healthz_needs_no_token(api):
    client, _ = api
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["algorithm"]["name"] == "ildscreen-ct-quant"


def test_concurrent_creates_with_one_key_make_one_referral(api, imaging_settings):  # noqa: F811
    """Two deliveries racing (an edge retry while the first is in flight) give one 201 and one 200."""
    import threading

    client, tokens = api
    app = client.application
    codes = []

    def post():
        with app.test_client() as own:
            codes.append(own.post("/api/v1/referrals", json=referral_bundle(),
                                  headers=_headers(tokens["clinic-north"])).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 200, 200, 201]
    db = open_database(imaging_settings.database_target)
    assert db.scalar("SELECT COUNT(*) AS n FROM referrals") == 1
    db.close()


def test_a_body_over_one_megabyte_is_413_json(api):
    client, tokens = api
    bundle = referral_bundle()
    bundle["entry"][2]["resource"]["note"] = [{"text": "x" * (1024 * 1024)}]
    response = client.post("/api/v1/referrals", json=bundle, headers=_headers(tokens["clinic-north"]))
    assert response.status_code == 413 and response.json["error"]["code"] == "request_entity_too_large"


def test_a_clinic_revokes_its_waiting_referral_and_the_watcher_stops_waiting(api, imaging_settings):  # noqa: F811
    """Issue 27: a withdrawn referral's ServiceRequest becomes revoked; revoking again is accepted
    (the clinic's outbox may retry); another clinic cannot revoke it; a reported one cannot be."""
    client, tokens = api
    north = _headers(tokens["clinic-north"])
    assert client.post("/api/v1/referrals", json=referral_bundle(), headers=north).status_code == 201
    other = client.post(f"/api/v1/referrals/{REFERRAL_CODE}/revoke", headers=_headers(tokens["clinic-south"]))
    assert other.status_code == 404
    revoked = client.post(f"/api/v1/referrals/{REFERRAL_CODE}/revoke", headers=north)
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    assert client.post(f"/api/v1/referrals/{REFERRAL_CODE}/revoke", headers=north).json["status"] == "revoked"
    assert client.get(f"/api/v1/referrals/{REFERRAL_CODE}", headers=north).json["status"] == "revoked"
    db = open_database(imaging_settings.database_target)
    try:
        stored = json.loads(db.scalar("SELECT bundle FROM referrals WHERE code = :code", {"code": REFERRAL_CODE}))
        assert stored["entry"][0]["resource"]["status"] == "revoked"
        waiting = db.rows("SELECT code FROM referrals WHERE status = 'awaiting_images' "
                          "AND id NOT IN (SELECT referral_id FROM referral_revocations)")
        assert waiting == []
        # A replay of the original POST is still a replay, not a conflict.
        assert client.post("/api/v1/referrals", json=referral_bundle(), headers=north).status_code == 200
        with db.write():
            db.execute("DELETE FROM referral_revocations")
            db.execute("UPDATE referrals SET status = 'reported'")
    finally:
        db.close()
    refused = client.post(f"/api/v1/referrals/{REFERRAL_CODE}/revoke", headers=north)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "conflict"


def test_an_unexpected_error_is_a_500_json_with_a_request_id_and_no_referral_data(api, monkeypatch, caplog):
    """The hospital server answers with the clinic's shared handlers (common.web)."""
    import logging
    import re

    from imaging_server import app as app_module

    client, tokens = api
    client.post("/api/v1/referrals", json=referral_bundle(), headers=_headers(tokens["clinic-north"]))

    def broken(referral):
        raise ValueError(f"referral {referral['code']}")

    monkeypatch.setattr(app_module, "status_view", broken)
    with caplog.at_level(logging.ERROR, logger="imaging_server.app"):
        response = client.get(f"/api/v1/referrals/{REFERRAL_CODE}", headers=_headers(tokens["clinic-north"]))
    assert response.status_code == 500 and response.json["error"]["code"] == "internal_error"
    request_id = re.search(r"request id ([0-9a-f]{12})", response.json["error"]["message"]).group(1)
    assert caplog.records[-1].getMessage().startswith(
        f"unhandled ValueError in /api/v1/referrals/<code> (request id {request_id})")
    assert REFERRAL_CODE not in response.get_data(as_text=True) + caplog.records[-1].getMessage()
