"""``ildscreen audio``: lung-sound commands (a thin layer over :mod:`edge.auscultation`)."""

import json
from pathlib import Path

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


@audio.command(name="evaluate")
@click.option("--data", "data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="SPRSound folder (the official wav+json release or the FLAC layout of ../shared/data/sprsound2022).")
@click.option("--part", type=click.Choice(["test", "validation", "train", "all"]), default="test", show_default=True,
              help="Which patients: a part of the manifest's patient split, or all (a folder of patients the model never saw).")
@click.option("--icbhi", "icbhi_dirs", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="ICBHI folder(s) for the adult cross-device check (default: icbhi_sample/ and icbhi_extra/ beside --data).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as one JSON object.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write report.html, plots, predictions.csv and audio_metrics.json here.")
@data_dir_option
def evaluate(data, part, icbhi_dirs, as_json, out_dir, data_dir):
    """Validate the active crackle model on real recordings with expert labels.

    Scores every recording of the chosen patients through the service's own path (quality gate,
    windows, ONNX FP32 and INT8 side by side, calibration) and reports recording-level AUC with a
    DeLong 95% CI, sensitivity/specificity at the shipped threshold with Wilson CIs, calibration
    (ECE, reliability), event-level detection, chest location and age band subgroups, the quality
    gate against the experts' Poor Quality labels and the adult ICBHI check; on the manifest's
    held-out part it also compares each number with the manifest (``manifest_check``).
    """
    try:
        from audio_models import validation
        from audio_models.datasets.icbhi import load_icbhi
        from audio_models.datasets.sprsound import load_sprsound
        from evaluation.errors import EvaluationError
    except ImportError as exc:
        raise click.ClickException(f"the evaluation extra is not installed ({exc.name}): "
                                   "pip install 'ildscreen[evaluation]'") from exc
    try:
        use_active_bundle(data_dir)
        models = {variant: auscultation.default_model(variant) for variant in ("fp32", "int8")}
        entry = models["fp32"].entry
        split = entry.get("validation", {}).get("split")
        if split is None and part != "all":
            raise click.ClickException(f"model {entry['name']}-{entry['version']} names no patient split in its "
                                       "manifest: use --part all on patients it never saw")
        recordings = validation.select_part(load_sprsound(data), split_spec=split, part=part)
        if not recordings:
            raise click.ClickException(f"no recordings of the {part} part in {data}")
        icbhi_dirs = icbhi_dirs or [folder for folder in (data.parent / "icbhi_sample", data.parent / "icbhi_extra")
                                    if folder.is_dir()]
        icbhi = [recording for folder in icbhi_dirs for recording in load_icbhi(folder)]
        report, rows = validation.evaluate_model(recordings, runs={name: model.run for name, model in models.items()},
                                                 entry=entry, icbhi=icbhi)
    except IldscreenError as exc:
        raise click.ClickException(exc.message) from exc
    except (AudioError, DatasetError, ModelError, EvaluationError) as exc:
        raise click.ClickException(str(exc)) from exc
    report = {"model": f"{entry['name']}-{entry['version']}", "data": str(data), "part": part, **report}
    if split is not None and part == split.get("part") and "metrics" in entry:
        report["manifest_check"] = validation.manifest_check(report, entry["metrics"]["test"])
    if out_dir is not None:
        report["report"] = str(validation.write_html_report(report, rows, out_dir))
    if as_json:
        click.echo(json.dumps(report, default=str))
        return
    recording = report["recording"]
    click.echo(f"{report['model']} on {recording['recordings']} recordings of {recording['patients']} patients ({part}): "
               f"AUC {recording['auc']:.3f} ({recording['auc_ci95'][0]:.3f}-{recording['auc_ci95'][1]:.3f}); at "
               f"{recording['threshold']:.3f} sensitivity {recording['sensitivity']['value']:.2f}, "
               f"specificity {recording['specificity']['value']:.2f}; ECE {recording['ece']:.3f}")
    gate = report["quality_gate"]
    click.echo(f"quality gate: caught {gate['caught']}/{gate['poor_quality_records']} Poor Quality records, "
               f"refused {gate['refused_good']}/{gate['good_records']} good ones")
    if "icbhi_adults" in report:
        icbhi_report = report["icbhi_adults"]
        click.echo(f"ICBHI adults: {icbhi_report['crackle_free_called_negative']}/{icbhi_report['crackle_free']} "
                   "crackle-free recordings called negative")
    if "manifest_check" in report:
        click.echo("manifest reproduced" if report["manifest_check"]["all_ok"] else "manifest NOT reproduced: "
                   + json.dumps(report["manifest_check"]["metrics"]))
