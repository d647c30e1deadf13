"""``ildscreen breath``: check and score an e-nose reading file without the service."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from edge.commands.labs import emit, fail, read_text
from edge.commands.models import data_dir_option, use_active_bundle
from edge.errors import IldscreenError


@click.group()
def breath() -> None:
    """Exhaled-breath (e-nose) readings: quality checks and score."""


@breath.command("score")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON: probability, normalized, missing, warnings.")
@data_dir_option
def breath_score(file: Path, as_json: bool, data_dir: Optional[Path]) -> None:
    """Score the breath reading in FILE (CSV or JSON, see tabular_models/README.md).

    A reading that fails the quality checks is an error naming the reasons.
    """
    from edge.breath import score_breath_reading

    try:
        use_active_bundle(data_dir)
        result = score_breath_reading(read_text(file))
    except IldscreenError as exc:
        fail(exc.message, as_json=as_json)
    if not result["quality"]["ok"]:
        fail("breath reading failed the quality checks: " + "; ".join(result["warnings"]), as_json=as_json)
    emit({"probability": result["probability"], "normalized": result["features"], "missing": [],
          "warnings": result["warnings"], "quality": result["quality"], "model": result["model"]}, as_json=as_json)
