"""An admin revokes one API token (a lost importer's, say) without ending the account's other tokens
and sessions: over the API and the CLI, audited without the token or its hash, with a 404 JSON error
naming the id for a token that is not the account's; revoking it again changes nothing and says so."""
import json

import pytest

from edge import audit
from edge.auth import create_api_token, hash_token
from edge.cli import cli
from support import PASSWORD, login


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def importer(db, make_user):
    """A nurse account with two tokens: (user, [(token_id, token), ...])."""
    user = make_user("lab-nurse", "nurse")
    return user, [create_api_token(db, audit.CLI_OPERATOR, user["id"], name) for name in ("lab importer", "e-nose")]


def test_an_admin_revokes_one_token_and_the_accounts_other_token_and_session_go_on(client, db, admin, importer):
    user, [(lost_id, lost), (kept_id, kept)] = importer
    nurse_client = client.application.test_client()
    nurse_session = login(nurse_client, "lab-nurse")
    assert client.get("/api/v1/patients", headers=bearer(lost)).status_code == 200

    response = client.post(f"/api/v1/users/{user['id']}/tokens/{lost_id}/revoke", headers=admin)

    assert response.status_code == 200, response.json
    assert response.json["id"] == lost_id and response.json["name"] == "lab importer"
    assert response.json["revoked_at"] and "token_hash" not in response.json
    assert client.get("/api/v1/patients", headers=bearer(lost)).status_code == 401
    assert client.get("/api/v1/patients", headers=bearer(kept)).status_code == 200
    assert nurse_client.get("/api/v1/auth/session", headers=nurse_session).status_code == 200
    listed = client.get(f"/api/v1/users/{user['id']}/tokens", headers=admin).json["tokens"]
    assert [(token["id"], token["revoked_at"] is not None) for token in listed] == [(lost_id, True), (kept_id, False)]
    assert all("token_hash" not in token for token in listed)
    entry = db.execute("SELECT username, action, entity, entity_id, detail FROM audit_log "
                       "WHERE action = 'revoke'").fetchall()
    assert entry == [("admin2", "revoke", "token", str(lost_id), json.dumps({"user_id": user["id"]}))]
    trail = json.dumps(db.execute("SELECT * FROM audit_log").fetchall())
    assert lost not in trail and hash_token(lost) not in trail


def test_a_token_that_is_not_the_accounts_is_a_404_naming_it(client, db, admin, importer, make_user):
    user, [(token_id, _), _] = importer
    other = make_user("other-nurse", "nurse")
    cases = [
        (f"/api/v1/users/{user['id']}/tokens/999/revoke", 404, "no API token with id 999"),
        (f"/api/v1/users/{other['id']}/tokens/{token_id}/revoke", 404, f"no API token with id {token_id}"),
        (f"/api/v1/users/999/tokens/{token_id}/revoke", 404, f"no API token with id {token_id}"),
        (f"/api/v1/users/{user['id']}/tokens/abc/revoke", 404, None),
        (f"/api/v1/users/{user['id']}/tokens/{2 ** 70}/revoke", 404, None),
    ]
    for path, status, message in cases:
        response = client.post(path, headers=admin)
        assert response.status_code == status and response.is_json, path
        assert message is None or message in response.json["error"]["message"], response.json
    assert db.execute("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NOT NULL").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'revoke'").fetchone()[0] == 0
    assert client.get("/api/v1/users/999/tokens", headers=admin).status_code == 404


