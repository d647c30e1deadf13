"""The referral API of the CT service (Flask application factory, no global app).

Routes (contract in ``imaging_server/README.md``):

- ``POST /api/v1/referrals``: idempotent create from a FHIR Bundle (``Idempotency-Key``).
- ``GET /api/v1/referrals/<code>``: status.
- ``GET /api/v1/referrals/<code>/report``: metrics, FHIR DiagnosticReport, algorithm.
- ``POST /api/v1/referrals/<code>/revoke``: the clinic withdrew it (ServiceRequest ``revoked``).
- ``GET /healthz``: the process is alive (no token).
- ``GET /readyz``: the database answers and holds the current schema and, when the PACS is
  watched, the PACS answers a study search (no token); 503 otherwise.
- ``POST /api/v1/programme/figures`` (clinic token), ``GET /api/v1/programme/dashboard`` and
  ``GET /programme`` (programme viewer token): the programme view (:mod:`imaging_server.programme`).
- ``/api/v1/reader/...``: a radiologist's review of a report's nodules and ILD read (reader
  tokens; :mod:`imaging_server.nodule_review`, :mod:`imaging_server.ild_read`), and the worklist and
  each referral with the clinic's notes, also as pages under ``/reader`` for a reader signed in
  there with a password (:mod:`imaging_server.worklist`).

Every ``/api/v1`` call needs ``Authorization: Bearer <clinic token>``; a clinic sees only its own
referrals. Errors are JSON ``{"error": {"code", "message", "fields"?}}``, never a traceback.
"""
from __future__ import annotations

import logging
from typing import Optional

from flask import Blueprint, Flask, g, jsonify, request

from common.http_security import register_security_headers
from common.passwords import stand_in_hash
from common.web import register_error_handlers, register_request_log
from imaging_server import ALGORITHM_NAME, ALGORITHM_VERSION, ild_read  # noqa: F401 - ild_read adds its routes
from imaging_server.config import ImagingSettings, load_settings
from imaging_server.errors import ImagingError, StorageError
from imaging_server.ingest import check_pacs
from imaging_server.nodule_review import review_api
from imaging_server.openapi import openapi_document
from imaging_server.programme import figures_api
from imaging_server.programme_i18n import settle_page_language
from imaging_server.browser_sign_in import forget_old_sign_ins, password_hasher
from imaging_server.request_body import json_body
from imaging_server.referrals import create_referral, referral_for_clinic, report_view, revoke_referral, status_view
from imaging_server.store import MIGRATIONS, clinic_for_token, current_version, prepare_database, request_db
from imaging_server.worklist import reader_pages

logger = logging.getLogger(__name__)

MAX_BUNDLE_BYTES = 1024 * 1024
api = Blueprint("referrals", __name__, url_prefix="/api/v1")


def create_app(settings: Optional[ImagingSettings] = None, *, pacs_watched: bool = False) -> Flask:
    """Build the API for one data folder and database, creating and migrating the database.

    ``pacs_watched``: the PACS watcher runs beside the API (``serve`` without ``--no-watch``),
    so ``/readyz`` is ready only while the PACS answers too.
    """
    settings = settings or load_settings()
    db = prepare_database(settings.database_target, pool_size=settings.pool_size)
    # Sign-in attempts past their retention (and ended sessions) that piled up while the server was
    # off or nobody signed in go now, all of them; each later attempt sweeps a batch.
    forget_old_sign_ins(db, retention_days=settings.sign_in_audit_retention_days)
    db.close()
    stand_in_hash(password_hasher)  # now, so the first unknown name takes as long as any (common.passwords)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BUNDLE_BYTES
    app.json.sort_keys = False
    app.extensions["imaging_server"] = settings
    app.register_blueprint(api)
    app.register_blueprint(review_api)
    app.register_blueprint(figures_api)
    app.register_blueprint(reader_pages)
    register_error_handlers(app, logger, domain_error=ImagingError)  # JSON errors, never a traceback
    register_security_headers(app, secure_cookies=lambda: app.extensions["imaging_server"].secure_cookies)
    app.after_request(settle_page_language)  # a door's former lang cookie shadowing the shared one goes at once
    register_request_log(app, logger, _caller)
    app.teardown_appcontext(_close_db)

    @app.get("/api/v1/openapi.json")
    def openapi_json():
        return jsonify(openapi_document())

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok", "algorithm": {"name": ALGORITHM_NAME, "version": ALGORITHM_VERSION}})

    @app.get("/readyz")
    def readyz():
        try:
            version = current_version(request_db())
        except StorageError as exc:
            return jsonify({"status": "not_ready", "reason": exc.message}), 503
        if version != MIGRATIONS[-1][0]:
            return jsonify({"status": "not_ready", "reason": f"database schema version {version}, "
                                                             f"expected {MIGRATIONS[-1][0]}"}), 503
        pacs = check_pacs(settings) if pacs_watched else {"ok": True, "watched": False}
        if not pacs["ok"]:
            return jsonify({"status": "not_ready", "reason": pacs["reason"], "schema_version": version,
                            "pacs": pacs}), 503
        return jsonify({"status": "ready", "schema_version": version, "pacs": pacs})

    return app


def _close_db(_exc: Optional[BaseException]) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


@api.before_request
def authenticate_clinic():
    g.clinic = clinic_for_token(request_db(), request.headers.get("Authorization"))


@api.post("/referrals")
def post_referral():
    bundle = json_body()
    body, created = create_referral(request_db(), g.clinic, bundle, request.headers.get("Idempotency-Key"))
    return jsonify(body), 201 if created else 200


@api.get("/referrals/<code>")
def get_referral(code: str):
    return jsonify(status_view(referral_for_clinic(request_db(), g.clinic, code)))


@api.post("/referrals/<code>/revoke")
def post_revoke(code: str):
    return jsonify(revoke_referral(request_db(), g.clinic, code))


@api.get("/referrals/<code>/report")
def get_report(code: str):
    db = request_db()
    return jsonify(report_view(db, referral_for_clinic(db, g.clinic, code)))


def _caller() -> str:
    """Who acted, for the request log: a clinic by its name (an institution, as its other log lines
    name it); a reader or a programme viewer by their row's id, never their name, as the clinic service
    logs its users (``user=<id>``); ``-`` before anyone is known (a sign-in, a refused token)."""
    clinic, reader, viewer = g.get("clinic"), g.get("reader"), g.get("viewer")
    if clinic:
        return f"clinic={clinic['name']}"
    if reader:
        return f"reader={reader['id']}"
    if viewer:
        return f"viewer={viewer['id']}"
    return "clinic=-"
