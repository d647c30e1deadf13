"""Referrals and programme figures to the hospital, delivered through a store-and-forward outbox in SQLite.

A referral's FHIR payload is built and stored when the clinician refers, so every retry and
every restart sends the same bytes with the same idempotency key (the referral code): the
outbox delivers at least once and the server's idempotent create makes that exactly once.
Failed deliveries wait with exponential backoff and full jitter (Brooker, "Exponential backoff
and jitter", AWS Architecture Blog, 2015) so that clinics coming back online do not stampede.

States: ``queued`` -> ``delivered`` -> ``reported`` (CT results stored), with ``retrying``
while the server is unreachable, ``rejected`` when the server refuses the referral itself, and
``imaging_failed`` when the hospital could not quantify the CT. A clinician withdraws a referral:
one not yet delivered becomes ``withdrawn`` at once; a delivered one becomes ``revoking`` and the
outbox asks the hospital to revoke its ServiceRequest (``revoked`` once it has, back to
``delivered`` with the hospital's reason if it refuses, e.g. the CT is already done).

Referring follows the advice: when the visit's advice is not HRCT, a referral needs the
clinician's stated reason, which travels in the FHIR ServiceRequest and prints on the letter.

The first CT result is the automated, preliminary report; the radiologist's read comes later
(the report turns ``final``, ``amended`` when changed). So a reported referral is asked again
for ``result_poll_days`` after its first result (a setting): every round at first, then after a
tenth of the time already waited, at most every ``READ_POLL_CAP_S`` (``next_attempt_at`` holds
when). A changed report replaces the stored one in the referral's single ``imaging_results``
row, whose ``received_at`` stays the first arrival: one CT, one row, so the timeline shows one
hospital outcome per CT, the latest read.

The clinic's programme figures (:func:`edge.programme.programme_figures`) take the same path
(``programme_reports``): queued with their bytes fixed, claimed, sent with the same backoff, and
deduplicated by the server on clinic + reporting month + ``sequence`` (the row id, so a figure
sent late never replaces a newer one). Queuing figures equal to the last ones of the month adds
nothing; newer figures supersede ones not yet sent.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional

import sqlite_utils

from edge import audit
from edge.errors import Conflict, NotFound, ValidationError, VisitClosed
from edge.store.database import utc_now, write_transaction
from imaging_client.errors import DeliveryUnavailable, ReferralRejected

if TYPE_CHECKING:
    from imaging_client.client import ReferralServerClient

logger = logging.getLogger(__name__)

BACKOFF_BASE_S = 10.0
BACKOFF_CAP_S = 3600.0
CLAIM_LEASE_S = 120.0  # a delivery in flight is not picked up by another worker meanwhile
READ_POLL_FRACTION = 0.1  # ask again after this fraction of the time already waited for the read
READ_POLL_CAP_S = 6 * 3600.0
MAX_REASON_CHARS = 500
# The visit statuses a referral may be made from (create_referral): not a cancelled visit.
REFERABLE_VISITS = ("open", "completed")
# A referral in one of these no longer stands: the visit may be referred again.
ENDED_STATUSES = ("rejected", "withdrawn", "revoked")
WITHDRAWABLE = {"queued": "withdrawn", "retrying": "withdrawn", "delivered": "revoking"}
# Where a withdrawal leaves a referral (WITHDRAWABLE's targets, and the hospital's answer to a
# revocation): a second withdrawal of it is the same request sent twice.
WITHDRAWN = ("withdrawn", "revoking", "revoked")


class Withdrawal(NamedTuple):
    """What a withdrawal found: the referral as :func:`get_referral` shows it, and whether an
    earlier request had already withdrawn it (``already``: then nothing was changed)."""

    referral: dict
    already: bool


def read_poll_delay(waited_s: float) -> float:
    """Seconds until a reported referral is asked again for the radiologist's read."""
    return min(READ_POLL_CAP_S, READ_POLL_FRACTION * max(waited_s, 0.0))


