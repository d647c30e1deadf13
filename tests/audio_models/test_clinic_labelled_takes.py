"""Issue 24, the clinic's side of evidence per stethoscope, end to end on real adult recordings: takes of
KAUH adults uploaded to the real app (SQLite file in its data folder) for several patients, labelled by a
clinician through the API, written out by 'ildscreen audio export-labelled' and scored by 'ildscreen audio
evaluate --part all': the report is the adults', per device (the stethoscope's make and model and the chest
piece where the take states one, as the crackle model's manifest names its devices; the upload and the piece
where it does not), with the patients and figures of the same recordings read straight from the KAUH copy,
and what left the clinic carries no patient identifier."""

import csv
import datetime as dt
import io
import json

import pytest
from click.testing import CliRunner

from edge import audit
from edge.cli import cli
from edge.config import load_settings
from edge.labelled_takes import PSEUDONYM_PURPOSE, age_at_visit, take_device
from imaging_client.referral import pseudonym
from support import PATIENT, kauh_rows, login, write_kauh_copy

# KAUH adults whose locations name one of the clinic's chest sites: four with crackles, four without.
PATIENTS = ("2", "9", "11", "13", "15", "19", "34", "47")
# KAUH was recorded through a Littmann 3200 (its README); the first patient's takes state no stethoscope.
LITTMANN = "Littmann 3200"
UNSTATED = PATIENTS[0]


def stated(patient):
    return "not_stated" if patient == UNSTATED else LITTMANN


@pytest.fixture
def settings(tmp_path, no_env_settings):
    """The clinic names its stethoscope (conftest's app, client and users are built on these settings)."""
    return load_settings(data_dir=tmp_path / "data", max_upload_mb=2, stethoscopes=[LITTMANN])
SITES = {"P L L": "posterior_left_base", "P R L": "posterior_right_base", "P R U": "posterior_right_upper",
         "P R M": "posterior_right_mid", "P L M": "posterior_left_mid"}


def site_of(row):
    return SITES[" ".join(row["location"].split()[:3])]


@pytest.fixture
def clinician(app, make_user):
    make_user("clinician1", "clinician")
    client = app.test_client()
    return client, login(client, "clinician1")


def upload(client, headers, visit_id, path, *, site, piece, stethoscope="not_stated"):
    response = client.post(f"/api/v1/visits/{visit_id}/recordings", headers=headers, content_type="multipart/form-data",
                           data={"chest_site": site, "chest_piece": piece, "stethoscope": stethoscope,
                                 "file": (io.BytesIO(path.read_bytes()), path.name)})
    assert response.status_code == 201, response.json
    return response.json


def label(client, headers, recording_id, answer):
    response = client.put(f"/api/v1/recordings/{recording_id}/crackles-heard", json={"crackles_heard": answer},
                          headers=headers)
    assert response.status_code == 200, response.json


@pytest.fixture
def clinic(kauh_dir, client, nurse, clinician):
    """The clinic's database after the nurse recorded each patient's KAUH takes and a clinician labelled them
    (KAUH's crackle label), plus one take labelled unsure, one not labelled and one discarded after labelling."""
    doctor, doctor_headers = clinician
    year = dt.date.today().year
    codes = {}
    for number, patient in enumerate(PATIENTS):
        rows = [row for row in kauh_rows(kauh_dir, PATIENTS) if row["patient"] == patient]
        # A birth year that gives KAUH's age as the whole years certainly reached at today's visit.
        registered = client.post("/api/v1/patients", headers=nurse, json={
            **PATIENT, "code": f"MRN-4711{number}", "birth_year": year - int(rows[0]["age_y"]) - 1,
            "sex": rows[0]["sex"]}).json
        codes[patient] = registered["code"]
        visit = client.post(f"/api/v1/patients/{registered['id']}/visits", json={}, headers=nurse).json
        for row in rows:
            take = upload(client, nurse, visit["id"], kauh_dir / "audio" / row["recording"], site=site_of(row),
                          piece=row["filter_mode"], stethoscope=stated(patient))
            label(doctor, doctor_headers, take["id"], "yes" if row["crackles"] == "1" else "no")
    extra = client.post("/api/v1/patients", headers=nurse, json={**PATIENT, "code": "MRN-99999"}).json
    visit = client.post(f"/api/v1/patients/{extra['id']}/visits", json={}, headers=nurse).json
    bell = sorted((kauh_dir / "audio").glob("kauh1*_bell.flac"))
    unsure = upload(client, nurse, visit["id"], bell[0], site="posterior_left_base", piece="bell")
    label(doctor, doctor_headers, unsure["id"], "unsure")
    upload(client, nurse, visit["id"], bell[1], site="posterior_right_base", piece="bell")  # never labelled
    discarded = upload(client, nurse, visit["id"], bell[2], site="trachea", piece="bell")
    label(doctor, doctor_headers, discarded["id"], "yes")
    assert client.delete(f"/api/v1/recordings/{discarded['id']}", headers=nurse).status_code == 204
    return codes | {"extra": extra["code"]}


