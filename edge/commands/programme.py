"""``ildscreen programme``: this clinic's de-identified figures for the regional programme view."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from edge.commands.models import data_dir_option, model_errors

if TYPE_CHECKING:
    from edge.config import Settings


def _open(settings: Settings):
    # Here, not at the top: the outbox and the figures (FHIR, HTTP, the screening) are for these commands only.
    from edge.inference.bundles import select_active_bundle
    from edge.regional_validation import select_active_regional_validation
    from edge.service import open_existing_data_folder
    from edge.site_calibration import select_active_calibration

    folder = open_existing_data_folder(settings)
    select_active_bundle(settings.models_path, settings.model_signing_keys)  # as the service would, from its start
    select_active_calibration(settings.models_path)
    select_active_regional_validation(settings.models_path, settings.model_signing_keys)
    return folder.connect()


@click.group("programme")
def programme_group() -> None:
    """De-identified programme figures for the hospital's programme view."""


@programme_group.command("figures")
@data_dir_option
@model_errors
def figures(data_dir: Optional[Path]) -> None:
    """Print, as JSON, the aggregate figures this clinic would send (small cells suppressed); sends nothing."""
    from edge import programme
    from edge.config import load_settings

    settings = load_settings(data_dir=data_dir)
    db = _open(settings)
    try:
        payload = programme.programme_figures(db, window_months=settings.outcome_window_months,
                                              psi_alert=settings.psi_alert, min_cell=settings.programme_min_cell)
    finally:
        db.close()
    click.echo(json.dumps(payload, indent=2))


@programme_group.command("send")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@data_dir_option
@model_errors
def send(as_json: bool, data_dir: Optional[Path]) -> None:
    """Queue this month's figures in the outbox now and deliver them if a referral server is configured.

    Figures equal to the last ones queued this month are not queued again; newer ones replace
    them at the hospital. Without a server (or while it is unreachable) they wait in the outbox
    for the running service to deliver."""
    from edge import outbox, programme
    from edge.config import load_settings
    from edge.outbox_worker import client_from_settings

    settings = load_settings(data_dir=data_dir)
    db = _open(settings)
    try:
        queued = programme.queue_figures(db, settings)
        client = client_from_settings(settings)
        delivery = outbox.deliver_due_figures(db, client) if client is not None else None
        state = outbox.last_programme_report(db)
    finally:
        db.close()
    result = {"period": queued["period"], "sequence": queued["sequence"], "queued": queued["queued"],
              "status": state["status"] if state else None, "delivery": delivery,
              "last_error": state["last_error"] if state else None}
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(send_summary(result, server_configured=client is not None))


# Where the month's figures are after `programme send`, by their outbox status ({error}: the last
# delivery error, in brackets, where there is one).
_SENT_STATE = {
    "delivered": "delivered to the hospital",
    "queued": "waiting in the outbox",
    "retrying": "not delivered yet{error}; the outbox tries again later",
    "rejected": "rejected by the hospital{error}",
}


def send_summary(result: dict, *, server_configured: bool) -> str:
    """One plain line for ``programme send``: whether the figures were queued and where they are now."""
    queued = "queued" if result["queued"] else "unchanged since the last send (not queued again)"
    error = f" ({result['last_error']})" if result["last_error"] else ""
    state = _SENT_STATE.get(result["status"], "outbox status {status}{error}").format(
        status=result["status"], error=error)
    if not server_configured and result["status"] in ("queued", "retrying"):
        state += " (no referral server is configured here; the running service delivers them)"
    return f"programme figures for {result['period']} (sequence {result['sequence']}): {queued}, {state}"
