"""The regional programme view: clinics' de-identified figures in, a dashboard per clinic and overall out.

Routes (contract in ``imaging_server/README.md``):

- ``POST /api/v1/programme/figures`` (clinic token, as referrals): one clinic's aggregate figures
  for a reporting month (:mod:`imaging_server.programme_figures`, built by
  :func:`edge.programme.programme_figures`).
  Idempotent on clinic + ``period`` + ``sequence``: a replay is 200, a new sequence 201. Every
  payload is kept (the history); the highest sequence of a month is that month's figures, so a
  payload delivered late never replaces a newer one.
- ``GET /api/v1/programme/dashboard`` (JSON) and ``GET /programme`` (HTML, server-drawn SVG, no
  script): per clinic and overall, with flags. Both need a *programme viewer* token
  (``ildscreen imaging-server programme-viewers add NAME``): 401 without a known token, 403 for a
  clinic's or a radiologist's token. In a browser, ``/programme`` without a session shows a
  sign-in form (``POST /programme/sign-in``: viewer name and password, see
  :mod:`imaging_server.programme_session`); an HttpOnly cookie then carries a random session id
  (never the token); ``POST /programme/sign-out`` ends the session. The page is in English or
  Simplified Chinese (``GET /programme/language?to=zh-CN``), times in ``programme_timezone``.

Pooled proportions are Wilson intervals on the summed counts (:mod:`evaluation.proportions`); the
overall calibration weights each clinic's ECE, calibration-in-the-large and slope by its confirmed
outcomes. Suppressed small cells (1 to ``min_cell`` - 1) are left out of sums, and the number left
out is shown, so a pooled count is then a lower bound.

Flags, each with its source or marked a programme assumption with its setting:

- calibration: with at least ``programme_min_outcomes`` confirmed outcomes, ECE above
  ``programme_ece_flag`` or |calibration-in-the-large| above ``programme_citl_flag``
  (programme assumptions: no published threshold; Van Calster et al., J Clin Epidemiol
  2016;74:167-176, ask for far more outcomes for a calibration curve, so this is a signal to
  look, not proof);
- model drift: PSI above 0.10 (some shift) or 0.25 (major shift), the rule of thumb in
  :mod:`evaluation.drift` (Siddiqi 2006);
- data quality: a device's quality-gate refusal share above ``programme_refusal_flag``, a
  modality missing from more than ``programme_missing_flag`` of visits, or either risen by more
  than ``programme_quality_rise`` since the clinic's previous month (programme assumptions);
- reporting: no figures for ``programme_overdue_days`` (programme assumption; clinics send daily);
- versions: a model version older than the newest any clinic runs, or the shipped calibration
  while most reporting clinics run a site calibration.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Optional

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request

from common.http_security import safe_next
from evaluation import svg_plots
from evaluation.drift import PSI_MAJOR_SHIFT, PSI_SOME_SHIFT
from evaluation.proportions import wilson_interval
from imaging_server.errors import AuthenticationError, Conflict, Forbidden, TooManyAttempts, ValidationError
from imaging_server.request_body import json_body
from imaging_server.programme_federation import latest_federation
from imaging_server.programme_figures import Counts, Figures, validate_figures
from imaging_server.programme_i18n import device_text, flag_text, page_context, remember_page_language
from imaging_server.programme_session import session_viewer
from imaging_server.programme_session import sign_in as open_session
from imaging_server.programme_session import sign_out as close_session
from imaging_server.sign_in_pages import (SignInPage, check_sign_out, lockout_policy, refused_form, session_form_token,
                                          sign_in_form, sign_in_token_sent_back, signed_in, signed_out,
                                          too_many_attempts)
from imaging_server.store import (REVOKED_PREFIX, Database, add_token_holder, clinic_for_token, request_db,
                                  token_holder, utc_now)

logger = logging.getLogger(__name__)

VIEWER_TOKEN_PREFIX = "ildpg_"
PAGE_PATH = "/programme"
SESSION_COOKIE = "ildscreen_programme"
SIGN_IN_PAGE = SignInPage(title_key="title_sign_in", heading_key="title", intro_key="sign_in_intro",
                          sign_in_endpoint="programme.sign_in", path=PAGE_PATH, session_cookie=SESSION_COOKIE,
                          form_cookie="ildscreen_programme_sign_in", language_endpoint="programme.switch_language")

figures_api = Blueprint("programme", __name__)


def store_figures(db: Database, clinic: dict, figures: Figures, body: dict) -> tuple[dict, bool]:
    """Keep the payload; return ``(answer, created)``. ``current`` says whether it is now the month's figures.

    Raises
    ------
    Conflict
        The same clinic, period and sequence arrived before with different figures.
    """
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    key = {"clinic_id": clinic["id"], "period": figures.period, "sequence": figures.sequence}
    with db.write():
        # The unique key makes a concurrent duplicate a no-op on both databases; then compare.
        created = db.execute(
            "INSERT INTO programme_figures (clinic_id, period, sequence, payload_sha256, payload, received_at) "
            "VALUES (:clinic_id, :period, :sequence, :digest, :payload, :at) "
            "ON CONFLICT (clinic_id, period, sequence) DO NOTHING RETURNING id",
            {**key, "digest": digest, "payload": json.dumps(body, sort_keys=True), "at": utc_now()}).first() is not None
        stored = db.scalar("SELECT payload_sha256 FROM programme_figures WHERE clinic_id = :clinic_id "
                           "AND period = :period AND sequence = :sequence", key)
        if stored != digest:
            raise Conflict(f"sequence {figures.sequence} of period {figures.period} was already sent with "
                           "different figures")
        newest = db.scalar("SELECT MAX(sequence) AS newest FROM programme_figures WHERE clinic_id = :clinic_id "
                           "AND period = :period", key)
    if created:
        logger.info("programme figures for %s stored for clinic %s", figures.period, clinic["name"])
    return {"period": figures.period, "sequence": figures.sequence, "current": newest == figures.sequence}, created


# --- programme viewers ---------------------------------------------------------------------------

def add_viewer(db: Database, name: str) -> str:
    """Register a programme viewer (programme lead, admin) and return their token
    (:func:`store.add_token_holder`)."""
    return add_token_holder(db, "programme viewer", name, VIEWER_TOKEN_PREFIX)


def viewer_for_token(db: Database, authorization: Optional[str]) -> dict:
    """The programme viewer whose token is in an ``Authorization: Bearer`` header value.

    Raises
    ------
    AuthenticationError
        Missing header or an unknown token.
    Forbidden
        A clinic's or a radiologist's token: known, but not allowed to see the programme.
    """
    viewer = token_holder(db, "programme viewer", authorization)
    if viewer is not None:
        return viewer
    if token_holder(db, "clinic", authorization) or token_holder(db, "reader", authorization):
        raise Forbidden("the programme view needs a programme viewer token, not a clinic's or a reader's")
    raise AuthenticationError("unknown programme viewer token")


# --- the dashboard -------------------------------------------------------------------------------

def _latest_figures(db: Database) -> dict[str, list[dict]]:
    """Per clinic name (revoked ones only if they reported), its current figures per period, newest
    period first (empty when none)."""
    rows = db.rows(
        "SELECT c.name, f.period, f.sequence, f.payload, f.received_at FROM clinics c "
        "LEFT JOIN programme_figures f ON f.clinic_id = c.id AND f.sequence = ("
        "SELECT MAX(sequence) FROM programme_figures WHERE clinic_id = f.clinic_id AND period = f.period) "
        "WHERE c.token_hash NOT LIKE :revoked OR f.id IS NOT NULL ORDER BY c.name, f.period DESC",
        {"revoked": REVOKED_PREFIX + "%"})
    clinics: dict[str, list[dict]] = {}
    for row in rows:
        months = clinics.setdefault(row["name"], [])
        if row["period"] is not None:
            months.append({**json.loads(row["payload"]), "received_at": row["received_at"]})
    return clinics


def _version_key(version: str) -> Optional[tuple[int, ...]]:
    parts = version.split(".")
    return tuple(int(part) for part in parts) if all(part.isdigit() for part in parts) else None


def _quality_shares(figures: dict) -> dict[tuple, float]:
    """Shares by item: ``("missing", modality)`` or ``("refusals", kind, device)``."""
    quality = figures["data_quality"]
    shares = {("missing", name): item["value"] for name, item in quality["missing_modality"].items()
              if item["value"] is not None}
    shares.update({("refusals", row["kind"], row["device"]): row["refusals"]["value"]
                   for row in quality["quality_refusals"] if row["refusals"]["value"] is not None})
    return shares


def _item_text(item: tuple) -> str:
    return f"missing {item[1]}" if item[0] == "missing" else f"refusals {item[1]} · {item[2]}"


def clinic_flags(months: list[dict], settings, *, newest_versions: dict[str, tuple], site_calibrated_share: float,
                 now: dt.datetime) -> list[dict]:
    """The flags of one clinic (module docstring), each ``{"code", "message"}``."""
    if not months:
        return [{"code": "not_reporting", "message": "no figures received yet", "values": {}}]
    latest, found = months[0], []

    def flag(code: str, message: str, **values) -> None:
        # ``values`` fill the page's translated sentence for ``code`` (imaging_server.programme_i18n).
        found.append({"code": code, "message": message, "values": values})

    age = now - dt.datetime.fromisoformat(latest["received_at"])
    if age > dt.timedelta(days=settings.programme_overdue_days):
        flag("overdue", f"last figures {age.days} days ago (expected within {settings.programme_overdue_days:g})",
             days=age.days, limit=f"{settings.programme_overdue_days:g}")
    calibration = latest["calibration"]
    if calibration and calibration["n_outcomes"] >= settings.programme_min_outcomes:
        if calibration["ece"] > settings.programme_ece_flag:
            flag("calibration_ece", f"ECE {calibration['ece']:.3f} above {settings.programme_ece_flag:g}",
                 value=f"{calibration['ece']:.3f}", limit=f"{settings.programme_ece_flag:g}")
        if abs(calibration["calibration_in_the_large"]) > settings.programme_citl_flag:
            flag("calibration_in_the_large", f"calibration-in-the-large {calibration['calibration_in_the_large']:+.3f}"
                                             f" beyond ±{settings.programme_citl_flag:g}",
                 value=f"{calibration['calibration_in_the_large']:+.3f}", limit=f"{settings.programme_citl_flag:g}")
    for row in latest["drift"]:
        if row["psi"] is not None and row["psi"] > PSI_MAJOR_SHIFT:
            flag("drift_major", f"{row['modality']} PSI {row['psi']:.2f} above {PSI_MAJOR_SHIFT} (major shift)",
                 modality=row["modality"], value=f"{row['psi']:.2f}", limit=PSI_MAJOR_SHIFT)
        elif row["psi"] is not None and row["psi"] > PSI_SOME_SHIFT:
            flag("drift_some", f"{row['modality']} PSI {row['psi']:.2f} above {PSI_SOME_SHIFT} (some shift)",
                 modality=row["modality"], value=f"{row['psi']:.2f}", limit=PSI_SOME_SHIFT)
    shares, previous = _quality_shares(latest), _quality_shares(months[1]) if len(months) > 1 else {}
    for item, share in shares.items():
        name = _item_text(item)
        limit = settings.programme_missing_flag if item[0] == "missing" else settings.programme_refusal_flag
        if share > limit:
            flag("data_quality", f"{name}: {share:.0%} above {limit:.0%}", item=list(item), value=f"{share:.0%}",
                 limit=f"{limit:.0%}")
        elif item in previous and share - previous[item] > settings.programme_quality_rise:
            flag("data_quality_worse", f"{name}: {previous[item]:.0%} -> {share:.0%} since {months[1]['period']}",
                 item=list(item), before=f"{previous[item]:.0%}", value=f"{share:.0%}", period=months[1]["period"])
    for name, model in latest["models"].items():
        key = _version_key(model["version"])
        if key is not None and name in newest_versions and key < newest_versions[name]:
            flag("older_model", f"{name} model {model['version']} older than "
                                f"{'.'.join(map(str, newest_versions[name]))} run elsewhere",
                 modality=name, version=model["version"], newest=".".join(map(str, newest_versions[name])))
    if latest["calibration_version"] == "bundled" and site_calibrated_share > 0.5:
        flag("older_calibration", "runs the shipped calibration while most clinics run a site calibration")
    return found


def _pooled_proportion(rows: list[dict], key: str) -> dict:
    parts = [row["proportions"][key] for row in rows]
    k = sum(part["k"] for part in parts if part["k"] is not None)
    n = sum(part["n"] for part in parts if part["n"] is not None)
    left_out = sum(part["k"] is None for part in parts)
    if n == 0:
        return {"value": None, "ci95": None, "k": 0, "n": 0, "clinics_suppressed": left_out}
    return {"value": k / n, "ci95": list(wilson_interval(k, n)), "k": k, "n": n, "clinics_suppressed": left_out}


def _pooled_calibration(rows: list[dict]) -> Optional[dict]:
    parts = [row["calibration"] for row in rows if row["calibration"]]
    total = sum(part["n_outcomes"] for part in parts)
    if not total:
        return None
    pooled = {key: sum(part["n_outcomes"] * part[key] for part in parts) / total
              for key in ("ece", "calibration_in_the_large")}
    slopes = [part for part in parts if part["calibration_slope"] is not None]
    slope_total = sum(part["n_outcomes"] for part in slopes)
    bins: dict[tuple, dict] = {}
    for part in parts:
        for item in part["bins"]:
            if item["count"] and item["observed"] is not None:  # a bin with small cells counts in the summaries only
                entry = bins.setdefault((item["low"], item["high"]), {"count": 0, "predicted": 0.0, "observed": 0.0})
                entry["count"] += item["count"]
                entry["predicted"] += item["count"] * item["mean_predicted"]
                entry["observed"] += item["count"] * item["observed"]
    return {**pooled, "n_outcomes": total, "n_events": sum(part["n_events"] for part in parts), "clinics": len(parts),
            "calibration_slope": (sum(part["n_outcomes"] * part["calibration_slope"] for part in slopes) / slope_total
                                  if slope_total else None),
            "bins": [{"low": low, "high": high, "count": entry["count"], "weight": entry["count"],
                      "mean_predicted": entry["predicted"] / entry["count"],
                      "observed": entry["observed"] / entry["count"]}
                     for (low, high), entry in sorted(bins.items())]}


def programme_view(db: Database, settings, *, now: Optional[dt.datetime] = None) -> dict:
    """Every clinic's latest figures with its flags, and the pooled programme."""
    now = now or dt.datetime.now(dt.timezone.utc)
    clinics = _latest_figures(db)
    latest = [months[0] for months in clinics.values() if months]
    newest_versions: dict[str, tuple] = {}
    for figures in latest:
        for name, model in figures["models"].items():
            key = _version_key(model["version"])
            if key is not None and key > newest_versions.get(name, ()):
                newest_versions[name] = key
    site_calibrated = sum(figures["calibration_version"] not in (None, "bundled") for figures in latest)
    rows = []
    for name, months in clinics.items():
        others = len(latest) - (1 if months else 0)
        share = (site_calibrated - (1 if months and months[0]["calibration_version"] not in (None, "bundled") else 0)
                 ) / others if others else 0.0
        rows.append({"clinic": name, "figures": months[0] if months else None,
                     "flags": clinic_flags(months, settings, newest_versions=newest_versions,
                                           site_calibrated_share=share, now=now)})
    counts = {}
    for key in Counts.model_fields:
        values = [figures["counts"][key] for figures in latest]
        counts[key] = {"total": sum(value for value in values if value is not None),
                       "clinics_suppressed": sum(value is None for value in values)}
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "clinics": rows,
        "overall": {"clinics_reporting": len(latest), "counts": counts,
                    "referral_yield": _pooled_proportion(latest, "referral_yield"),
                    "hrct_completion": _pooled_proportion(latest, "hrct_completion"),
                    "calibration": _pooled_calibration(latest)},
        "federation": latest_federation(settings.programme_federation_dir),
        "thresholds": {"psi_some_shift": PSI_SOME_SHIFT, "psi_major_shift": PSI_MAJOR_SHIFT,
                       **{key: getattr(settings, key) for key in (
                           "programme_ece_flag", "programme_citl_flag", "programme_min_outcomes",
                           "programme_refusal_flag", "programme_missing_flag", "programme_quality_rise",
                           "programme_overdue_days")}},
    }


