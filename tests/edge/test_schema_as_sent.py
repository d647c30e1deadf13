"""The OpenAPI document and the service agree on every text value (issue 26): lengths and patterns
are checked on the value as sent, the value the document describes; surrounding whitespace is
trimmed only after, so what is stored meets the document too.

Stripping first (pydantic's ``str_strip_whitespace``) accepted a 2,001-character note the
document refuses and refused a medication the document accepts. The probes are checked with an
ECMA-262 JSON Schema validator (``jsonschema_rs``), the dialect of the document."""
import jsonschema_rs
import pytest

from edge import __version__
from edge.api.openapi import build_document
from edge.api.operations import OPERATIONS
from support import PATIENT, drop_env_settings

# Values around each kind of limit: surrounding and inner spaces, too short once trimmed,
# whitespace JSON Schema, pydantic and Python disagree on, and the free-text length limit.
PROBES = ["ab", "a", " a", "a ", " ab", "ab ", "  ", "", "a b", "lab importer", "CL01-0001", " CL01-0001",
          "nurse1", " nurse1", "methotrexate", "methotrexate ", "mycophenolate mofetil", "ab\x1f", "\x1fab",
          "\ufeffab", "ab\u3000", "ab\n", "5.2", " 5.2", "/dev/ttyUSB0", " /dev/ttyUSB0", "甲氨蝶呤",
          "x" * 100, " " + "x" * 99, "x" * 500, " " + "x" * 500, "x" * 2000, " " + "x" * 2000 + " ", "x" * 2001]


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    from edge.app import create_app
    from edge.config import load_settings

    with pytest.MonkeyPatch.context() as monkeypatch:  # module-scoped: the function-scoped fixture cannot serve
        drop_env_settings(monkeypatch)
        create_app(load_settings(data_dir=tmp_path_factory.mktemp("schema") / "data"))  # registers every operation
    return build_document(__version__)


def _constrained_text_fields(document):
    """(model, field, property schema, is a list) for every request text field with a length or pattern."""
    schemas = document["components"]["schemas"]
    models = {model for op in OPERATIONS for model in (op.body, op.query, op.form) if model is not None}
    for model in sorted(models, key=lambda model: model.__name__):
        for name, prop in schemas[model.__name__].get("properties", {}).items():
            text = prop.get("items", prop)
            options = text.get("anyOf", [text])
            if any(option.get("type") == "string" and {"pattern", "minLength", "maxLength"} & set(option)
                   for option in options):
                yield model, name, prop, "items" in prop


def _accepted(model, field, value) -> bool:
    from pydantic import ValidationError

    try:
        model.model_validate({field: value})
    except ValidationError as exc:
        return not any(error["loc"] and error["loc"][0] == field for error in exc.errors())
    return True


def test_every_text_field_accepts_exactly_what_the_document_accepts_and_stores_what_it_allows(document):
    fields = list(_constrained_text_fields(document))
    assert {(model.__name__, name) for model, name, *_ in fields} >= {
        ("VisitCreate", "notes"), ("PatientCreate", "medications"), ("PatientUpdate", "medications"),
        ("PatientCreate", "code"), ("TokenCreate", "name"), ("UserCreate", "username")}
    disagreements = []
    for model, field, prop, is_list in fields:
        schema = {**prop, "components": document["components"]}
        validator = jsonschema_rs.validator_for(schema)
        for probe in PROBES:
            sent = [probe] if is_list else probe
            documented, accepted = validator.is_valid(sent), _accepted(model, field, sent)
            if documented != accepted:
                disagreements.append(f"{model.__name__}.{field} {probe[:24]!r}: document {documented}, "
                                     f"service {accepted}")
            elif accepted:
                try:
                    stored = getattr(model.model_validate({field: sent}), field)
                except Exception:  # noqa: BLE001 - another field is required: trim as the model does
                    stored = (sent if field in getattr(model, "untrimmed", ())
                              else [item.strip() for item in sent] if is_list else probe.strip())
                if not validator.is_valid(stored):
                    disagreements.append(f"{model.__name__}.{field} {probe[:24]!r}: stored {stored!r} "
                                         "is outside the document")
    assert not disagreements, "\n".join(disagreements)


def test_a_note_over_the_limit_with_surrounding_spaces_is_refused_and_a_padded_one_is_trimmed(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visits = f"/api/v1/patients/{patient['id']}/visits"
    too_long = client.post(visits, json={"notes": " " + "n" * 2000 + " "}, headers=nurse)
    assert too_long.status_code == 422
    assert [field["field"] for field in too_long.json["error"]["fields"]] == ["notes"]
    full = client.post(visits, json={"notes": "n" * 2000}, headers=nurse)
    assert full.status_code == 201 and full.json["notes"] == "n" * 2000
    padded = client.post(visits, json={"notes": "  follow up in 3 months  "}, headers=nurse)
    assert padded.status_code == 201 and padded.json["notes"] == "follow up in 3 months"


def test_a_medication_is_stored_as_sent_and_one_padded_with_spaces_is_refused_naming_it(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    url = f"/api/v1/patients/{patient['id']}"
    valid = client.patch(url, json={"medications": ["mycophenolate mofetil", "MTX"], "version": patient["version"]},
                         headers=nurse)
    assert valid.status_code == 200 and valid.json["medications"] == ["mycophenolate mofetil", "MTX"]
    padded = client.patch(url, json={"medications": ["MTX", " a"], "version": valid.json["version"]}, headers=nurse)
    assert padded.status_code == 422
    assert [field["field"] for field in padded.json["error"]["fields"]] == ["medications.1"]
    assert client.get(url, headers=nurse).json["medications"] == ["mycophenolate mofetil", "MTX"]
