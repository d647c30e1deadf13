"""``ildscreen regional-validation``: install, show and roll back the region's validation of
each modality (:mod:`edge.regional_validation`), signed by the hospital. Like the model bundle, a
running service keeps the one it started with; every change is in the audit trail."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from edge.commands.models import RESTART, data_dir_option, model_errors, open_store, record_in_audit_trail

AUDIT_OBJECT = "regional_validation"


def _store(data_dir: Optional[Path]):
    from edge.regional_validation import RegionalValidationStore

    settings, _ = open_store(data_dir)
    return settings, RegionalValidationStore(settings.models_path, settings.model_signing_keys)


@click.group("regional-validation")
def regional_validation() -> None:
    """The region's validation of each modality (from the federation), signed by the hospital."""


@regional_validation.command("install")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
@model_errors
def install(path: Path, data_dir: Optional[Path]) -> None:
    """Check the regional validation file PATH (signed: PATH.sig by a key pinned in model_signing_keys),
    store it and make it the one the service reads at start."""
    settings, store = _store(data_dir)
    result = store.install(path)
    record_in_audit_trail(settings, "install_regional_validation", result["version"],
                          {"newly_installed": result["installed"], "previous": result["previous"]},
                          object_type=AUDIT_OBJECT)
    click.echo(f"{'installed' if result['installed'] else 'already installed'}: {result['version']}")
    click.echo(f"active now (was {result['previous'] or 'unreadable'}); {RESTART}" if result["activated"]
               else "it was already the active regional validation")


@regional_validation.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
@model_errors
def show(as_json: bool, data_dir: Optional[Path]) -> None:
    """The active regional validation and, per modality, whether it counts at this clinic (its
    validation rule, the models it serves)."""
    from edge.inference.bundles import select_active_bundle
    from edge.regional_validation import regional_statuses, select_active_regional_validation, served_versions

    settings, _ = _store(data_dir)
    selection = select_active_regional_validation(settings.models_path, settings.model_signing_keys)
    if selection.error:
        raise click.ClickException(selection.error)
    bundle = select_active_bundle(settings.models_path, settings.model_signing_keys)
    rows = regional_statuses(selection, settings.evidence_options.validation_rule,
                             served_versions(bundle.registry))
    document = selection.document
    report = {"version": selection.version, "region": document.region if document else None,
              "issued_at": document.issued_at.isoformat() if document else None,
              "federation_result": document.federation_result if document else None, "modalities": rows}
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    if document is None:
        click.echo("no regional validation installed")
        return
    click.echo(f"{selection.version}: region {document.region}, issued {report['issued_at']}")
    for row in rows:
        click.echo(f"  {row['modality']:<12} {'counts' if row['counts'] else 'does not count'}: {row['reason']}")


@regional_validation.command("rollback")
@data_dir_option
@model_errors
def rollback(data_dir: Optional[Path]) -> None:
    """Return to the regional validation active before the latest install (at the first: none)."""
    from edge.regional_validation import NONE_ID

    settings, store = _store(data_dir)
    version, previous = store.rollback()
    record_in_audit_trail(settings, "rollback_regional_validation", version, {"previous": previous},
                          object_type=AUDIT_OBJECT)
    click.echo(f"rolled back to {'no regional validation' if version == NONE_ID else version} "
               f"(was {previous or 'unreadable'}); {RESTART}")
