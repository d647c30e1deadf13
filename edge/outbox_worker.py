"""The background thread of ``ildscreen serve`` that sends queued referrals and polls results, and
queues and sends the clinic's programme figures on their schedule (``programme_report_hours``)."""
from __future__ import annotations

import logging
import sqlite3
import threading

from edge import outbox, programme
from edge.errors import IldscreenError
from edge.service import DataFolder
from evaluation.errors import EvaluationError
from imaging_client.client import ReferralServerClient

logger = logging.getLogger(__name__)


class OutboxWorker(threading.Thread):
    """Every ``interval_s``: deliver due referrals, poll delivered ones for CT results, then queue the
    programme figures when due and send due figures."""

    def __init__(self, folder: DataFolder, client: ReferralServerClient, *, interval_s: float):
        super().__init__(name="referral-outbox", daemon=True)
        self.folder = folder
        self.client = client
        self.interval_s = interval_s
        self.stopped = threading.Event()

    def run_once(self) -> dict:
        db = self.folder.connect()
        try:
            return {"delivery": outbox.deliver_due(db, self.client),
                    "revocation": outbox.deliver_revocations(db, self.client),
                    "results": outbox.poll_results(db, self.client,
                                                   result_poll_days=self.folder.settings.result_poll_days)}
        finally:
            db.close()

    def run_figures_once(self) -> dict:
        """Queue the programme figures when their schedule says so, then send the due ones."""
        db = self.folder.connect()
        try:
            settings = self.folder.settings
            if programme.figures_due(db, every_hours=settings.programme_report_hours):
                programme.queue_figures(db, settings)
            return outbox.deliver_due_figures(db, self.client)
        finally:
            db.close()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                summary = self.run_once()
                if any(summary["delivery"].values()) or summary["results"]["reported"] \
                        or summary["results"]["updated"]:
                    logger.info("referral outbox: %s", summary)
            except (IldscreenError, sqlite3.Error) as exc:
                # The next round retries; the outbox state in SQLite is unchanged by a failed round.
                logger.error("referral outbox round failed: %s", exc)
            try:
                figures = self.run_figures_once()
                if any(figures.values()):
                    logger.info("programme figures: %s", figures)
            except (IldscreenError, EvaluationError, sqlite3.Error) as exc:
                logger.error("programme figures round failed: %s", exc)  # referrals go on regardless
            self.stopped.wait(self.interval_s)

    def stop(self) -> None:
        self.stopped.set()


def client_from_settings(settings) -> ReferralServerClient | None:
    if not settings.referral_server_configured:
        return None
    return ReferralServerClient(settings.referral_server_url, settings.referral_server_token.get_secret_value())
