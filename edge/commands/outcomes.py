"""``ildscreen outcomes``: the de-identified outcomes export and the simulated site."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from edge.commands.models import data_dir_option, model_errors


@click.group()
def outcomes() -> None:
    """Confirmed outcomes: export for evaluation, simulate a site."""


@outcomes.command("export")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV to write (refused if it exists); 'ildscreen evaluate' reads it directly.")
@data_dir_option
@model_errors
def export(out_path: Path, data_dir: Optional[Path]) -> None:
    """Write one de-identified row per assessed visit with a confirmed outcome in the window:
    label, risk, each modality's probability, model and calibration versions, verification weight."""
    from edge.config import load_settings
    from edge.outcome_labels import assessed_visits, write_export
    from edge.service import open_existing_data_folder

    settings = load_settings(data_dir=data_dir)
    db = open_existing_data_folder(settings).connect()
    try:
        count = write_export(assessed_visits(db, window_months=settings.outcome_window_months), out_path)
    finally:
        db.close()
    click.echo(f"wrote {count} labelled visits to {out_path}")


@outcomes.command("simulate")
@click.option("--patients", "n_patients", type=click.IntRange(20, 5000), default=300, show_default=True,
              help="Simulated patients, one screening visit each.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the simulation.")
@data_dir_option
@model_errors
def simulate(n_patients: int, seed: int, data_dir: Optional[Path]) -> None:
    """Fill an empty data folder (made by 'ildscreen db init') with a simulated site (visits, assessments, referrals, verification-biased
    HRCT outcomes from a known true model); prints what was made and the true model's calibration as JSON."""
    from edge.config import load_settings
    from edge.service import open_existing_data_folder

    from edge.simulation import simulate_site  # only this command needs it

    settings = load_settings(data_dir=data_dir)
    folder = open_existing_data_folder(settings)
    db = folder.connect()
    try:
        if db.execute("SELECT COUNT(*) FROM patients").fetchone()[0]:
            raise click.ClickException(f"{settings.data_dir} already holds patients: simulate only into an empty "
                                       "data folder, never beside real records")
        summary = simulate_site(db, site_secret=folder.site_secret, n_patients=n_patients, seed=seed,
                                thresholds=settings.triage_thresholds,
                                window_months=settings.outcome_window_months)
    finally:
        db.close()
    click.echo(json.dumps(summary, indent=2))
