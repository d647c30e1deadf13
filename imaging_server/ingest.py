"""Finding each waiting referral's HRCT in the PACS over DICOMweb and quantifying it.

For every referral ``awaiting_images``: QIDO-RS ``/studies?AccessionNumber=<referral code>``;
no study yet means it keeps waiting. Otherwise the CT series with the most images is chosen
(a study with no CT series fails with the modalities found), retrieved with WADO-RS once its
image count has been stable for ``series_stable_s``, quantified, and the report stored.

One referral's failure never stops the others: a series problem fails that referral with a
reason the clinic can read; a PACS outage leaves it waiting for the next poll.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass, field

import requests
from pydicom.errors import InvalidDicomError

from imaging_server import ALGORITHM_NAME, ALGORITHM_VERSION
from imaging_server.config import ImagingSettings
from imaging_server.errors import ImagingError, PacsError, SeriesError
from imaging_server.browser_sign_in import forget_old_sign_ins
from imaging_server.referrals import set_status
from imaging_server.store import Database, open_database, utc_now

logger = logging.getLogger(__name__)

ACCESSION_NUMBER = "00080050"
MODALITY = "00080060"
STUDY_UID = "0020000D"
SERIES_UID = "0020000E"
SERIES_INSTANCES = "00201209"
# Longest wait of the readiness probe's PACS request (a load balancer probes every few seconds).
PACS_PROBE_TIMEOUT_S = 5.0
# How often the watcher deletes sign-in attempts (programme view and reader pages) past their
# retention (a period of days): an attempt goes at most an hour late, for one small DELETE an hour.
# (The server's start and each sign-in attempt sweep as well; this is for a server that runs for
# long with nobody signing in.)
SIGN_IN_SWEEP_INTERVAL_S = 3600.0


@dataclass
class PollSummary:
    """What one poll did, by referral code."""

    checked: int = 0
    reported: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def dicomweb_client(settings: ImagingSettings):
    """A DICOMweb client for the configured PACS, with basic auth when a user is set."""
    from dicomweb_client.api import DICOMwebClient

    client = DICOMwebClient(url=settings.dicomweb_url, session=_pacs_session(settings, settings.pacs_timeout_s))
    # The watcher retries on its next poll; retrying inside one poll would hold up other referrals.
    client.set_http_retry_params(retry=False)
    return client


def _pacs_session(settings: ImagingSettings, timeout_s: float) -> requests.Session:
    """An HTTP session to the PACS with its basic auth (when a user is set) and a timeout."""
    session = _TimeoutSession(timeout_s)
    if settings.orthanc_username:
        password = settings.orthanc_password.get_secret_value() if settings.orthanc_password else ""
        session.auth = (settings.orthanc_username, password)
    return session


def check_pacs(settings: ImagingSettings) -> dict:
    """Readiness of the PACS: one QIDO-RS study search (at most one result) answers 200.

    The probe waits at most :data:`PACS_PROBE_TIMEOUT_S`, so a PACS that hangs fails the
    readiness check instead of holding the probe for the whole PACS timeout.
    """
    url = settings.dicomweb_url
    try:
        with _pacs_session(settings, min(settings.pacs_timeout_s, PACS_PROBE_TIMEOUT_S)) as session:
            answer = session.get(f"{url}/studies", params={"limit": 1}, headers={"Accept": "application/dicom+json"})
    except requests.RequestException as exc:
        return {"ok": False, "url": url, "reason": f"PACS unreachable: {type(exc).__name__}"}
    if answer.status_code != 200:
        return {"ok": False, "url": url, "reason": f"PACS answered HTTP {answer.status_code} to a study search"}
    return {"ok": True, "url": url}


class _TimeoutSession(requests.Session):
    """A session applying the PACS timeout to every request (requests has no session-wide timeout)."""

    def __init__(self, timeout_s: float):
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, **kwargs)


def poll_once(settings: ImagingSettings, *, client=None, segmenter=None, methods=None) -> PollSummary:
    """Look once for the images of every waiting referral; quantify those that have arrived."""
    from imaging_server.findings import finding_methods_for
    from imaging_server.segmentation import segmenter_for

    client = client or dicomweb_client(settings)
    segmenter = segmenter or segmenter_for(settings)
    methods = methods or finding_methods_for(settings)
    db = open_database(settings.database_target, pool_size=settings.pool_size)
    summary = PollSummary()
    waiting = [row["code"] for row in db.rows("SELECT code FROM referrals WHERE status = 'awaiting_images' "
                                               "AND id NOT IN (SELECT referral_id FROM referral_revocations) ORDER BY id")]
    for code in waiting:
        summary.checked += 1
        outcome = _process(db, settings, client, (segmenter, methods), code)
        getattr(summary, outcome).append(code)
    logger.info("poll: %s waiting referrals checked, %s reported, %s failed", summary.checked,
                len(summary.reported), len(summary.failed))
    return summary


def _process(db, settings, client, quantifiers, code: str) -> str:
    segmenter, methods = quantifiers
    try:
        series = find_ct_series(client, code)
        if series is None or not _settled(db, settings, code, series):
            return "waiting"
        set_status(db, code, "quantifying")
        datasets = client.retrieve_series(study_instance_uid=series["study_uid"],
                                          series_instance_uid=series["series_uid"])
        report = quantify_datasets(code, datasets, segmenter, methods=methods, prior=prior_metrics(db, code))
    except SeriesError as exc:
        return _fail(db, code, exc.message)
    except InvalidDicomError:
        return _fail(db, code, "unreadable DICOM")
    except (ValueError, TypeError, ArithmeticError, MemoryError) as exc:
        # An image that passed validation but broke the computation: fail this referral only.
        logger.error("quantification error", exc_info=exc)
        return _fail(db, code, f"quantification error ({type(exc).__name__})")
    except (PacsError, requests.RequestException) as exc:
        set_status(db, code, "awaiting_images")
        logger.warning("PACS unavailable, will retry: %s", type(exc).__name__)
        return "waiting"
    _store_report(db, code, report)
    return "reported"


def _fail(db, code: str, reason: str) -> str:
    set_status(db, code, "failed", error=reason)
    logger.warning("referral failed: %s", reason)
    return "failed"


def find_ct_series(client, code: str) -> dict | None:
    """The CT series of the study with AccessionNumber ``code``, or None when no study exists yet.

    Raises
    ------
    SeriesError
        The studies hold no CT series ("series is not CT (modality MR)").
    PacsError
        The PACS answered with an error status.
    """
    try:
        studies = client.search_for_studies(search_filters={"AccessionNumber": code})
        candidates, modalities = [], set()
        for study in studies:
            study_uid = _value(study, STUDY_UID)
            for series in client.search_for_series(study_instance_uid=study_uid):
                modality = _value(series, MODALITY) or "unknown"
                modalities.add(modality)
                if modality == "CT":
                    candidates.append({"study_uid": study_uid, "series_uid": _value(series, SERIES_UID),
                                       "instances": int(_value(series, SERIES_INSTANCES) or 0)})
    except requests.HTTPError as exc:
        raise PacsError(f"PACS answered {exc.response.status_code if exc.response is not None else 'an error'}") from exc
    if not studies:
        return None
    if not candidates:
        raise SeriesError(f"series is not CT (modality {', '.join(sorted(modalities)) or 'none'})")
    return max(candidates, key=lambda series: series["instances"])


def _value(attributes: dict, tag: str):
    values = attributes.get(tag, {}).get("Value") or [None]
    return values[0]


def _settled(db: Database, settings: ImagingSettings, code: str, series: dict) -> bool:
    """True once the series' image count has not changed for ``series_stable_s`` seconds."""
    row = db.row("SELECT series_instances, series_seen_at FROM referrals WHERE code = :code", {"code": code})
    now = dt.datetime.now(dt.timezone.utc)
    if row["series_instances"] != series["instances"] or row["series_seen_at"] is None:
        with db.write():
            db.execute("UPDATE referrals SET series_instances = :instances, series_seen_at = :seen WHERE code = :code",
                       {"instances": series["instances"], "seen": now.isoformat(timespec="milliseconds"),
                        "code": code})
        return settings.series_stable_s == 0
    seen = dt.datetime.fromisoformat(row["series_seen_at"])
    return (now - seen).total_seconds() >= settings.series_stable_s