def backoff_delay(attempts: int, *, rng: random.Random = random) -> float:
    """Full jitter: uniform in [1 s, min(cap, base * 2^(attempts-1))]."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(attempts - 1, 0))
    return max(1.0, rng.uniform(0, ceiling))


def _at(seconds_from_now: float, now: Optional[dt.datetime] = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return (now + dt.timedelta(seconds=seconds_from_now)).isoformat(timespec="milliseconds")


def _public(row: dict) -> dict:
    row = dict(row)
    row.pop("payload", None)
    row.pop("created_by", None)
    return row


def get_referral(db: sqlite_utils.Database, referral_id: int) -> dict:
    rows = db.execute_returning_dicts("SELECT * FROM referrals WHERE id = ?", [referral_id])
    if not rows:
        raise NotFound(f"no referral with id {referral_id}")
    referral = _public(rows[0])
    results = db.execute_returning_dicts(
        "SELECT received_at, metrics FROM imaging_results WHERE referral_id = ? ORDER BY id DESC LIMIT 1",
        [referral_id])
    referral["imaging_result"] = (
        {"received_at": results[0]["received_at"], "metrics": json.loads(results[0]["metrics"])} if results else None)
    return referral


def list_referrals(db: sqlite_utils.Database, *, status: Optional[str] = None,
                   patient_id: Optional[int] = None) -> list[dict]:
    clauses, params = [], []
    if status:
        clauses.append("r.status = ?")
        params.append(status)
    if patient_id is not None:
        clauses.append("v.patient_id = ?")
        params.append(patient_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = db.execute_returning_dicts(
        f"SELECT r.id FROM referrals r JOIN visits v ON v.id = r.visit_id {where} ORDER BY r.id", params)
    return [get_referral(db, row["id"]) for row in rows]


def ild_extent_trend(referrals: list[dict]) -> list[dict]:
    """The hospital's ILD extent index per CT result of a patient's referrals, oldest first.

    Each point: ``{"date", "percent", "progression"}`` (``progression`` None when the report had no
    prior). Results from before the index existed have no ``ild_extent`` and are left out.
    """
    points = []
    for referral in referrals:
        result = referral.get("imaging_result") or {}
        extent = (result.get("metrics") or {}).get("ild_extent")
        if isinstance(extent, dict) and isinstance(extent.get("percent"), (int, float)):
            change = (result["metrics"].get("progression") or {}).get("progression")
            points.append({"date": result["received_at"][:10], "percent": float(extent["percent"]),
                           "progression": change})
    return sorted(points, key=lambda point: point["date"])


def collapsed_reason(reason: str) -> str:
    """A stated reason as a referral stores it: stripped, each run of spaces one space; its length is the
    one :data:`MAX_REASON_CHARS` limits."""
    return " ".join(reason.split())


def clean_reason(reason: Optional[str], *, field: str = "reason") -> Optional[str]:
    """The stated reason stripped (None when empty); longer than ``MAX_REASON_CHARS`` is refused."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise ValidationError(f"{field} must be text", fields=[{"field": field, "reason": "not text"}])
    reason = collapsed_reason(reason)
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError(f"{field} is {len(reason)} characters; at most {MAX_REASON_CHARS}",
                              fields=[{"field": field, "reason": "too long"}])
    return reason or None


