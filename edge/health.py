"""Liveness (``/healthz``) and readiness (``/readyz``) for the supervisor and the load balancer."""
from __future__ import annotations

import logging
import sqlite3

from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel

from audio_models.errors import ModelError
from edge import __version__
from edge.api.operations import operation
from edge.devices import port_present
from edge.errors import IldscreenError
from edge.inference.bundles import BundleError, ModelStore, integrity_problems
from edge.store.database import utc_now, write_transaction
from edge.store.migrations import LATEST_VERSION, current_version

logger = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)


class Liveness(BaseModel):
    status: str
    version: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, dict]


def check_database() -> dict:
    """The database answers, has the current schema and accepts a write."""
    db = current_app.extensions["ildscreen"].db()
    version = current_version(db)
    if version != LATEST_VERSION:
        return {"ok": False, "reason": f"schema version {version}, expected {LATEST_VERSION}"}
    with write_transaction(db):
        db.execute(
            "INSERT INTO service_state (key, value, updated_at) VALUES ('readiness_probe', 'ok', ?) "
            "ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at",
            [utc_now()],
        )
    return {"ok": True, "schema_version": version}


def check_file_store() -> dict:
    current_app.extensions["ildscreen"].blobs.check_writable()
    return {"ok": True}


def check_models() -> dict:
    """The served bundle's model files match their manifest sha256, the crackle model is loaded,
    and the models folder's active pointer can be read.

    Files are hashed on every probe, so a model swapped or corrupted on disk after start is
    reported at once instead of being loaded at the next restart. A pointer that became
    unreadable fails too: the next start would serve no models.
    """
    resources = current_app.extensions["ildscreen"]
    selection = resources.model_bundle
    if selection.error:
        return {"ok": False, "reason": f"bundle: {selection.error}", "bundle": None, "models": {}}
    registry = selection.registry
    problems = {**resources.model_errors,
                **integrity_problems(selection.bundle_id, registry, resources.settings.model_signing_keys)}
    models = {}
    for name, entry in registry.manifest["models"].items():
        try:
            status = registry.validation(name)
        except ModelError as exc:
            problems[name] = str(exc)
            continue
        models[name] = {"version": entry["version"], "synthetic": status.synthetic, "validation": status.statement}
    notes = list(resources.model_notes)
    store = ModelStore(resources.settings.models_path)
    try:
        active, _ = store.active()
    except BundleError as exc:
        problems["bundle"] = str(exc)
    else:
        if active != selection.bundle_id:
            notes.append(f"bundle {active} is active in {store.root}; restart the service to serve it")
    checked = {"bundle": selection.bundle_id, "models": models}
    if problems:
        return {"ok": False, "reason": "; ".join(f"{key}: {value}" for key, value in sorted(problems.items())),
                **checked}
    return {"ok": True, **checked, "notes": notes}


def check_boards() -> dict:
    """Every board configured in ``device_ports`` is plugged in (its port is there).

    Presence only: a probe never talks to a board, so it cannot disturb a running capture.
    Boards registered later through the API are not part of readiness.
    """
    resources = current_app.extensions["ildscreen"]
    known = {status["port"]: status for status in resources.devices.statuses()}
    boards = {}
    for port in resources.settings.device_ports:
        status = known.get(port, {})
        boards[port] = {"present": port_present(port), "connected": status.get("connected", False),
                        "busy": status.get("busy", False)}
    missing = [port for port, board in boards.items() if not board["present"]]
    if missing:
        return {"ok": False, "reason": f"configured board port missing: {', '.join(missing)}", "boards": boards}
    return {"ok": True, "boards": boards}


READINESS_CHECKS = {"database": check_database, "file_store": check_file_store, "models": check_models,
                    "boards": check_boards}


@operation(blueprint, "/healthz", "GET", summary="The process is alive", roles=None, response=Liveness)
def healthz():
    return {"status": "ok", "version": __version__}


@operation(blueprint, "/readyz", "GET",
           summary="Ready to serve: database writable, file store writable, models loaded, configured boards present",
           roles=None, response=Readiness)
def readyz():
    checks = {}
    for name, check in READINESS_CHECKS.items():
        try:
            checks[name] = check()
        except (IldscreenError, OSError, sqlite3.Error) as exc:
            logger.warning("readiness check %s failed: %s", name, exc)
            checks[name] = {"ok": False, "reason": str(exc)}
    ready = all(check["ok"] for check in checks.values())
    if ready:
        return {"ready": True, "checks": checks}
    response = jsonify({"ready": False, "checks": checks})
    response.status_code = 503
    return response
