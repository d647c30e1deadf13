"""Schema migration 4 on a version-3 database: patient codes case-folded, codes that would clash
left alone and reported (never merged), and the stored values that broke reads repaired."""
import json

from edge.store.database import open_database
from edge.store.migrations import CODE_COLLISIONS_KEY, MIGRATIONS, apply_migrations, current_version


def version_3_database(tmp_path):
    db = open_database(tmp_path / "v3.db")
    apply_migrations(db, migrations=tuple(m for m in MIGRATIONS if m.version <= 3))
    assert current_version(db) == 3
    return db


def add_patient(db, code, **columns):
    row = {"code": code, "birth_year": 1950, "sex": "F", "ctd_diagnosis": "SSc", "created_at": "t", "updated_at": "t",
           **columns}
    return db["patients"].insert(row).last_pk


def test_codes_are_folded_and_clashing_codes_are_reported_not_merged(tmp_path):
    db = version_3_database(tmp_path)
    lone = add_patient(db, "cl1-0009")
    upper = add_patient(db, "CL1-0001")
    lower = add_patient(db, "cl1-0001")
    mixed = add_patient(db, "Cl1-0001")
    assert apply_migrations(db)[0] == 4  # then the later ones
    codes = dict(db.execute("SELECT id, code FROM patients").fetchall())
    assert codes == {lone: "CL1-0009", upper: "CL1-0001", lower: "cl1-0001", mixed: "Cl1-0001"}
    report = db.execute("SELECT value FROM service_state WHERE key = ?", [CODE_COLLISIONS_KEY]).fetchone()[0]
    assert json.loads(report) == [[upper, lower, mixed]]
    assert "cl1" not in report.lower()  # ids only: the report is no place for a code


def test_without_clashes_nothing_is_reported(tmp_path):
    db = version_3_database(tmp_path)
    add_patient(db, "ab-1")
    apply_migrations(db)
    assert db.execute("SELECT code FROM patients").fetchall() == [("AB-1",)]
    assert db.execute("SELECT 1 FROM service_state WHERE key = ?", [CODE_COLLISIONS_KEY]).fetchone() is None


def test_values_that_broke_every_read_are_repaired(tmp_path):
    db = version_3_database(tmp_path)
    broken = add_patient(db, "CL1-0002", symptoms="null", medications="null")
    fine = add_patient(db, "CL1-0003", symptoms='["dry_cough"]')
    deep = {}
    level = deep
    for _ in range(800):
        level["a"] = {}
        level = level["a"]
    visits = {name: db["visits"].insert({"patient_id": fine, "draft": draft, "started_at": "t",
                                         "updated_at": "t"}).last_pk
              for name, draft in (("deep", json.dumps(deep)), ("kept", '{"tab": "labs"}'))}
    apply_migrations(db)
    rows = {row[0]: row[1:] for row in db.execute("SELECT id, symptoms, medications FROM patients")}
    assert rows[broken] == ("[]", "[]") and rows[fine] == ('["dry_cough"]', "[]")
    drafts = dict(db.execute("SELECT id, draft FROM visits").fetchall())
    assert drafts == {visits["deep"]: "{}", visits["kept"]: '{"tab": "labs"}'}
