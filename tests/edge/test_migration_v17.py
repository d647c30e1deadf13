"""Schema migration 17 on a version-14 database: visits and user accounts get the ``version`` an edit
is checked against (brief h80); every row is kept as it was and starts at version 1, as a new one
does, and an edit saved after the upgrade is checked against it and raises it."""
import pytest

from edge import audit
from edge.errors import EditConflict
from edge.patients import create_patient, create_visit, update_visit
from edge.store.migrations import apply_migrations
from edge.users import create_user, update_user
from support import PASSWORD, PATIENT, database_at, migrations_up_to

UP_TO_17 = migrations_up_to(17)


def test_visits_and_users_keep_their_rows_and_start_at_version_1(tmp_path):
    db = database_at(tmp_path / "v14.db", 14)
    patient = create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))["id"]
    visits = [create_visit(db, audit.CLI_OPERATOR, patient, notes=f"visit {n}")["id"] for n in (1, 2)]
    user, _ = create_user(db, audit.CLI_OPERATOR, username="amy", role="nurse", password=PASSWORD)
    db.conn.commit()
    before = {table: list(db[table].rows) for table in ("visits", "users")}
    assert "version" not in db["visits"].columns_dict and "version" not in db["users"].columns_dict

    assert 17 in apply_migrations(db, migrations=UP_TO_17)

    for table in ("visits", "users"):
        assert [{k: v for k, v in row.items() if k != "version"} for row in db[table].rows] == before[table]
        assert {row["version"] for row in db[table].rows} == {1}
    with pytest.raises(EditConflict, match="now version 1"):
        update_visit(db, audit.CLI_OPERATOR, visits[0], {"notes": "edited"}, version=0)
    assert update_visit(db, audit.CLI_OPERATOR, visits[0], {"notes": "edited"}, version=1)["version"] == 2
    assert update_user(db, audit.CLI_OPERATOR, user["id"], full_name="Amy Li", version=1)["version"] == 2
    assert apply_migrations(db, migrations=UP_TO_17) == []  # applied once
