"""Schema migration 8 on a version-7 database: the PIN and session-lock columns arrive, and the
accounts, sessions and clinical records already there stay as they were."""
from edge.store.database import open_database
from edge.store.migrations import MIGRATIONS, apply_migrations, current_version


def test_migration_8_adds_pin_and_lock_columns_and_keeps_every_row(tmp_path):
    db = open_database(tmp_path / "v7.db")
    apply_migrations(db, migrations=tuple(m for m in MIGRATIONS if m.version <= 7))
    assert current_version(db) == 7
    user = db["users"].insert({"username": "nurse1", "role": "nurse", "password_hash": "$argon2id$x",
                               "created_at": "t"}).last_pk
    db["sessions"].insert({"token_hash": "h1", "user_id": user, "csrf_token": "c", "created_at": "t",
                           "expires_at": "2999-01-01T00:00:00+00:00"})
    patient = db["patients"].insert({"code": "CL8-0001", "birth_year": 1950, "sex": "F", "ctd_diagnosis": "SSc",
                                     "created_at": "t", "updated_at": "t"}).last_pk
    before = {table: list(db[table].rows) for table in ("users", "sessions", "patients")}

    up_to_8 = tuple(m for m in MIGRATIONS if m.version <= 8)
    assert apply_migrations(db, migrations=up_to_8) == [8]
    assert current_version(db) == 8
    users = list(db["users"].rows)
    assert users == [{**before["users"][0], "pin_hash": None}]  # no PIN until the nurse sets one
    assert list(db["sessions"].rows) == [{**before["sessions"][0], "locked_at": None, "failed_pins": 0}]
    assert list(db["patients"].rows) == before["patients"] and before["patients"][0]["id"] == patient
    assert apply_migrations(db, migrations=up_to_8) == []  # applied once