def create_referral(db: sqlite_utils.Database, actor: audit.Actor, visit_id: int, *, site_secret: bytes,
                    reason: Optional[str] = None, assessment_id: Optional[int] = None,
                    settings_today: Optional[dict[str, dict]] = None,
                    models_today: Optional[dict] = None) -> dict:
    """Queue a referral for HRCT from the visit's latest assessment, when that result is current.

    ``reason`` is the clinician's stated clinical reason: required when the advice is not HRCT
    (then it is the request's reason), optional otherwise. ``assessment_id`` is the result the
    sender showed, ``settings_today`` today's programme settings, ``models_today`` the models
    served now (:func:`edge.freshness.require_current`, which says what None skips). The checks and
    the insert are one write transaction: a blood test or a new result stored meanwhile cannot slip
    between them.

    A completed visit is referred as an open one is: finishing the visit closes its checklist, and its
    current result's advice (HRCT) is what the referral acts on, so a nurse who finished before referring,
    or a clinician reading the result later, refers it without measuring everything again at a new visit
    (its result must still be current: ``require_current``). A cancelled visit (closed early) is not.

    Raises
    ------
    VisitClosed
        When the visit was cancelled (:data:`REFERABLE_VISITS`).
    ValidationError
        When the visit has not been assessed, or the advice is not HRCT and no reason is given
        (field ``reason``).
    Conflict
        When the visit already has a referral that still stands.
    ResultSuperseded, ResultOutOfDate
        When the latest result is not the one shown, or no longer reflects the visit, the settings or
        the models served.
    """
    # Imported here: the result's checks (models, evidence) and the FHIR referral are for making a
    # referral; reading and delivering the outbox ('ildscreen outbox status', the worker) need neither.
    from edge.freshness import require_current
    from edge.patients import get_patient, get_visit
    from edge.screening import latest_assessment
    from edge.labs import newest_of_each_analyte
    from imaging_client.referral import advises_hrct, build_referral_bundle, new_referral_code

    reason = clean_reason(reason)
    with write_transaction(db):
        visit = get_visit(db, visit_id)
        if visit["status"] not in REFERABLE_VISITS:
            raise VisitClosed(f"visit {visit_id} is {visit['status']}: a visit closed early is not referred; "
                              "start a new visit of the patient and assess it before referring")
        active = db.execute(f"SELECT code FROM referrals WHERE visit_id = ? AND status NOT IN "
                            f"({', '.join('?' * len(ENDED_STATUSES))})", [visit_id, *ENDED_STATUSES]).fetchone()
        if active:
            raise Conflict(f"visit {visit_id} already has referral {active[0]}")
        assessment = latest_assessment(db, visit_id)
        if assessment is None:
            raise ValidationError("assess the visit before referring",
                                  fields=[{"field": "visit_id", "reason": "no assessment yet"}])
        patient = get_patient(db, visit["patient_id"])
        require_current(db, assessment, visit=visit, patient=patient, shown_assessment_id=assessment_id,
                        settings_today=settings_today, models_today=models_today)
        if reason is None and not advises_hrct(assessment):
            raise ValidationError(
                f"the advice for this visit is not HRCT ({assessment['recommendation'].get('advice')}): "
                "state the clinical reason for referring", fields=[{"field": "reason", "reason": "required"}])
        labs = newest_of_each_analyte(db.execute_returning_dicts(  # a corrected value is not sent
            "SELECT loinc, analyte, si_value, si_unit, confirmed_unusual FROM lab_results WHERE visit_id = ? "
            "ORDER BY id", [visit_id]))
        code = new_referral_code()
        bundle = build_referral_bundle(
            referral_code=code, tier=assessment["tier"], patient_code=patient["code"],
            birth_year=patient["birth_year"], sex=patient["sex"], site_secret=site_secret, assessment=assessment,
            lab_results=labs, reason=reason)
        now = utc_now()
        referral_id = db["referrals"].insert({
            "visit_id": visit_id, "assessment_id": assessment["id"], "code": code,
            "priority": bundle["entry"][0]["resource"]["priority"], "status": "queued",
            "payload": json.dumps(bundle), "attempts": 0, "next_attempt_at": now,
            "created_at": now, "updated_at": now, "created_by": actor.user_id, "reason": reason,
        }).last_pk
        audit.record(db, actor, "create", "referral", referral_id,
                     {"visit_id": visit_id, "tier": assessment["tier"],
                      "advice": assessment["recommendation"].get("advice"), "reason_given": reason is not None})
    return get_referral(db, referral_id)