def test_a_revocation_sent_again_answers_200_already_revoked_and_changes_nothing(client, db, admin, importer):
    """Brief h74: a client retrying after a timeout gets the token as the first revocation left it,
    not a 409 for a request that succeeded; no second audit entry, the first revoked_at kept."""
    user, [(token_id, token), (kept_id, kept)] = importer
    path = f"/api/v1/users/{user['id']}/tokens/{token_id}/revoke"
    first = client.post(path, headers=admin)
    assert first.status_code == 200 and first.json["already_revoked"] is False and first.json["revoked_at"]
    stored = db.execute("SELECT * FROM api_tokens ORDER BY id").fetchall()
    trail = db.execute("SELECT * FROM audit_log").fetchall()

    again = client.post(path, headers=admin)

    assert again.status_code == 200, again.json
    assert again.json == {**first.json, "already_revoked": True}
    assert "token_hash" not in again.json
    assert db.execute("SELECT * FROM api_tokens ORDER BY id").fetchall() == stored
    assert db.execute("SELECT * FROM audit_log").fetchall() == trail
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'revoke'").fetchone()[0] == 1
    assert client.get("/api/v1/patients", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/patients", headers=bearer(kept)).status_code == 200
    # A revoked token of the account is still not another account's: that stays a 404.
    other = client.post(f"/api/v1/users/{user['id'] + 100}/tokens/{token_id}/revoke", headers=admin)
    assert other.status_code == 404


def test_only_an_admin_revokes_or_lists_tokens(client, db, importer, make_user):
    user, [(token_id, token), _] = importer
    make_user("nurse2", "nurse")
    nurse = login(client, "nurse2", PASSWORD)
    assert client.post(f"/api/v1/users/{user['id']}/tokens/{token_id}/revoke", headers=nurse).status_code == 403
    assert client.get(f"/api/v1/users/{user['id']}/tokens", headers=nurse).status_code == 403
    # The token's own bearer is a nurse, too: it cannot revoke itself or its neighbour through the admin API.
    assert client.post(f"/api/v1/users/{user['id']}/tokens/{token_id}/revoke",
                       headers=bearer(token)).status_code == 403
    assert db.execute("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NOT NULL").fetchone()[0] == 0


def test_the_cli_lists_the_token_ids_and_revokes_one(app, settings, db, runner, importer):
    user, [(lost_id, lost), (kept_id, _)] = importer
    data_dir = ["--data-dir", str(settings.data_dir)]

    listed = runner.invoke(cli, ["users", "tokens", "lab-nurse", *data_dir])
    assert listed.exit_code == 0 and "lab importer" in listed.output and lost not in listed.output
    revoked = runner.invoke(cli, ["users", "revoke-token", "lab-nurse", str(lost_id), *data_dir])
    assert revoked.exit_code == 0 and f"revoked API token {lost_id} (lab importer) of lab-nurse" in revoked.output
    shown = json.loads(runner.invoke(cli, ["users", "tokens", "lab-nurse", "--json", *data_dir]).output)
    assert [(token["id"], token["revoked_at"] is not None) for token in shown] == [(lost_id, True), (kept_id, False)]
    assert db.execute("SELECT username FROM audit_log WHERE action = 'revoke'").fetchall() == [("cli",)]

    again = runner.invoke(cli, ["users", "revoke-token", "lab-nurse", str(lost_id), *data_dir])
    assert again.exit_code == 0, again.output
    assert f"API token {lost_id} (lab importer) of lab-nurse was already revoked at" in again.output
    assert "nothing changed" in again.output
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'revoke'").fetchone()[0] == 1
    missing = runner.invoke(cli, ["users", "revoke-token", "lab-nurse", "999", *data_dir])
    assert missing.exit_code == 1 and "lab-nurse has no API token with id 999" in missing.output
    nobody = runner.invoke(cli, ["users", "revoke-token", "nobody", str(kept_id), *data_dir])
    assert nobody.exit_code == 1 and "no user named 'nobody'" in nobody.output


def test_the_document_lists_what_a_revocation_answers_and_no_409(client):
    """Brief h85, point 3: a revocation sent again is a 200 (`already_revoked`), and nothing else
    makes it conflict, so the OpenAPI document lists no 409 for it; a write that can conflict (a
    referral's withdrawal, past withdrawing) still lists one."""
    paths = client.get("/api/v1/openapi.json").json["paths"]
    revoke = paths["/api/v1/users/{user_id}/tokens/{token_id}/revoke"]["post"]
    assert set(revoke["responses"]) == {"200", "401", "403", "404"}
    assert revoke["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ApiTokenRevoked"}
    assert "already_revoked" in revoke["summary"]
    assert "409" in paths["/api/v1/referrals/{referral_id}/withdraw"]["post"]["responses"]