# --- routes --------------------------------------------------------------------------------------

@figures_api.post("/api/v1/programme/figures")
def post_figures():
    db = request_db()
    clinic = clinic_for_token(db, request.headers.get("Authorization"))
    g.clinic = clinic
    body = json_body()
    figures = validate_figures(body)
    answer, created = store_figures(db, clinic, figures, body)
    return jsonify(answer), 201 if created else 200


@figures_api.get("/api/v1/programme/dashboard")
def dashboard_json():
    db = request_db()
    g.viewer = viewer_for_token(db, request.headers.get("Authorization"))
    return jsonify(programme_view(db, current_app.extensions["imaging_server"]))


def _page_viewer(db: Database) -> Optional[dict]:
    """The viewer of a page request: a bearer header (machines), else the browser's session
    cookie (a session id, never a token); None for neither."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        return viewer_for_token(db, authorization)
    return session_viewer(db, request.cookies.get(SESSION_COOKIE))


def _page_context() -> dict:
    context = page_context()
    lang = context["lang"]
    return {**context, "flag_text": lambda flag: flag_text(flag, lang),
            "device_text": lambda device: device_text(device, lang)}


def _sign_in_page(message_key: Optional[str] = None, **form):
    return sign_in_form(SIGN_IN_PAGE, _page_context(), message_key=message_key, **form)


@figures_api.get("/programme")
def dashboard_page():
    db = request_db()
    try:
        viewer = g.viewer = _page_viewer(db)  # g: for the request log (imaging_server.app)
    except AuthenticationError:  # an unknown bearer token: a person may still sign in
        return _sign_in_page("session_needed")
    if viewer is None:
        return _sign_in_page()
    # A browser's session gets the sign-out form and its token; a bearer token (a machine) neither.
    session_id = None if request.headers.get("Authorization") is not None else request.cookies.get(SESSION_COOKIE)
    context = {**_page_context(), "form_token": session_form_token(session_id) if session_id else None}
    t = context["t"]
    view = programme_view(db, current_app.extensions["imaging_server"])
    calibration = view["overall"]["calibration"]
    plot = svg_plots.calibration_plot(calibration["bins"] if calibration else [], label=t("pooled_calibration"),
                                      x_label=t("axis_predicted"), y_label=t("axis_observed"))
    return render_template("programme.html", view=view, plot=plot, viewer=viewer["name"], **context)


@figures_api.get("/programme/language")
def switch_language():
    """The language switch: the language of every page of this server, the reader pages' too
    (:func:`imaging_server.programme_i18n.remember_page_language`; an unknown language sets none), then back
    to the page it was on (``next``, a programme page; else the view)."""
    landing = safe_next(request.args.get("next"), under=PAGE_PATH, fallback=PAGE_PATH)
    return remember_page_language(redirect(landing, code=303), request.args.get("to"))


@figures_api.post("/programme/sign-in")
def sign_in():
    """A person's sign-in: viewer name and password; an HttpOnly, SameSite=Strict cookie limited
    to ``/programme`` then carries a random session id (Secure when the request came over HTTPS).
    Tokens are for machines (``Authorization: Bearer``), never pasted into the page. The form's CSRF
    token is checked first (:mod:`imaging_server.sign_in_pages`): without it a 403 and a fresh form,
    nothing counted or audited."""
    if not sign_in_token_sent_back(SIGN_IN_PAGE):
        return _sign_in_page("form_expired", status=403)
    settings = current_app.extensions["imaging_server"]
    try:
        session_id = open_session(request_db(), request.form.get("name") or "", request.form.get("password") or "",
                                  lockout=lockout_policy(settings), client=request.remote_addr,
                                  audit_retention_days=settings.sign_in_audit_retention_days)
    except TooManyAttempts as exc:
        return too_many_attempts(exc, _sign_in_page)
    except AuthenticationError:
        return _sign_in_page("wrong_credentials")
    except ValidationError as exc:  # an empty name or an overlong password: nothing counted or stored
        return refused_form(exc, _sign_in_page)
    return signed_in(SIGN_IN_PAGE, redirect(PAGE_PATH, code=303), session_id)


@figures_api.post("/programme/sign-out")
def sign_out():
    """End the viewer's session; the form's token must be the session's (else 403, the session kept)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    check_sign_out(SIGN_IN_PAGE, session_id)
    close_session(request_db(), session_id)
    return signed_out(SIGN_IN_PAGE, redirect(PAGE_PATH, code=303))
