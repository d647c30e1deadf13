"""Issue 26: every malformed body on the hospital server is a 4xx JSON error naming the field,
never a 500: referral bundles are checked structurally before they are read, and every JSON
route (referrals, programme figures, ILD reads) refuses deep nesting and lone surrogates."""
from __future__ import annotations

import pytest

from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from imaging_server.app import create_app
from imaging_server.nodule_review import add_reader
from imaging_server.store import add_clinic, open_database
from referral_bundle import REFERRAL_CODE, referral_bundle


@pytest.fixture
def api(imaging_settings):  # noqa: F811
    app = create_app(imaging_settings)
    db = open_database(imaging_settings.database_target)
    clinic, reader = add_clinic(db, "clinic-north"), add_reader(db, "dr-wang")
    db.close()
    return app.test_client(), {"Authorization": f"Bearer {clinic}", "Idempotency-Key": REFERRAL_CODE}, \
        {"Authorization": f"Bearer {reader}"}


def _set(path, value):
    """A change to the valid bundle: ``path`` of keys and list indexes, then the new value."""
    def change(bundle):
        target = bundle
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return bundle
    return change


REQUEST, PATIENT = ("entry", 0, "resource"), ("entry", 1, "resource")
MALFORMED_BUNDLES = {
    "identifier_is_a_number": (_set((*REQUEST, "identifier"), 5), "entry[0].resource.identifier[0].system"),
    "patient_identifier_is_a_string": (_set((*PATIENT, "identifier"), "x"), "entry[1].resource.identifier[0]"),
    "code_is_a_string": (_set((*REQUEST, "code"), "x"), "entry[0].resource.code.coding[0]"),
    "coding_is_an_object": (_set((*REQUEST, "code", "coding"), {"a": 1}), "entry[0].resource.code.coding[0]"),
    "subject_is_a_list": (_set((*REQUEST, "subject"), ["x"]), "entry[0].resource.subject.reference"),
    "reason_code_is_a_number": (_set((*REQUEST, "reasonCode"), 3), "entry[0].resource.reasonCode[0].text"),
    "resource_type_is_a_list": (_set((*PATIENT, "resourceType"), ["Patient"]), "entry[1].resource.resourceType"),
    "resource_type_is_an_object": (_set((*PATIENT, "resourceType"), {"a": 1}), "entry[1].resource.resourceType"),
    "entry_is_an_object": (_set(("entry",), {"a": 1}), "entry"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_BUNDLES))
def test_a_structurally_wrong_bundle_is_a_422_naming_the_field(api, case):
    client, clinic, _ = api
    change, field = MALFORMED_BUNDLES[case]
    response = client.post("/api/v1/referrals", json=change(referral_bundle()), headers=clinic)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert field in [entry["field"] for entry in response.json["error"]["fields"]], response.json


HOSTILE_BODIES = {
    "unclosed_brackets_5000": ("[" * 5000, 400, "body"),
    "nested_5000_deep": ("[" * 5000 + "]" * 5000, 400, "body"),
    "nested_40_deep": ('{"a":' + "[" * 40 + "]" * 40 + "}", 400, None),
    "lone_surrogate": ('{"resourceType": "Bundle", "id": "\\ud800"}', 422, "id"),
    "lone_surrogate_in_a_key": ('{"\\udfff": 1}', 422, "body"),
    "nan": ('{"a": NaN}', 422, None),  # parsed; each route's validation refuses it
    "not_utf8": (b'{"a": "\xff"}', 400, "body"),
}
ROUTES = {
    "referrals": "/api/v1/referrals",
    "programme_figures": "/api/v1/programme/figures",
    "ild_read": f"/api/v1/reader/referrals/{REFERRAL_CODE}/ild-read",
}


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("case", sorted(HOSTILE_BODIES))
def test_a_hostile_body_is_a_4xx_json_error_on_every_json_route(api, route, case):
    client, clinic, reader = api
    body, status, field = HOSTILE_BODIES[case]
    headers = reader if route == "ild_read" else clinic
    response = client.post(ROUTES[route], data=body, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    error = response.json["error"]
    if field is not None:
        assert field in [entry["field"] for entry in error.get("fields", [])], error
