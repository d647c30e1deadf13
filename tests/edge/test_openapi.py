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
