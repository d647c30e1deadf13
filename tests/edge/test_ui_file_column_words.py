"""A lab or breath file without one of the columns it should have is said on the tablet with that
column's name (h130: the page said only "check its columns" or "upload the board's own export"). The
name shown is always one of our own (tabular_models' column lists), carried by the redirect as a
catalogue parameter; nothing read from the file reaches the URL or the page, a crafted link naming
anything else shows nothing, and nothing is stored."""
from __future__ import annotations

import io
import re

import pytest
from markupsafe import escape

from edge.web.i18n import CATALOG, translate
from support import PATIENT, csrf_of

BREATH_ROWS = "".join(f"{t},baseline,100,30,40,1013\n" for t in range(12))
# A file whose header holds what a hospital export might: a name that must never reach the URL or the page.
NAME_IN_FILE = "WANG Xiaoming"


@pytest.fixture
def visit_id(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]


def send(client, visit_id, path: str, text: str):
    csrf = csrf_of(client.get(f"/visits/{visit_id}").get_data(as_text=True))
    return client.post(f"/visits/{visit_id}/{path}", content_type="multipart/form-data",
                       data={"csrf_token": csrf, "file": (io.BytesIO(text.encode()), "file.csv")})


def message(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">(.*?)</p>', page)
    return found.group(1) if found else ""


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize(("path", "text", "kind", "column"), [
    ("breath", f"t_s,phase,sensor_1,temperature_c,{NAME_IN_FILE},pressure_hpa\n" + BREATH_ROWS, "breath",
     "humidity_pct"),
    ("breath", f"t_s,phase,sensor_1,sensor_3,temperature_c,humidity_pct,pressure_hpa,{NAME_IN_FILE}\n", "breath",
     "sensor_2"),
    ("labs/file", f"analyte,value,{NAME_IN_FILE}\nhgb,13,g/dL\n", "labs", "unit"),
])
def test_a_file_without_a_column_is_said_with_that_columns_name(client, nurse, visit_id, db, lang, path, text, kind,
                                                                  column):
    client.set_cookie("lang", lang)
    refused = send(client, visit_id, path, text)
    location = refused.headers["Location"]
    assert refused.status_code == 302 and f"{kind}_error=err_{kind}_file_column:{column}" in location
    page = client.get(location).get_data(as_text=True)
    said = message(page, f"{kind}-error")  # the column set as code no one translates, the words around it escaped
    words = str(escape(translate(f"err_{kind}_file_column", lang, column="COLUMN")))
    assert said == words.replace("COLUMN", f'<code translate="no">{column}</code>')
    assert "WANG" not in location and "WANG" not in page
    table = "breath_readings" if kind == "breath" else "lab_results"
    assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0


def test_the_api_names_the_missing_column_beside_the_field(client, nurse, visit_id):
    answer = client.post(f"/api/v1/visits/{visit_id}/breath", headers=nurse, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(b"t_s,phase,sensor_1,temperature_c\n"), "r.csv")})
    assert answer.status_code == 422
    assert answer.json["error"]["fields"] == [{"field": "header", "reason": answer.json["error"]["message"],
                                               "column": "humidity_pct"}]


def test_any_other_unreadable_file_keeps_the_general_words(client, nurse, visit_id):
    client.set_cookie("lang", "en")
    refused = send(client, visit_id, "breath", "t_s,phase,sensor_1,temperature_c,humidity_pct,pressure_hpa\n"
                                               + BREATH_ROWS.replace("baseline", "blowing"))
    assert re.search(r"breath_error=err_breath_file(?:[&#]|$)", refused.headers["Location"])  # an unknown phase
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert message(page, "breath-error") == str(escape(CATALOG["err_breath_file"]["en"]))


@pytest.mark.parametrize("crafted", ["breath_error=err_breath_file_column:%3Cb%3Ecall%20me%3C/b%3E",
                                     "breath_error=err_breath_file_column:unit",  # a lab column for a breath file
                                     "labs_error=err_labs_file_column:humidity_pct",
                                     "labs_error=err_labs_file_column:"])
def test_a_crafted_link_naming_any_other_column_shows_nothing(client, nurse, visit_id, crafted):
    page = client.get(f"/visits/{visit_id}?{crafted}").get_data(as_text=True)
    assert 'id="breath-error"' not in page and 'id="labs-error"' not in page and "call me" not in page
