"""``ildscreen labs``: score a lab panel file (CSV, JSON or FHIR Bundle) without the service."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn, Optional

import click

from edge.commands.models import data_dir_option, use_active_bundle
from edge.errors import IldscreenError, ValidationError
from edge.labs import score_lab_panel
from tabular_models.errors import TabularInputError
from tabular_models.lab_io import read_lab_panel


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON: probability, normalized, missing, warnings.")
@data_dir_option
def labs_score(file: Path, as_json: bool, data_dir: Optional[Path]) -> None:
    """Score the lab panel in FILE (CSV analyte,value,unit[,date]; JSON; or a FHIR R4 Bundle)."""
    try:
        use_active_bundle(data_dir)
        result = score_lab_panel(read_lab_panel(read_text(file)))
    except (TabularInputError, IldscreenError) as exc:
        fail(exc.message, as_json=as_json)
    result.pop("records")
    emit(result, as_json=as_json)
