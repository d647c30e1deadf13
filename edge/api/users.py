"""User administration (admin role only) and bearer tokens for machine clients."""
from __future__ import annotations

from flask import Blueprint, current_app, g

from edge import auth, users
from edge.api.operations import ADMIN_ROLES, operation
from edge.schemas import (ApiTokenList, ApiTokenRevoked, TokenCreate, TokenCreated, UserCreate, UserCreated, UserList,
                           UserUpdate, User)

blueprint = Blueprint("users", __name__, url_prefix="/api/v1")


def _db():
    return current_app.extensions["ildscreen"].db()


@operation(blueprint, "/users", "GET", summary="All user accounts", roles=ADMIN_ROLES, response=UserList)
def list_users():
    return {"users": [users.public_view(user) for user in users.list_users(_db())]}


@operation(blueprint, "/users", "POST", summary="Create an account (one-time password if none given)",
           roles=ADMIN_ROLES, body=UserCreate, response=UserCreated, status=201)
def create_user(body: UserCreate):
    user, one_time = users.create_user(_db(), g.actor, username=body.username, role=body.role, password=body.password,
                                       full_name=body.full_name)
    return {**users.public_view(user), "one_time_password": one_time}


@operation(blueprint, "/users/<int:user_id>", "PATCH",
           summary="Change a role or the full name, disable or re-enable an account, against the `version` read "
                   "(required: 422 naming it when left out; 409 `edit_conflict` when edited since; nothing saved "
                   "either way)",
           roles=ADMIN_ROLES, body=UserUpdate, response=User)
def update_user(user_id: int, body: UserUpdate):
    return users.public_view(users.update_user(_db(), g.actor, user_id, role=body.role, disabled=body.disabled,
                                               full_name=body.full_name, version=body.version))


@operation(blueprint, "/users/<int:user_id>/tokens", "POST",
           summary="Issue a bearer token for a machine client acting as an admin account (403 for a nurse or "
                   "clinician: their tokens come from the local operator, 'ildscreen users token')",
           roles=ADMIN_ROLES, body=TokenCreate, response=TokenCreated, status=201, never_answers=(409,))
def create_token(user_id: int, body: TokenCreate):
    token_id, token = auth.create_api_token(_db(), g.actor, user_id, body.name)
    return {"id": token_id, "name": body.name, "token": token}


@operation(blueprint, "/users/<int:user_id>/tokens", "GET",
           summary="The account's bearer tokens, revoked ones included (never the token or its hash)",
           roles=ADMIN_ROLES, response=ApiTokenList)
def list_tokens(user_id: int):
    return {"tokens": auth.list_api_tokens(_db(), user_id)}


@operation(blueprint, "/users/<int:user_id>/tokens/<int:token_id>/revoke", "POST",
           summary="Revoke one bearer token of the account at once (its other tokens and sessions go on; 404 when "
                   "the account has no such token); audited. Sent again: 200 with `already_revoked`, nothing "
                   "changed",
           roles=ADMIN_ROLES, response=ApiTokenRevoked, never_answers=(409,))
def revoke_token(user_id: int, token_id: int):
    revocation = auth.revoke_api_token(_db(), g.actor, user_id, token_id)
    return {**revocation.token, "already_revoked": revocation.already}
