"""The service's database connections: one per server thread, clean between requests."""
import threading

from support import login


def test_a_thread_keeps_its_connection_across_requests(app, client, nurse):
    resources = app.extensions["ildscreen"]
    assert client.get("/api/v1/patients").status_code == 200
    first = resources._connections.db
    assert client.get("/api/v1/patients").status_code == 200
    assert resources._connections.db is first

    seen = []

    def other_thread():
        with app.test_client() as other:
            login(other, "nurse1")
            other.get("/api/v1/patients")
            seen.append(resources._connections.db)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(30)
    assert seen and seen[0] is not first


def test_teardown_rolls_back_what_a_request_left_open(app, db):
    """A statement left uncommitted by a request is not kept and does not hold the write lock."""
    resources = app.extensions["ildscreen"]
    with app.app_context():
        conn = resources.db()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO audit_log (at, action, entity) VALUES ('t', 'left-open', 'x')")
        assert conn.conn.in_transaction
    assert not resources._connections.db.conn.in_transaction
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'left-open'").fetchone()[0] == 0
    db.execute("INSERT INTO audit_log (at, action, entity) VALUES ('t', 'after', 'x')")
    with app.app_context():
        assert resources.db().execute("SELECT COUNT(*) FROM audit_log WHERE action = 'after'").fetchone()[0] == 1