def quantify_datasets(code: str, datasets, segmenter, *, methods=None, prior: dict | None = None) -> dict:
    """Validate, quantify and build the report of one referral's series (``prior``: the metrics of
    the patient's previous report, for progression and nodule follow-up)."""
    from imaging_server.dicom_io import volume_from_datasets
    from imaging_server.fhir_report import build_diagnostic_report
    from imaging_server.quantify import quantify_volume

    volume = volume_from_datasets(datasets)
    result = quantify_volume(volume, segmenter=segmenter, methods=methods, prior=prior)
    issued = utc_now()
    return {
        "metrics": result.metrics,
        "diagnostic_report": build_diagnostic_report(code, result.metrics, result.extent_percent, issued=issued,
                                                     segmenter=result.segmenter),
        "algorithm": {"name": ALGORITHM_NAME, "version": ALGORITHM_VERSION},
    }


def prior_metrics(db: Database, code: str) -> dict | None:
    """The metrics of the latest earlier report of the same patient (same clinic and pseudonym), if any.

    The pseudonym is the Patient identifier of the referral bundle (an HMAC kept by the clinic), so
    the hospital links repeat referrals without knowing who the patient is.
    """
    from imaging_server.referrals import patient_pseudonym

    referral = db.row("SELECT id, clinic_id, bundle FROM referrals WHERE code = :code", {"code": code})
    pseudonym = patient_pseudonym(json.loads(referral["bundle"]))
    if pseudonym is None:
        return None
    rows = db.rows(
        "SELECT r.bundle, p.metrics FROM referrals r JOIN reports p ON p.referral_id = r.id "
        "WHERE r.clinic_id = :clinic_id AND r.id < :id AND r.status = 'reported' ORDER BY r.id DESC",
        {"clinic_id": referral["clinic_id"], "id": referral["id"]})
    for row in rows:
        if patient_pseudonym(json.loads(row["bundle"])) == pseudonym:
            return json.loads(row["metrics"])
    return None


