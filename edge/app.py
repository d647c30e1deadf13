"""The Flask application factory of the clinic service (flaskr pattern: no global app)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Optional

import sqlite_utils
from flask import Flask, current_app, g, render_template, request

from firmware_interface import DeviceManager

from edge.api import assessments as assessments_api
from edge.api import audit as audit_api
from edge.api import devices as devices_api
from edge.api import monitoring as monitoring_api
from edge.api import auth as auth_api
from edge.api import openapi as openapi_api
from edge.api import outcomes as outcomes_api
from edge.api import patients as patients_api
from edge.api import referrals as referrals_api
from edge.api import users as users_api
from edge.api import visit_data as visit_data_api
from edge.api.operations import IdConverter
from common.http_security import register_security_headers
from common.passwords import stand_in_hash
from common.web import register_error_handlers, register_request_log
from edge import health, recordings
from audio_models.errors import ModelError
from edge.auth import LockoutPolicy
from edge.inference.bundles import SelectedBundle, select_active_bundle
from edge.inference.models import LoadedModel
from edge.regional_validation import select_active_regional_validation
from edge.site_calibration import select_active_calibration
from edge.devices import register_ports
from edge.config import Settings, load_settings
from edge.errors import IldscreenError, PayloadTooLarge
from edge.service import DataFolder, prepare_data_folder
from edge.store.blobs import BlobStore
from edge.users import password_hasher
from edge.web import dashboard as dashboard_views
from edge.web import views as ui_views
from edge.web.i18n import error_message, negotiate_language

logger = logging.getLogger(__name__)
BLUEPRINTS = (ui_views.blueprint, health.blueprint, openapi_api.blueprint, auth_api.blueprint, patients_api.blueprint,
              users_api.blueprint, audit_api.blueprint, assessments_api.blueprint, referrals_api.blueprint,
              devices_api.blueprint, visit_data_api.blueprint, outcomes_api.blueprint, monitoring_api.blueprint,
              dashboard_views.blueprint)


@dataclass
class Resources:
    """What views reach through ``current_app.extensions["ildscreen"]``."""

    settings: Settings
    folder: DataFolder
    lockout_policy: LockoutPolicy
    devices: DeviceManager
    model_bundle: Optional[SelectedBundle] = None
    auscultation_model: Optional[LoadedModel] = None
    model_errors: dict = field(default_factory=dict)
    model_notes: list = field(default_factory=list)
    first_admin_password: Optional[str] = None
    _connections: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def blobs(self) -> BlobStore:
        return self.folder.blobs

    def db(self) -> sqlite_utils.Database:
        """This request's database connection: the serving thread's own, opened on first use.

        Each server thread keeps its connection for its next requests. Opening one per request
        cost a connect and four PRAGMAs, and closing the last connection of a WAL database
        checkpoints it: several ms of every request. Teardown rolls back anything left open.
        """
        if "db" not in g:
            if getattr(self._connections, "db", None) is None:
                self._connections.db = self.folder.connect()
            g.db = self._connections.db
        return g.db


def create_app(settings: Optional[Settings] = None) -> Flask:
    """Build the service for one data folder: migrate it, create the first admin if needed.

    The first admin's one-time password, when this call created it, is left in
    ``app.extensions["ildscreen"].first_admin_password`` for the caller to show once.
    """
    settings = settings or load_settings()
    folder, first_admin_password = prepare_data_folder(settings)
    stand_in_hash(password_hasher)  # now, so the first unknown name takes as long as any (common.passwords)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json.sort_keys = False
    app.url_map.converters["int"] = IdConverter  # ids beyond SQLite's integers are a 404, not a 500
    app.extensions["ildscreen"] = Resources(
        settings=settings,
        folder=folder,
        lockout_policy=LockoutPolicy(settings.lockout_threshold, settings.lockout_minutes),
        devices=DeviceManager(),
        first_admin_password=first_admin_password,
    )
    recordings.DECODE_SLOTS.configure(settings.audio_max_concurrent_decodes, settings.audio_decode_wait_s)
    register_ports(app.extensions["ildscreen"].devices, settings.device_ports)
    load_models(app.extensions["ildscreen"])
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    audit_api.register_read_audit(app)
    # JSON on the API and probes, a page in the nurse's language on the tablet; never a traceback.
    register_error_handlers(app, logger, domain_error=IldscreenError, too_large=_too_large,
                            wants_json=_wants_json, error_page=_error_page)
    register_request_log(app, logger, _caller)
    register_security_headers(app, secure_cookies=lambda: app.extensions["ildscreen"].settings.secure_cookies)
    app.teardown_appcontext(close_db)

    return app


def load_models(resources: Resources) -> None:
    """Serve the active bundle of the models folder and load (sha256-verified, warmed up) its
    crackle model; a failure is kept for /readyz.

    The bundle is chosen here, once: an activation while the service runs takes effect at the
    next start, so no visit is scored with a mix of model versions.
    """
    settings = resources.settings
    resources.model_bundle = select_active_bundle(settings.models_path, settings.model_signing_keys)
    select_active_calibration(settings.models_path)
    select_active_regional_validation(settings.models_path, settings.model_signing_keys)
    if resources.model_bundle.error:
        logger.error("no model bundle served: %s", resources.model_bundle.error)
        return
    logger.info("serving model bundle %s", resources.model_bundle.bundle_id)

    def fell_back(reason: str) -> None:
        logger.warning("inference backend fallback: %s", reason)
        resources.model_notes.append(reason)

    try:
        resources.auscultation_model = resources.model_bundle.registry.load(
            "auscultation", backend_type=settings.inference_backend, threads=settings.inference_threads,
            cache_dir=settings.engine_cache_path, on_fallback=fell_back)
    except ModelError as exc:
        logger.error("auscultation model not loaded: %s", exc)
        resources.model_errors["auscultation"] = str(exc)


def close_db(_exc: Optional[BaseException]) -> None:
    """End the request's use of its thread's connection: nothing stays in a transaction."""
    db = g.pop("db", None)
    if db is not None and db.conn.in_transaction:
        db.conn.rollback()


def _too_large() -> PayloadTooLarge:
    """What a body over the upload limit is: a 413 naming the configured limit."""
    limit_mb = current_app.extensions["ildscreen"].settings.max_upload_mb
    return PayloadTooLarge(f"request body is larger than the {limit_mb:g} MB upload limit")


def _error_page(code: str, detail: str, status: int):
    """The tablet's error page, in the nurse's language (a page, never JSON or a traceback)."""
    lang = negotiate_language()
    try:
        return render_template("message.html", message=error_message(code, lang, detail)), status
    except Exception:  # noqa: BLE001 - the page itself failed (e.g. the database is gone): plain text
        logger.exception("error page could not be rendered")
        return error_message(code, lang), status, {"Content-Type": "text/plain; charset=utf-8"}


def _wants_json() -> bool:
    """API and probe paths answer JSON, and so does a page's script (a JSON body or its fetch
    header, as for the visit draft); the tablet pages answer HTML."""
    return (request.path.startswith(("/api/", "/healthz", "/readyz")) or request.is_json
            or request.headers.get("X-Requested-With") == "fetch")


def _caller() -> str:
    """Who made the request, for the request log: a user id, never a name."""
    user = g.get("actor")
    return f"user={user.user_id if user else '-'}"
