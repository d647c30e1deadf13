"""The tablet's lab form offers each unit once, in the words a nurse reads on a printed report
(``mm/h`` once for ESR, ``U/mL`` and never the raw UCUM ``[U]/mL`` for KL-6), and what it stores is
still the UCUM code the catalogue converts from."""
import re

import pytest
from markupsafe import escape

from edge.web.i18n import translate
from edge.web.presenters import readable_unit
from support import PATIENT
from tabular_models.lab_catalogue import ANALYTES

UNITS_BY_KEY = {analyte.key: analyte.units for analyte in ANALYTES}


@pytest.fixture
def visit_id(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]


def unit_options(page: str) -> dict[str, list[tuple[str, str]]]:
    """Each ``unit_<analyte>`` select of the page: its options as (value, label)."""
    selects = re.findall(r'<select name="unit_([a-z0-9_]+)".*?>(.*?)</select>', page, flags=re.S)
    return {key: re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', body) for key, body in selects}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_each_unit_is_offered_once_in_readable_words_and_its_value_is_a_catalogue_code(ui, visit_id, lang):
    client, _ = ui
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert str(escape(translate("analyte_kl6", lang))) in page
    options = unit_options(page)
    assert set(options) >= {"esr", "kl6", "wbc", "crp"}
    for key, offered in options.items():
        labels = [label for _, label in offered]
        assert len(labels) == len(set(labels)), (key, labels)  # no unit twice
        for value, label in offered:
            assert value in UNITS_BY_KEY[key], (key, value)  # the stored value stays a code the catalogue reads
            assert label == str(escape(readable_unit(value)))
            assert not re.search(r"[\[\]*]|\bu(mol|kat|g|L)\b", label), (key, label)  # no raw UCUM spelling
    assert [label for _, label in options["esr"]] == ["mm/h"]
    assert [label for _, label in options["kl6"]] == ["U/mL"]
    assert ("ug/mL", "µg/mL") in options["crp"]


def test_a_value_entered_in_the_one_kl6_unit_is_stored_as_its_ucum_code(ui, visit_id, db):
    client, csrf = ui
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    ((value, label),) = unit_options(page)["kl6"]
    client.post(f"/visits/{visit_id}/labs", data={"csrf_token": csrf, "lab_kl6": "450", "unit_kl6": value})
    stored = db.execute("SELECT analyte, value, unit FROM lab_results WHERE visit_id = ?", [visit_id]).fetchall()
    assert (value, label) == ("U/mL", "U/mL") and stored == [("kl6", 450.0, "U/mL")]
