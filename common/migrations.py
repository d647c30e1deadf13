"""The order rule of schema migrations, shared by the clinic's and the hospital's stores.

Migrations are appended, never inserted: a database records the versions it has applied, and a
declared migration below the newest applied version that the database never ran (a branch
merged late, a version number reused) would leave its schema different from every other
clinic's. Such a database is refused with a message instead of being skipped silently.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Optional


def migration_order_problem(declared: Sequence[tuple[int, str]], applied: Iterable[int]) -> Optional[str]:
    """Why ``declared`` migrations cannot be applied in order to a database holding ``applied``.

    Parameters
    ----------
    declared : sequence of (version, name)
        The software's migrations, in the order it applies them.
    applied : iterable of int
        The versions the database records as applied.

    Returns
    -------
    str or None
        None when every pending migration is newer than every applied one.

    Examples
    --------
    >>> migration_order_problem([(1, "a"), (2, "b")], [1])
    >>> migration_order_problem([(1, "a"), (2, "b"), (3, "c")], [1, 3])
    'migration 2 (b) is not applied but the database is already at version 3: migrations must be appended after the newest, never inserted below it'
    """
    versions = [version for version, _ in declared]
    for earlier, later in zip(versions, versions[1:]):
        if later <= earlier:
            return f"migrations are out of order: version {later} is declared after version {earlier}"
    applied = set(applied)
    newest = max(applied, default=0)
    unknown = sorted(applied - set(versions))
    if unknown and unknown[0] <= max(versions, default=0):
        return (f"the database records migration {unknown[0]}, which this software does not declare: "
                "it was migrated by a different build")
    for version, name in declared:
        if version not in applied and version < newest:
            return (f"migration {version} ({name}) is not applied but the database is already at version {newest}: "
                    "migrations must be appended after the newest, never inserted below it")
    return None
