"""``ildscreen labs``: score a lab panel file (CSV, JSON or FHIR Bundle) without the service."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn, Optional

import click

from edge.commands.models import data_dir_option, use_active_bundle
from edge.errors import IldscreenError, ValidationError


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from exc


def emit(result: dict, *, as_json: bool) -> None:
    """Print the score as JSON or as a few lines for a person."""
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    probability = result["probability"]
    click.echo("ILD probability: " + ("not scored" if probability is None else f"{probability:.3f}"))
    click.echo(f"model: {result['model']['name']} {result['model']['version']} ({result['model']['note']})")
    for key in ("missing", "warnings"):
        if result.get(key):
            click.echo(f"{key}: " + "; ".join(result[key]))


def warn_of_unit_slips(records: list[dict], *, unit_check_factor: float) -> list[dict]:
    """The panel's results that look like unit slips (:func:`tabular_models.lab_panels.unit_slips`,
    ``unit_check_factor`` being the ``lab_unit_check_factor`` setting), each named in a warning on stderr.

    The service refuses such a result until the nurse confirms it, because it would be stored; a
    command that stores nothing scores the panel as given and says which values to check, as it
    reports the panel's other warnings beside the score.
    """
    from tabular_models.lab_panels import unit_slips

    slips = unit_slips(records, far_factor=unit_check_factor)
    for slip in slips:
        click.echo(f"warning: {slip['message']}; scored as given (nothing is stored)", err=True)
    return slips


def fail(message: str, *, as_json: bool) -> NoReturn:
    """Report an error as ``{"error"}`` (with --json) or a message, with exit status 1."""
    if as_json:
        click.echo(json.dumps({"error": message}))
        raise SystemExit(1)
    raise click.ClickException(message)


@click.group()
def labs() -> None:
    """Lab panels (CBC + CMP): normalise to SI units and score."""


@labs.command("score")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: probability, normalized, missing, warnings, unit_checks.")
@data_dir_option
def labs_score(file: Path, as_json: bool, data_dir: Optional[Path]) -> None:
    """Score the lab panel in FILE (CSV analyte,value,unit[,date]; JSON; or a FHIR R4 Bundle).

    A result that looks like a unit slip (setting lab_unit_check_factor) is named in a warning on
    stderr and in the JSON's unit_checks; it is scored as given."""
    from edge.config import load_settings
    from edge.labs import score_lab_panel
    from tabular_models.errors import TabularInputError
    from tabular_models.lab_io import read_lab_panel

    try:
        use_active_bundle(data_dir)
        factor = load_settings(data_dir=data_dir).lab_unit_check_factor
        result = score_lab_panel(read_lab_panel(read_text(file)))
    except (TabularInputError, IldscreenError) as exc:
        fail(exc.message, as_json=as_json)
    result["unit_checks"] = warn_of_unit_slips(result.pop("records"), unit_check_factor=factor)
    emit(result, as_json=as_json)
