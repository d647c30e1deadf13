"""Child Python processes that run the code this process imported. Standard library only."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, Optional

#: The folder that holds this project's packages (``common``, ``edge``, ``imaging_server``, ...).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def module_command(module: str, *args: str, env: Optional[Mapping[str, str]] = None,
                   root: Optional[Path] = None) -> dict:
    """The ``subprocess.run`` / ``Popen`` keyword arguments ``args``, ``cwd`` and ``env`` of
    ``python -m MODULE ARGS`` on this process's interpreter and code (``root``: another checkout's code,
    e.g. a benchmark's baseline; default ``PROJECT_ROOT``).

    ``python -m`` puts its working directory first on ``sys.path``: started from a folder that holds
    another copy of the project (a checkout, a worktree, a package of the same name), the child would
    import that copy, and a benchmark would time other code than the one it reports for. So the child
    starts in ``PROJECT_ROOT``, which also leads its ``PYTHONPATH`` (for the child's own imports
    elsewhere). Paths among ``args`` must be absolute. ``env``: the child's environment (default:
    this process's).

    Examples
    --------
    >>> command = module_command("imaging_server.bench", "/tmp/series")
    >>> command["args"][1:], command["cwd"] == str(PROJECT_ROOT)
    (['-m', 'imaging_server.bench', '/tmp/series'], True)
    """
    root = Path(root) if root is not None else PROJECT_ROOT
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), environment.get("PYTHONPATH")]))
    return {"args": [sys.executable, "-m", module, *args], "cwd": str(root), "env": environment}
