"""The OpenAPI document is valid and describes every API route the service has."""
from openapi_spec_validator import validate

from edge.api.openapi import PATH_PARAMETER


def test_document_is_valid_openapi_3(client):
    document = client.get("/api/v1/openapi.json").json
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_route_is_documented_with_its_method(app, client):
    document = client.get("/api/v1/openapi.json").json
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/") or rule.rule in ("/healthz", "/readyz")):
            continue
        path = PATH_PARAMETER.sub(lambda m: "{" + m["name"] + "}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"].get(path, {}), f"{method} {path} undocumented"


def test_request_models_are_referenced_with_their_schemas(client):
    document = client.get("/api/v1/openapi.json").json
    create = document["paths"]["/api/v1/patients"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PatientCreate"}
    schema = document["components"]["schemas"]["PatientCreate"]
    assert schema["additionalProperties"] is False and "code" in schema["required"]
    upload = document["paths"]["/api/v1/visits/{visit_id}/recordings"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload


def test_vocabularies_are_enumerated_from_the_same_types_that_validate(client):
    """A client learns the allowed symptoms, antibodies, sites, CTD types and analytes from the
    document, and they are exactly the values the service accepts."""
    from edge.api.visit_data import LabResultIn
    from edge.vocabulary import AUTOANTIBODIES, CHEST_SITES, CTD_DIAGNOSES, SYMPTOMS
    from tabular_models.lab_catalogue import find_analyte

    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    patient = schemas["PatientCreate"]["properties"]
    assert set(patient["symptoms"]["items"]["enum"]) == set(SYMPTOMS)
    assert set(patient["autoantibodies"]["items"]["enum"]) == set(AUTOANTIBODIES)
    assert set(patient["ctd_diagnosis"]["enum"]) == set(CTD_DIAGNOSES)
    assert set(schemas["RecordingUpload"]["properties"]["chest_site"]["enum"]) == set(CHEST_SITES)
    analytes = schemas["LabResultIn"]["properties"]["analyte"]["enum"]
    assert "718-7" in analytes and all(find_analyte(name) is not None for name in analytes)
    assert LabResultIn.model_json_schema()["properties"]["analyte"]["enum"] == analytes


def test_uploads_declare_a_multipart_body_a_client_can_send(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    recording = paths["/api/v1/visits/{visit_id}/recordings"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert recording["schema"]["required"] == ["chest_site", "file"]
    assert recording["schema"]["properties"]["file"] == {"type": "string", "format": "binary"}
    for path in ("/api/v1/visits/{visit_id}/labs/file", "/api/v1/visits/{visit_id}/breath"):
        schema = paths[path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert schema["required"] == ["file"] and "allOf" not in schema


def test_every_status_an_operation_answers_is_declared(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assess = paths["/api/v1/visits/{visit_id}/assessments"]["post"]["responses"]
    assert {"201", "400", "401", "403", "404", "409", "413", "415", "422", "503"} == set(assess)
    assert "unavailable" in assess["503"]["description"]
    assert "4XX" not in paths["/api/v1/patients"]["get"]["responses"]
    audio = paths["/api/v1/recordings/{recording_id}/audio"]["get"]["responses"]["200"]["content"]
    assert set(audio) == {"audio/wav", "audio/flac"}
    visit_id = paths["/api/v1/visits/{visit_id}"]["get"]["parameters"][0]["schema"]
    assert visit_id == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
    # An upload sent again answers 200 with the recording already stored, in the same shape as the 201.
    upload = paths["/api/v1/visits/{visit_id}/recordings"]["post"]["responses"]
    assert upload["200"]["content"] == upload["201"]["content"] and "Already stored" in upload["200"]["description"]
    # A lab panel sent again (JSON, FHIR Bundle or file) likewise: 200 with the visit's panel (brief h132).
    for route in ("labs", "labs/fhir", "labs/file"):
        panel = paths[f"/api/v1/visits/{{visit_id}}/{route}"]["post"]["responses"]
        assert panel["200"]["content"] == panel["201"]["content"] and "Already stored" in panel["200"]["description"]
    assert "200" not in paths["/api/v1/patients"]["post"]["responses"]  # an operation without a replay has none
    # A discarded take answers 204 with no body; one already discarded 200 saying so (brief h71); an
    # unknown one 404, one of a visit no longer open 409.
    discard = paths["/api/v1/recordings/{recording_id}"]["delete"]["responses"]
    assert {"200", "204", "401", "403", "404", "409"} == set(discard) and "content" not in discard["204"]
    assert discard["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RecordingDiscarded"}
    assert "Already discarded" in discard["200"]["description"]


def test_the_kinds_of_change_are_the_ones_freshness_names(client):
    """A 409 result_out_of_date and an assessment's freshness name changes by the kinds
    edge.freshness finds (its CHANGE_KINDS, and MODEL_CHANGES for models): the document
    enumerates and describes exactly those, so the words cannot drift from the check."""
    from edge.freshness import CHANGE_KINDS, MODEL_CHANGES

    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    for schema in (schemas["ErrorBody"], schemas["ResultFreshness"]):
        for field, kinds in (("changed", CHANGE_KINDS), ("models_changed", MODEL_CHANGES)):
            prop = schema["properties"][field]
            lists = [prop, *prop.get("anyOf", ())]
            assert [item["items"]["enum"] for item in lists if "items" in item] == [list(kinds)], (field, prop)
            assert f"({', '.join(kinds)})" in prop["description"], (field, prop["description"])
    assessment = schemas["Assessment"]
    assert assessment["properties"]["freshness"]["$ref"] == "#/components/schemas/ResultFreshness"
    assert "freshness" in assessment["required"]