def withdraw_referral(db: sqlite_utils.Database, actor: audit.Actor, referral_id: int, *,
                      reason: Optional[str] = None) -> Withdrawal:
    """Withdraw a referral: ``withdrawn`` when not yet delivered, ``revoking`` (the outbox asks the
    hospital to revoke it) when delivered. A referral already withdrawn (:data:`WITHDRAWN`: the
    request sent twice) changes nothing: no second audit entry, and this ``reason`` is not stored.

    The request is checked before the referral is looked at, as every request is (an API body is
    checked before its view runs): a ``reason`` too long is refused whatever the referral's state,
    and the same withdrawal sent again is always valid again. A repeat is then a repeat whatever
    reason it gives, none included, as a token revoked twice is (``edge.auth.revoke_api_token``):
    what it asks, withdrawing this referral, is done; the first reason stays.

    Raises
    ------
    ValidationError
        When ``reason`` is longer than :data:`MAX_REASON_CHARS` (:func:`clean_reason`).
    NotFound
        When there is no such referral.
    Conflict
        When the referral can no longer be withdrawn (reported, failed, rejected), naming its status.
    """
    reason = clean_reason(reason)
    now = utc_now()
    with write_transaction(db):
        row = db.execute("SELECT status, visit_id FROM referrals WHERE id = ?", [referral_id]).fetchone()
        if row is None:
            raise NotFound(f"no referral with id {referral_id}")
        if row[0] in WITHDRAWN:  # decided under the write lock: two withdrawals at once change it once
            return Withdrawal(get_referral(db, referral_id), already=True)
        status = WITHDRAWABLE.get(row[0])
        if status is None:
            raise Conflict(f"referral {referral_id} is {row[0]}: it can no longer be withdrawn")
        db.execute("UPDATE referrals SET status = ?, withdrawn_at = ?, withdrawn_by = ?, withdraw_reason = ?, "
                   "next_attempt_at = ?, updated_at = ? WHERE id = ?",
                   [status, now, actor.user_id, reason, now, now, referral_id])
        audit.record(db, actor, "withdraw", "referral", referral_id,
                     {"visit_id": row[1], "from": row[0], "to": status})
    return Withdrawal(get_referral(db, referral_id), already=False)


def deliver_revocations(db: sqlite_utils.Database, client: ReferralServerClient) -> dict:
    """Ask the hospital to revoke every referral withdrawn after delivery; return counts by outcome."""
    outcome = {"revoked": 0, "retrying": 0, "refused": 0}
    due = db.execute_returning_dicts(
        "SELECT id, code, attempts, next_attempt_at FROM referrals WHERE status = 'revoking' "
        "AND next_attempt_at <= ? ORDER BY id", [utc_now()])
    for row in due:
        if not _claim(db, row, statuses=("revoking",)):
            continue
        try:
            client.revoke(row["code"])
        except DeliveryUnavailable as exc:
            changes, kind = {"next_attempt_at": _at(backoff_delay(row["attempts"] + 1)), "last_error": str(exc)}, \
                "retrying"
        except ReferralRejected as exc:
            changes, kind = {"status": "delivered", "last_error": f"revocation refused: {exc}"}, "refused"
            logger.warning("referral id %s: the hospital refused to revoke it: %s", row["id"], exc)
        else:
            changes, kind = {"status": "revoked", "last_error": None}, "revoked"
        with write_transaction(db):
            db.execute(f"UPDATE referrals SET {', '.join(f'{key} = ?' for key in changes)}, updated_at = ? "
                       "WHERE id = ? AND status = 'revoking'", [*changes.values(), utc_now(), row["id"]])
        outcome[kind] += 1
    return outcome


def _claim(db: sqlite_utils.Database, row: dict, *, table: str = "referrals",
           statuses: tuple[str, ...] = ("queued", "retrying")) -> bool:
    """Take a lease on a due referral (or programme report); False if another worker got it first."""
    with write_transaction(db):
        cursor = db.execute(
            f"UPDATE {table} SET next_attempt_at = ?, attempts = attempts + 1, updated_at = ? "
            f"WHERE id = ? AND next_attempt_at = ? AND status IN ({', '.join('?' * len(statuses))})",
            [_at(CLAIM_LEASE_S), utc_now(), row["id"], row["next_attempt_at"], *statuses])
        return cursor.rowcount == 1