def export(settings, out):
    return CliRunner().invoke(cli, ["audio", "export-labelled", "--out", str(out), "--data-dir", str(settings.data_dir)])


def evaluate(folder):
    result = CliRunner().invoke(cli, ["audio", "evaluate", "--data", str(folder), "--part", "all", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_labelled_takes_leave_the_clinic_as_a_folder_that_audio_evaluate_scores_per_stethoscope(
        clinic, kauh_dir, settings, app, db, tmp_path):
    rows = kauh_rows(kauh_dir, PATIENTS)
    out = tmp_path / "export"
    exported = export(settings, out)
    assert exported.exit_code == 0, exported.output
    summary = json.loads(exported.output)
    with_crackles = {row["patient"] for row in rows if row["crackles"] == "1"}
    assert summary == {
        "folder": str(out), "takes": len(rows), "patients": len(PATIENTS),
        "labels": {"yes": sum(row["crackles"] == "1" for row in rows), "no": sum(row["crackles"] == "0" for row in rows)},
        "devices": {f"{LITTMANN} diaphragm": len(PATIENTS) - 1, f"{LITTMANN} extended": len(PATIENTS) - 1,
                    "upload diaphragm": 1, "upload extended": 1},
        "left_out": {"unsure": 1, "missing_audio": 0}}

    # What left the clinic: neutral names, pseudonyms, no code (the clinic's identifier), date or stored path.
    table = (out / "labels.csv").read_text(encoding="utf-8")
    with open(out / "labels.csv", newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert list(written[0]) == ["file", "patient_id", "chest_site", "device", "label", "age_y", "sex"]
    assert sorted(path.name for path in out.iterdir()) == sorted([row["file"] for row in written] + ["labels.csv"])
    secret = app.extensions["ildscreen"].folder.site_secret
    exported = {pseudonym(code, secret, purpose=PSEUDONYM_PURPOSE) for key, code in clinic.items() if key != "extra"}
    assert {row["patient_id"] for row in written} == exported
    # ... and not the pseudonyms the hospital knows from referrals: the rows cannot be joined to them.
    assert not exported & {pseudonym(code, secret) for code in clinic.values()}
    stored_paths = [path for (path,) in db.execute("SELECT file_path FROM recordings")]
    for identifier in [*clinic.values(), "MRN", "kauh", str(dt.date.today()), *stored_paths]:
        assert identifier.lower() not in table.lower(), identifier
    def device(row):
        return f"{'upload' if row['patient'] == UNSTATED else LITTMANN} {row['filter_mode']}"

    expected = sorted((pseudonym(clinic[row["patient"]], secret, purpose=PSEUDONYM_PURPOSE), site_of(row), device(row),
                       "yes" if row["crackles"] == "1" else "no", row["age_y"], row["sex"]) for row in rows)
    assert sorted((row["patient_id"], row["chest_site"], row["device"], row["label"], row["age_y"], row["sex"])
                  for row in written) == expected
    by_name = {row["recording"]: row for row in rows}
    for row in written:  # each file is the take's sound, byte for byte
        source = next(name for name, kauh in by_name.items() if (kauh_dir / "audio" / name).read_bytes()
                      == (out / row["file"]).read_bytes())
        assert by_name[source]["filter_mode"] in row["device"]
    entries = [entry for entry in audit.list_entries(db, entity="labelled_takes") if entry["action"] == "export"]
    assert [entry["detail"] for entry in entries] == [{"takes": len(rows), "patients": len(PATIENTS),
                                                       "labels": summary["labels"], "left_out": summary["left_out"]}]

    # The folder is scored as the adults' (ages at the visit), per stethoscope, and its figures are those of
    # the same recordings read straight from the KAUH copy.
    report = evaluate(out)
    assert report["part"] == "all" and set(report["populations"]) == {"adults_export"}  # the folder's own
    adults = report["populations"]["adults_export"]
    assert (adults["patient"]["patients"], adults["patient"]["positive_patients"]) == (len(PATIENTS), len(with_crackles))
    assert set(adults["subgroups"]["patient_by_device"]) == {f"{LITTMANN} diaphragm", f"{LITTMANN} extended",
                                                             "upload diaphragm", "upload extended"}
    straight = evaluate(write_kauh_copy(kauh_dir, rows, tmp_path / "kauh"))["populations"]["adults"]
    for section in ("patient", "recording", "quality_gate"):
        assert point_figures(adults[section]) == point_figures(straight[section]), section
    assert "auc" in adults["patient"] and "sensitivity" in adults["recording"]


def point_figures(section):
    """A report section without its bootstrap intervals: they resample patients in the order of their ids,
    and a pseudonym sorts apart from the KAUH number (the point figures do not depend on it)."""
    if isinstance(section, dict):
        return {key: point_figures(value) for key, value in section.items() if not key.endswith("ci95")}
    return section


def test_a_folder_with_anything_in_it_is_refused_and_nothing_is_written(clinic, settings, db, tmp_path):
    out = tmp_path / "used"
    out.mkdir()
    (out / "notes.txt").write_text("earlier export")
    refused = export(settings, out)
    assert refused.exit_code == 1 and f"{out} is not an empty folder" in refused.output
    assert [path.name for path in out.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    refused = export(settings, a_file)
    assert refused.exit_code == 2 and "is a file" in refused.output and a_file.read_text() == "x"
    assert audit.list_entries(db, entity="labelled_takes") == []


def test_an_empty_folder_is_used_and_a_clinic_without_labels_exports_an_empty_table(settings, app, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    result = export(settings, out)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["takes"] == 0
    assert (out / "labels.csv").read_text().splitlines() == ["file,patient_id,chest_site,device,label,age_y,sex"]


def test_a_labelled_take_whose_sound_is_gone_is_left_out_and_counted(clinic, settings, app, db, tmp_path):
    blobs = app.extensions["ildscreen"].blobs
    path, = db.execute("SELECT file_path FROM recordings WHERE crackles_heard = 'yes' ORDER BY id LIMIT 1").fetchone()
    blobs.path_of(path).unlink()
    result = export(settings, tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["left_out"] == {"unsure": 1, "missing_audio": 1}
    assert summary["takes"] == len(list((tmp_path / "out").glob("take-*")))


def test_without_the_clinics_database_the_export_names_the_folder(tmp_path, no_env_settings):
    result = CliRunner().invoke(cli, ["audio", "export-labelled", "--out", str(tmp_path / "out"),
                                      "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no database at" in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("device_id", "piece", "stethoscope", "device"), [
    (None, "diaphragm", "not_stated", "upload diaphragm"),
    ("STETH-40", "not_stated", "not_stated", "STETH-40 not_stated"),
    ("Dr Wang's board <3", "bell", "not_stated", None),  # free text a board reports never leaves the clinic
    (None, "diaphragm", LITTMANN, "Littmann 3200 diaphragm"),  # a stated stethoscope, as the manifest names devices
    ("STETH-40", "not_stated", "Yunting II", "Yunting II not_stated"),
])
def test_a_takes_device_is_its_stethoscope_or_else_the_board_or_upload_and_its_chest_piece(device_id, piece,
                                                                                          stethoscope, device):
    named = take_device({"device_id": device_id, "chest_piece": piece, "stethoscope": stethoscope})
    if device is None:
        assert named.startswith("device-") and named.endswith(" bell") and "Wang" not in named
    else:
        assert named == device


@pytest.mark.parametrize(("birth_year", "started_at", "age"), [(1950, "2026-01-02T09:00:00Z", 75),
                                                                (1950, "2026-12-31T23:00:00Z", 75),
                                                                (2008, "2026-06-01T09:00:00Z", 17)])
def test_the_age_is_the_whole_years_certainly_reached_at_the_visit(birth_year, started_at, age):
    assert age_at_visit(birth_year, started_at) == age
