"""``ildscreen audio``: lung-sound commands (a thin layer over :mod:`edge.auscultation`)."""

import json

import click

from audio_models.datasets.download import DATASETS, fetch_dataset
from audio_models.errors import AudioError, DatasetError, ModelError
from edge import auscultation
from edge.commands.models import data_dir_option, use_active_bundle
from edge.config import load_settings
from edge.errors import IldscreenError


@click.group(name="audio")
def audio():
    """Lung-sound recordings: score them for crackles."""


@audio.command(name="score")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file (JSON lines).")
@click.option("--variant", type=click.Choice(["fp32", "int8"]), default=None, help="Model variant (default: the manifest's).")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@data_dir_option
def score(as_json, variant, files, data_dir):
    """Score WAV/FLAC FILES for crackles.

    Each file gives {"file", "crackle_probability", "quality": {"ok", "issues"}, "windows"};
    a file that cannot be decoded gives {"file", "error"} and the others are still scored.
    A file outside the data folder's audio limits (audio_* settings) is refused from its header,
    before it is decoded. Exits with status 1 if any file failed.
    """
    try:
        limits = load_settings(data_dir=data_dir).audio_limits
        use_active_bundle(data_dir)
        model = auscultation.default_model(variant)
    except IldscreenError as exc:
        raise click.ClickException(exc.message) from exc
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    failed = 0
    for path in files:
        try:
            result = auscultation.score_recording(path, backend=model, limits=limits)
        except AudioError as exc:
            failed += 1
            line = {"file": path, "error": str(exc)}
            click.echo(json.dumps(line) if as_json else f"{path}: error: {exc}")
            continue
        if as_json:
            click.echo(json.dumps({"file": path, "crackle_probability": result["crackle_probability"],
                                   "crackle_detected": result["crackle_detected"], "quality": result["quality"],
                                   "windows": result["windows"], "model": result["model"]}))
        else:
            p = result["crackle_probability"]
            shown = "n/a" if p is None else f"{p:.3f}"
            issues = "; ".join(result["quality"]["issues"]) or "ok"
            click.echo(f"{path}: crackle probability {shown} (quality: {issues})")
    if failed:
        raise SystemExit(1)


@audio.command(name="download")
@click.argument("dataset", type=click.Choice(sorted(DATASETS)))
@click.option("--dest", required=True, type=click.Path(file_okay=False), help="Data folder; the dataset goes to DEST/DATASET.")
@click.option("--mirror", type=click.Path(exists=True, file_okay=False), default=None,
              help="Local folder with the dataset's files (no network is used).")
def download(dataset, dest, mirror):
    """Fetch a public lung-sound DATASET (from the web or a mirror) and check its checksums.

    The first import records DEST/DATASET/checksums.json; later imports must match it.
    """
    try:
        report = fetch_dataset(dataset, dest=dest, mirror=mirror)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(report))
