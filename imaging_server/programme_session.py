"""The programme view's browser sign-in: the programme viewers' door of :mod:`imaging_server.browser_sign_in`
(``programme_viewer_passwords``, ``programme_sessions``, ``programme_sign_in_failures``,
``programme_sign_in_audit``), under the names the programme view and its tests use. The rules, and
the constants that tune them, are that module's."""
from __future__ import annotations

from imaging_server.browser_sign_in import DOORS, SWEEP_BATCH  # noqa: F401 - re-exported

DOOR = DOORS["programme viewer"]
set_password = DOOR.set_password
sign_in = DOOR.sign_in
forget_old_sign_ins = DOOR.forget_old_sign_ins
session_viewer = DOOR.session_holder
sign_out = DOOR.sign_out
