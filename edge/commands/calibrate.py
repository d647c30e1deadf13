"""``ildscreen calibrate`` (fit the site calibration on confirmed outcomes) and
``ildscreen calibrations`` (list, activate, roll back), over :mod:`edge.site_calibration`.

A fit is always stored as a new version; without ``--apply`` it runs in shadow (assessments
record what it would give). Like a model bundle, an activation is used from the service's next
start. Every change is in the audit trail and the calibrations folder's ``history.jsonl``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from edge.commands.models import data_dir_option, json_table_option, model_errors, record_in_audit_trail

AUDIT_OBJECT = "site_calibration"
RESTART = "restart 'ildscreen serve' to use it (a running service keeps the calibration it started with)"


def _format(metrics: Optional[dict]) -> str:
    if metrics is None:
        return "not estimable (too few events for cross-validation)"
    slope, auc = metrics["calibration_slope"], metrics["auc"]
    slope_text = "-" if slope is None else f"{slope:.2f}"
    auc_text = "-" if auc is None else "{:.3f} ({:.3f}-{:.3f})".format(auc["auc"], *auc["ci95"])
    return (f"calibration-in-the-large {metrics['calibration_in_the_large']:+.3f}, slope {slope_text}, "
            f"ECE {metrics['ece']:.3f}, Brier {metrics['brier']:.3f}, AUC {auc_text}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print {n_outcomes, n_events, before, after, version, ...} as JSON.")
@click.option("--apply", "apply_now", is_flag=True,
              help="Activate the new calibration (from the service's next start); without it, it runs in shadow.")
@data_dir_option
@model_errors
def calibrate(as_json: bool, apply_now: bool, data_dir: Optional[Path]) -> None:
    """Fit the site's logistic recalibration of the fused risk on its confirmed outcomes.

    Reports calibration-in-the-large, slope, ECE, Brier and AUC (95% CI) before and after on
    cross-validation by patient, weighted for verification by triage tier x advice (visits awaiting
    their outcome inside its window left out), and each modality's status at this clinic (validated by
    its own outcomes or not); stores both as a new calibration version, whose modality statuses
    apply once it is active.
    """
    from edge.config import load_settings
    from edge.outcome_labels import assessed_visits
    from edge.service import open_existing_data_folder
    from edge.site_calibration import CalibrationStore

    # Here, not at the top: the fit imports scipy (about a second), which 'ildscreen --help' and
    # every other command would otherwise pay for.
    from edge.calibration_fit import fit_site_calibration

    settings = load_settings(data_dir=data_dir)
    store = CalibrationStore(settings.models_path)
    active = store.load(store.active_id())
    db = open_existing_data_folder(settings).connect()
    try:
        visits = assessed_visits(db, window_months=settings.outcome_window_months)
    finally:
        db.close()
    report, document = fit_site_calibration(
        visits, active=active, window_months=settings.outcome_window_months,
        prior_sd=(settings.calibration_prior_sd_intercept, settings.calibration_prior_sd_slope),
        rule=settings.evidence_options.validation_rule)
    version, previous = store.save(document, activate=apply_now)
    report.update(version=version, applied=apply_now, previous=previous if apply_now else None)
    record_in_audit_trail(settings, "apply_site_calibration" if apply_now else "fit_site_calibration", version,
                          {"n_outcomes": report["n_outcomes"], "n_events": report["n_events"], "previous": previous},
                          object_type=AUDIT_OBJECT)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['n_outcomes']} confirmed outcomes ({report['n_events']} with ILD) "
               f"of {report['n_assessed']} assessed visits")
    click.echo(f"before ({active.version}): {_format(report['before'])}")
    click.echo(f"after (cross-validated):  {_format(report['after'])}")
    for line in report["verification"]["cannot_estimate"]:
        click.echo(f"cannot be estimated: {line}")
    # Per modality: whether this clinic's outcomes let it count (applied with the calibration).
    for name, status in report["modalities"].items():
        click.echo(f"{name}: {'validated here' if status['validated'] else 'not validated here'}: {status['reason']}")
    if apply_now:
        click.echo(f"applied: {version} (was {previous}); {RESTART}")
    else:
        click.echo(f"stored {version}; it runs in shadow. Apply it with 'ildscreen calibrations activate {version}'")


@click.group()
def calibrations() -> None:
    """Site calibrations: list, activate, roll back."""


@calibrations.command("list")
@json_table_option
@data_dir_option
@model_errors
def list_calibrations(as_json: bool, data_dir: Optional[Path]) -> None:
    """List 'bundled' (no site calibration) and every fitted version; '*' active, 's' shadow."""
    from edge.config import load_settings
    from edge.inference.bundles import BUNDLED_ID
    from edge.site_calibration import CalibrationStore

    store = CalibrationStore(load_settings(data_dir=data_dir).models_path)
    active, shadow = store.active_id(), store.shadow_id()
    versions = [{**store.describe(version), "active": version == active, "shadow": version == shadow}
                for version in (BUNDLED_ID, *store.installed_ids())]
    if as_json:
        click.echo(json.dumps({"active": active, "shadow": shadow, "versions": versions}, indent=2))
        return
    for item in versions:
        mark = "*" if item["active"] else "s" if item["shadow"] else " "
        detail = item.get("error") or f"intercept {item['intercept']:+.3f}, slope {item['slope']:.3f}"
        click.echo(f"{mark} {item['version']}  {detail}")


@calibrations.command("activate")
@click.argument("version")
@data_dir_option
@model_errors
def activate(version: str, data_dir: Optional[Path]) -> None:
    """Make VERSION (or 'bundled') the calibration assessments use from the service's next start."""
    from edge.config import load_settings
    from edge.site_calibration import CalibrationStore

    settings = load_settings(data_dir=data_dir)
    previous = CalibrationStore(settings.models_path).activate(version)
    if previous == version:
        click.echo(f"{version} is already the active calibration")
        return
    record_in_audit_trail(settings, "activate_site_calibration", version, {"previous": previous},
                          object_type=AUDIT_OBJECT)
    click.echo(f"active: {version} (was {previous}); {RESTART}")


@calibrations.command("rollback")
@data_dir_option
@model_errors
def rollback(data_dir: Optional[Path]) -> None:
    """Return to the calibration active before the latest activation."""
    from edge.config import load_settings
    from edge.site_calibration import CalibrationStore

    settings = load_settings(data_dir=data_dir)
    version, previous = CalibrationStore(settings.models_path).rollback()
    record_in_audit_trail(settings, "rollback_site_calibration", version, {"previous": previous},
                          object_type=AUDIT_OBJECT)
    click.echo(f"rolled back to {version} (was {previous}); {RESTART}")