def _deliver(db: sqlite_utils.Database, table: str, due: list[dict], send: Callable[[dict], object],
             what: str) -> dict:
    """Claim each due row of ``table``, ``send`` it, and record the outcome: delivered, retrying
    with backoff while the hospital is unreachable, or rejected with the hospital's reason."""
    outcome = {"delivered": 0, "retrying": 0, "rejected": 0}
    for row in due:
        if not _claim(db, row, table=table):
            continue
        try:
            send(row)
        except DeliveryUnavailable as exc:
            changes = {"status": "retrying", "next_attempt_at": _at(backoff_delay(row["attempts"] + 1)),
                       "last_error": str(exc)}
        except ReferralRejected as exc:
            changes = {"status": "rejected", "last_error": str(exc)}
            logger.error("%s id %s rejected by the hospital: %s", what, row["id"], exc)
        else:
            changes = {"status": "delivered", "delivered_at": utc_now(), "last_error": None}
        with write_transaction(db):
            # A programme report superseded while in flight stays superseded: the newer one follows
            # it. A referral withdrawn while in flight stays withdrawn; if it did arrive, the
            # hospital is asked to revoke it.
            updated = db.execute(
                f"UPDATE {table} SET {', '.join(f'{key} = ?' for key in changes)}, updated_at = ? "
                "WHERE id = ? AND status NOT IN ('superseded', 'withdrawn')",
                [*changes.values(), utc_now(), row["id"]]).rowcount
            if not updated and table == "referrals" and changes["status"] == "delivered":
                db.execute("UPDATE referrals SET status = 'revoking', delivered_at = ?, next_attempt_at = ?, "
                           "updated_at = ? WHERE id = ? AND status = 'withdrawn'",
                           [utc_now(), utc_now(), utc_now(), row["id"]])
        outcome[changes["status"]] += 1
    return outcome


def deliver_due(db: sqlite_utils.Database, client: ReferralServerClient) -> dict:
    """Send every referral whose time has come; return counts by outcome."""
    due = db.execute_returning_dicts(
        "SELECT id, code, payload, attempts, next_attempt_at FROM referrals "
        "WHERE status IN ('queued', 'retrying') AND next_attempt_at <= ? ORDER BY id", [utc_now()])
    return _deliver(db, "referrals", due, lambda row: client.submit(row["code"], json.loads(row["payload"])),
                    "referral")


def poll_results(db: sqlite_utils.Database, client: ReferralServerClient, *, result_poll_days: int = 60) -> dict:
    """Ask the hospital about delivered referrals and store CT results that have arrived; ask
    reported ones that are due again, within ``result_poll_days`` of their first result, and keep
    the newer report (the radiologist's read)."""
    outcome = {"reported": 0, "updated": 0, "waiting": 0, "imaging_failed": 0, "unreachable": 0}
    just_reported = set()
    for referral in db.execute_returning_dicts("SELECT id, code FROM referrals WHERE status = 'delivered'"):
        try:
            status = client.status(referral["code"])
            report = client.report(referral["code"]) if status.get("status") == "reported" else None
        except (DeliveryUnavailable, ReferralRejected) as exc:
            logger.warning("polling referral id %s failed: %s", referral["id"], exc)
            outcome["unreachable"] += 1
            continue
        changes = {"server_status": status.get("status"), "last_polled_at": utc_now(), "updated_at": utc_now()}
        with write_transaction(db):
            if report is not None:
                db["imaging_results"].insert({"referral_id": referral["id"], "received_at": utc_now(),
                                              "metrics": json.dumps(report.get("metrics", {})),
                                              "report": json.dumps(report)})
                changes.update(status="reported", next_attempt_at=utc_now())
                outcome["reported"] += 1
                just_reported.add(referral["id"])
            elif status.get("status") == "failed":
                changes.update(status="imaging_failed", last_error=status.get("error"))
                outcome["imaging_failed"] += 1
            else:
                outcome["waiting"] += 1
            db["referrals"].update(referral["id"], changes)
    _poll_reads(db, client, result_poll_days, outcome, skip=just_reported)
    return outcome


