"""The stand-in password hash a sign-in checks against when the name is unknown, so that a wrong
name costs the same argon2 work as a wrong password and an answer's time never tells whether an
account exists (the clinic's users, ``edge.auth``, and the hospital's programme viewers and readers,
``imaging_server.browser_sign_in``).

It is made on first use, not at import: one argon2id hash takes 0.1-0.6 s on the clinic box, which
every command line call that signs nobody in would otherwise pay. Each server makes it when its app
is created (:func:`stand_in_hash` in ``create_app``), so its first unknown name is not slower than
the rest.

Both servers also take a password of at most :data:`MAX_PASSWORD_LENGTH` characters, at every door
(sign-in, password change, account creation): argon2 hashes all of a password, so a longer one is
refused (:func:`check_password_length`) before anything is hashed, looked up or counted.
"""
from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher

from common.errors import DomainError

# The longest password taken. Far above any typed or generated one (a passphrase of 100 words fits),
# while megabytes posted to a sign-in form cannot make the box hash them: a programme choice.
MAX_PASSWORD_LENGTH = 1024


@functools.lru_cache(maxsize=None)
def stand_in_hash(hasher: PasswordHasher) -> str:
    """The stand-in hash of ``hasher`` (the same string every call in a process: callers may test
    ``stored is stand_in_hash(hasher)``); its password is random and never kept.

    Examples
    --------
    >>> hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    >>> stand_in_hash(hasher) is stand_in_hash(hasher), stand_in_hash(hasher).startswith("$argon2id$")
    (True, True)
    """
    return hasher.hash(secrets.token_urlsafe(16))


def check_password_length(password: str, error: type[DomainError], *, field: str = "password") -> None:
    """Raise ``error`` (the server's validation error) naming ``field`` and the limit when
    ``password`` has more than :data:`MAX_PASSWORD_LENGTH` characters. It looks at nothing but the
    text, so the answer is the same whether or not the account exists.

    Examples
    --------
    >>> check_password_length("x" * MAX_PASSWORD_LENGTH, DomainError)
    >>> check_password_length("x" * 1025, DomainError, field="new_password")
    Traceback (most recent call last):
    ...
    common.errors.DomainError: the new password has 1025 characters; at most 1024
    """
    if len(password) > MAX_PASSWORD_LENGTH:
        reason = f"{len(password)} characters; at most {MAX_PASSWORD_LENGTH}"
        raise error(f"the {field.replace('_', ' ')} has {reason}", fields=[{"field": field, "reason": reason}])
