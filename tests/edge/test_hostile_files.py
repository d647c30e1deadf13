"""Issue 26: breath and lab files built to break the parsers are 4xx JSON errors naming the
field, never a 500: a CSV field over the csv module's limit, JSON nested beyond the parser's
stack, a lone surrogate, NaN, and a breath file over its size limit (refused while streaming)."""
import io

import pytest

from edge.breath import MAX_BREATH_FILE_BYTES
from support import PATIENT

HOSTILE = {
    "csv_field_over_131072_chars": ("x" * 200_000 + ",analyte\n1,2\n", ("line 1",)),
    "json_nested_50000_deep": ('{"t_s":' + "[" * 50_000 + "]" * 50_000 + "}", ("file",)),
    "json_nested_500_deep": ('{"t_s":' + "[" * 500 + "]" * 500 + "}", ("file",)),
    # a breath file is JSON only when it starts with "{": this one is a CSV without its header
    "unclosed_brackets_100000": ("[" * 100_000, ("file", "header")),
    "nan_constant": ('{"t_s": NaN}', ("file",)),
}


@pytest.fixture
def visit_id(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]


def post_file(client, nurse, visit_id, kind, data: bytes):
    return client.post(f"/api/v1/visits/{visit_id}/{kind}", headers=nurse, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), "reading.csv")})


@pytest.mark.parametrize("kind", ["breath", "labs/file"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_a_422_naming_where(client, nurse, visit_id, kind, case):
    text, named = HOSTILE[case]
    response = post_file(client, nurse, visit_id, kind, text.encode())
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    error = response.json["error"]
    fields = [entry["field"] for entry in error.get("fields", [])]
    assert set(fields) & set(named), error


def test_a_breath_file_over_its_limit_is_refused_while_streaming(client, nurse, visit_id, settings):
    data = b"t_s,phase\n" + b"0.0,baseline\n" * (MAX_BREATH_FILE_BYTES // 13 + 1)
    assert len(data) > MAX_BREATH_FILE_BYTES
    response = post_file(client, nurse, visit_id, "breath", data)
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"
    assert not [p for p in settings.blob_dir.rglob("*") if p.is_file()]