def _poll_reads(db: sqlite_utils.Database, client: ReferralServerClient, result_poll_days: int,
                outcome: dict, *, skip: set) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    due = db.execute_returning_dicts(
        "SELECT r.id, r.code, i.id AS result_id, i.received_at, i.report FROM referrals r "
        "JOIN imaging_results i ON i.id = (SELECT MAX(id) FROM imaging_results WHERE referral_id = r.id) "
        "WHERE r.status = 'reported' AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= ?) "
        "AND i.received_at > ? ORDER BY r.id", [_at(0, now), _at(-result_poll_days * 86400.0, now)])
    for referral in due:
        if referral["id"] in skip:  # its report arrived this round; ask next round
            continue
        try:
            report = client.report(referral["code"])
        except (DeliveryUnavailable, ReferralRejected) as exc:
            logger.warning("asking for the read of referral id %s failed: %s", referral["id"], exc)
            outcome["unreachable"] += 1
            continue
        waited_s = (now - dt.datetime.fromisoformat(referral["received_at"])).total_seconds()
        changes = {"last_polled_at": utc_now(), "updated_at": utc_now(),
                   "next_attempt_at": _at(read_poll_delay(waited_s), now)}
        with write_transaction(db):
            if report is not None and report != json.loads(referral["report"] or "null"):
                db["imaging_results"].update(referral["result_id"], {"metrics": json.dumps(report.get("metrics", {})),
                                                                     "report": json.dumps(report)})
                changes["server_status"] = report.get("report_status") or report.get("status")
                outcome["updated"] += 1
                logger.info("referral id %s: newer CT report (%s)", referral["id"], changes["server_status"])
            db["referrals"].update(referral["id"], changes)


def _figures_digest(payload: dict) -> str:
    """SHA-256 of the figures without their sequence: equal for equal figures."""
    content = {key: value for key, value in payload.items() if key != "sequence"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def queue_programme_figures(db: sqlite_utils.Database, payload: dict) -> dict:
    """Queue the clinic's figures for their reporting month; nothing new when they equal the last.

    Returns ``{"id", "period", "sequence", "status", "queued"}`` of the row that carries them.
    """
    digest, now = _figures_digest(payload), utc_now()
    with write_transaction(db):
        last = db.execute_returning_dicts(
            "SELECT id, status, payload_sha256 FROM programme_reports WHERE period = ? AND status != 'superseded' "
            "ORDER BY id DESC LIMIT 1", [payload["period"]])
        if last and last[0]["payload_sha256"] == digest and last[0]["status"] != "rejected":
            return {"id": last[0]["id"], "period": payload["period"], "sequence": last[0]["id"],
                    "status": last[0]["status"], "queued": False}
        db.execute("UPDATE programme_reports SET status = 'superseded', updated_at = ? "
                   "WHERE period = ? AND status IN ('queued', 'retrying')", [now, payload["period"]])
        report_id = db["programme_reports"].insert({
            "period": payload["period"], "payload": "{}", "payload_sha256": digest, "status": "queued",
            "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}).last_pk
        db["programme_reports"].update(report_id, {"payload": json.dumps({**payload, "sequence": report_id})})
    return {"id": report_id, "period": payload["period"], "sequence": report_id, "status": "queued", "queued": True}


def last_programme_report(db: sqlite_utils.Database) -> Optional[dict]:
    """The newest queued programme report (any state but superseded), without its payload."""
    rows = db.execute_returning_dicts(
        "SELECT id, period, status, attempts, created_at, delivered_at, last_error FROM programme_reports "
        "WHERE status != 'superseded' ORDER BY id DESC LIMIT 1")
    return rows[0] if rows else None


def deliver_due_figures(db: sqlite_utils.Database, client: ReferralServerClient) -> dict:
    """Send every programme report whose time has come; return counts by outcome."""
    due = db.execute_returning_dicts(
        "SELECT id, payload, attempts, next_attempt_at FROM programme_reports "
        "WHERE status IN ('queued', 'retrying') AND next_attempt_at <= ? ORDER BY id", [utc_now()])
    return _deliver(db, "programme_reports", due, lambda row: client.submit_figures(json.loads(row["payload"])),
                    "programme report")
