"""The stand-in password hash a sign-in checks against when the name is unknown, so that a wrong
name costs the same argon2 work as a wrong password and an answer's time never tells whether an
account exists (the clinic's users, ``edge.auth``, and the hospital's programme viewers and readers,
``imaging_server.browser_sign_in``).

It is made on first use, not at import: one argon2id hash takes 0.1-0.6 s on the clinic box, which
every command line call that signs nobody in would otherwise pay. Each server makes it when its app
is created (:func:`stand_in_hash` in ``create_app``), so its first unknown name is not slower than
the rest.
"""
from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher


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