def _store_report(db: Database, code: str, report: dict) -> None:
    with db.write():
        referral_id = db.scalar("SELECT id FROM referrals WHERE code = :code" + db.for_update(), {"code": code})
        db.execute(
            "INSERT INTO reports (referral_id, metrics, diagnostic_report, algorithm, created_at) "
            "VALUES (:referral_id, :metrics, :diagnostic_report, :algorithm, :now) ON CONFLICT (referral_id) "
            "DO UPDATE SET metrics = excluded.metrics, diagnostic_report = excluded.diagnostic_report, "
            "algorithm = excluded.algorithm, created_at = excluded.created_at",
            {"referral_id": referral_id, "metrics": json.dumps(report["metrics"]),
             "diagnostic_report": json.dumps(report["diagnostic_report"]),
             "algorithm": json.dumps(report["algorithm"]), "now": utc_now()})
        db.execute("UPDATE referrals SET status = 'reported', error = NULL, updated_at = :now WHERE code = :code",
                   {"now": utc_now(), "code": code})
    logger.info("referral reported")


def recover_interrupted(settings: ImagingSettings) -> int:
    """Put referrals left ``quantifying`` by a crash back to ``awaiting_images``; return how many."""
    db = open_database(settings.database_target, pool_size=settings.pool_size)
    with db.write():
        return db.execute("UPDATE referrals SET status = 'awaiting_images', updated_at = :now "
                          "WHERE status = 'quantifying'", {"now": utc_now()}).rowcount


class Watcher(threading.Thread):
    """Background thread of ``serve``: ``poll_once`` every ``poll_interval_s`` until stopped, and
    every ``SIGN_IN_SWEEP_INTERVAL_S`` the sign-in audits' retention sweep, so a server
    that nobody signs in to and that is never restarted still deletes attempts past their period."""

    def __init__(self, settings: ImagingSettings, segmenter, methods=None):
        super().__init__(name="pacs-watcher", daemon=True)
        self.settings = settings
        # Built by the caller before the thread starts, so a bad model path stops the start.
        self.segmenter = segmenter
        self.methods = methods
        self.stopped = threading.Event()

    def run(self) -> None:
        # The server's start has just swept (create_app), so the first sweep here is one interval on.
        next_sweep = time.monotonic() + SIGN_IN_SWEEP_INTERVAL_S
        while not self.stopped.is_set():
            try:
                poll_once(self.settings, segmenter=self.segmenter, methods=self.methods)
            except (ImagingError, requests.RequestException) as exc:
                logger.error("poll failed: %s", exc)
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SIGN_IN_SWEEP_INTERVAL_S
                self._forget_old_sign_ins()
            self.stopped.wait(self.settings.poll_interval_s)

    def _forget_old_sign_ins(self) -> None:
        """The retention sweep (everything due); a database error is logged and tried again next time."""
        try:
            db = open_database(self.settings.database_target, pool_size=self.settings.pool_size)
            try:
                forget_old_sign_ins(db, retention_days=self.settings.sign_in_audit_retention_days)
            finally:
                db.close()
        except ImagingError as exc:
            logger.error("sign-in retention sweep failed: %s", exc)

    def stop(self) -> None:
        self.stopped.set()
