"""Logging in and out, the current session, and changing one's password."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from edge import auth as authentication
from edge.api.operations import ANY_ROLE, SESSION_COOKIE, operation, set_session_cookie
from edge.errors import AuthenticationError
from edge.form_drafts import sweep_ended_sessions
from edge.schemas import LoginRequest, PasswordChange, PasswordChanged, Session, User
from edge.users import public_view, set_password

blueprint = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


def _resources():
    return current_app.extensions["ildscreen"]


@operation(blueprint, "/login", "POST", summary="Log in: starts a browser session (cookie) and returns its CSRF token",
           roles=None, body=LoginRequest, response=Session, errors=(401,))
def login(body: LoginRequest):
    resources = _resources()
    db = resources.db()
    user = authentication.verify_login(db, body.username, body.password, resources.lockout_policy)
    grant = authentication.start_session(db, user, hours=resources.settings.session_hours)
    # As at the tablet's login: a login is a natural moment to drop what ended sessions still hold.
    sweep_ended_sessions(db)
    payload = Session(user=public_view(grant.user), csrf_token=grant.csrf_token, expires_at=grant.expires_at)
    response = jsonify(payload.model_dump(mode="json"))
    set_session_cookie(response, grant, resources.settings)
    return response


@operation(blueprint, "/logout", "POST", summary="End the browser session", roles=ANY_ROLE,
           allow_pending_password=True, never_answers=(409,))
def logout():
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        authentication.end_session(_resources().db(), token)
    response = jsonify({"logged_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@operation(blueprint, "/session", "GET", summary="The current browser session and its CSRF token",
           roles=ANY_ROLE, response=Session, allow_pending_password=True)
def current_session():
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthenticationError("no browser session: bearer-token clients have no session")
    user, session = authentication.session_user(_resources().db(), token)
    return {"user": public_view(user), "csrf_token": session["csrf_token"], "expires_at": session["expires_at"]}


@operation(blueprint, "/me", "GET", summary="The authenticated user", roles=ANY_ROLE, response=User,
           allow_pending_password=True)
def me():
    return public_view(g.user)


@operation(blueprint, "/password", "POST",
           summary="Change one's own password (required after a one-time password); ends every other session "
                   "and every bearer token of the account",
           roles=ANY_ROLE, body=PasswordChange, response=PasswordChanged, allow_pending_password=True,
           never_answers=(409,))
def change_password(body: PasswordChange):
    resources = _resources()
    db = resources.db()
    authentication.verify_current_password(db, g.user, body.current_password, resources.lockout_policy,
                                           token_hash=g.get("token_hash"))
    session_token = request.cookies.get(SESSION_COOKIE)
    keep = authentication.hash_token(session_token) if session_token else None
    ended = set_password(db, g.actor, g.user["id"], body.new_password, keep_session_hash=keep)
    return {"password_changed": True, "sessions_and_tokens_ended": ended}
