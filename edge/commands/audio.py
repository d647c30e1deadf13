"""``ildscreen audio``: lung-sound commands (a thin layer over :mod:`edge.auscultation`)."""

import json
from pathlib import Path

import click

from audio_models.datasets.download import DATASETS, fetch_dataset
from audio_models.errors import AudioError, DatasetError
from edge.commands.models import data_dir_option, domain_errors, extra_needed, model_errors, use_active_bundle


@click.group(name="audio")
def audio():
    """Lung-sound recordings: score them for crackles."""


@audio.command(name="score")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file (JSON lines).")
@click.option("--variant", type=click.Choice(["fp32", "int8"]), default=None, help="Model variant (default: the manifest's).")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@data_dir_option
@model_errors
def score(as_json, variant, files, data_dir):
    """Score WAV/FLAC FILES for crackles.

    Each file gives {"file", "crackle_probability", "crackle_detected", "quality": {"ok", "issues"},
    "windows", "model"} (crackle_detected at the model's threshold; model: its name, version,
    variant, threshold and validation status);
    a file that cannot be decoded gives {"file", "error"} and the others are still scored.
    A file outside the data folder's audio limits (audio_* settings) is refused from its header,
    before it is decoded. Exits with status 1 if any file failed.
    """
    # Here, not at the top: numpy, the audio decoder and the model runtime are for the commands that score.
    from edge import auscultation
    from edge.config import load_settings

    limits = load_settings(data_dir=data_dir).audio_limits
    use_active_bundle(data_dir)
    model = auscultation.default_model(variant)
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
              help="Local folder with the dataset's archive or, for kauh2021 and sprsound2022, an unpacked copy the "
                   "dataset's loader reads (e.g. ../shared/data/kauh, KAUH's published wav files, or ../shared/data "
                   "itself; SPRSound's later test release is refused); no network is used.")
def download(dataset, dest, mirror):
    """Fetch a public lung-sound DATASET (from the web or a mirror) and check its checksums.

    The first import records DEST/DATASET/checksums.json; later imports must match it. After an archive is
    unpacked, the report says how many recordings the loader reads there, or what to do next.
    """
    try:
        report = fetch_dataset(dataset, dest=dest, mirror=mirror)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(report))


@audio.command(name="evaluate")
@click.option("--data", "data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The shared data folder (sprsound2022/, sprsound2022_test/, kauh/ or the kauh2021/ that "
                   "'ildscreen audio download' writes) or one dataset folder "
                   "(an SPRSound release, wav+json or FLAC layout; the KAUH copy with its recordings.csv or KAUH's published "
                   "wav files, BP1_Asthma,I E W,P L L,70,M.wav; or your own "
                   "recordings with a labels.csv, audio_models/datasets/generic.py: evaluate it with --part all, or with "
                   "--part test when the model was trained with it, python -m audio_models.train --data).")
@click.option("--population", type=click.Choice(["all", "adults", "children"]), default="all", show_default=True,
              help="Which population's datasets to evaluate (reported apart, never pooled).")
@click.option("--part", type=click.Choice(["test", "validation", "train", "unseen", "all"]), default="test",
              show_default=True,
              help="Which patients: a part of the manifest's patient split; unseen (the folder's patients in none of "
                   "the manifest's parts, e.g. withheld patients added to the released ones); or all (a folder of "
                   "patients the model never saw).")
@click.option("--icbhi", "icbhi_dirs", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="ICBHI folder(s) for the adult cross-device check (default: icbhi_sample/ and icbhi_extra/ in or beside --data).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as one JSON object.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write report.html (one page per population), plots, predictions.csv and audio_metrics.json here.")
@click.option("--stress", is_flag=True,
              help="Also score the same recordings changed as another stethoscope or room would change them (quieter, "
                   "44.1 kHz, bell- and diaphragm-like filtering, white noise) and report each condition's AUCs and "
                   "accepted share beside the recordings as recorded (FP32; about six times the scoring time).")
@data_dir_option
@domain_errors
def evaluate(data, population, part, icbhi_dirs, as_json, out_dir, stress, data_dir):
    """Validate the active crackle model on real recordings with expert labels, per population.

    Scores every recording of the chosen patients through the service's own path (quality gate,
    windows, ONNX FP32 and INT8 side by side, calibration) and reports, for each population apart
    (adults; children of each SPRSound release): patient-level AUC, sensitivity and specificity under
    the screening's patient rule and recording-level figures, all with patient-cluster bootstrap 95%
    CIs; refused recordings and unassessable patients apart (never counted as negatives); calibration;
    per device / filter mode, age band and chest location; event-level detection; the quality gate;
    the adult ICBHI check. On the manifest's test part it refuses a folder whose test patients differ
    from the manifest's, and compares every figure with the manifest (``manifest_check``).
    """
    with extra_needed("evaluation"):
        from audio_models import validation
        from audio_models.datasets import splits
        from audio_models.datasets.corpus import load_corpus
        from audio_models.datasets.icbhi import ICBHI_FOLDERS, load_icbhi
        from evaluation.errors import EvaluationError
    from edge import auscultation

    try:
        use_active_bundle(data_dir)
        models = {variant: auscultation.default_model(variant) for variant in ("fp32", "int8")}
        entry = models["fp32"].entry
        split = (entry.get("training_data") or {}).get("split")
        if split is None and part != "all":
            raise click.ClickException(f"model {entry['name']}-{entry['version']} names no patient split in its "
                                       "manifest: use --part all on patients it never saw")
        recordings = load_corpus(data, population=population)
        if part == "unseen":
            recordings = splits.unseen(recordings, _listed_patients(entry, split))
        elif part != "all":
            unsplit = sorted({recording.dataset_family for recording in recordings} - set(split["fractions"]))
            if unsplit:
                raise click.ClickException(f"{data} holds recordings of a dataset the model's patient split does not "
                                           f"cover ({', '.join(unsplit)}): none of its patients is in the {part} part. "
                                           "Use --part all on a folder of patients the model never saw")
            recordings = splits.select(recordings, part, seed=split["seed"], fractions=split["fractions"])
        if not recordings:
            raise click.ClickException(f"no recordings of patients the model never saw in {data}" if part == "unseen"
                                       else f"no recordings of the {part} part in {data}")
        if part == "test":
            _check_test_patients(validation.part_digests(recordings), split, data)
        if population != "children":
            icbhi_dirs = icbhi_dirs or [folder for base in (data, data.parent) for folder in
                                        (base / name for name in ICBHI_FOLDERS) if folder.is_dir()]
        icbhi = [recording for folder in icbhi_dirs for recording in load_icbhi(folder)]
        report, rows = validation.evaluate_model(recordings, runs={name: model.run for name, model in models.items()},
                                                 entry=entry, icbhi=icbhi)
        if stress:
            report["stress"] = validation.stress_test(recordings, run=models["fp32"].run, entry=entry)
    except (AudioError, EvaluationError) as exc:  # the dataset's, the model's and the metrics' errors
        raise click.ClickException(str(exc)) from exc
    report = {"model": f"{entry['name']}-{entry['version']}", "data": str(data), "population": population, "part": part,
              **report}
    if part == "test" and "metrics" in entry:
        report["manifest_check"] = validation.manifest_check(report, entry["metrics"]["test"])
    if out_dir is not None:
        report["report"] = str(validation.write_html_report(report, rows, out_dir))
    if as_json:
        click.echo(json.dumps(report, default=str))
        return
    _echo_summary(report, part)


@audio.command(name="export-labelled")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write (new or empty; a folder with anything in it is refused): one audio file per take "
                   "and labels.csv, for 'ildscreen audio evaluate --data OUT --part all'.")
@data_dir_option
@domain_errors
def export_labelled(out_dir, data_dir):
    """Write the clinic's takes that a clinician labelled (crackles heard: yes or no) as a folder that
    'ildscreen audio evaluate' scores per stethoscope.

    Each take becomes a file under a new neutral name and a labels.csv row: the patient's pseudonym (as
    referrals carry it), chest site, device (board or 'upload', and the chest piece), label, age at the
    visit in whole years and sex; no name, code, date or stored path. 'unsure' takes are left out and
    counted. Prints a JSON summary; the export is in the audit trail (counts only). The audio is patient
    data: keep the folder on the clinic's box unless the clinic's governance approves sharing it.
    """
    from edge.config import load_settings
    from edge.labelled_takes import export_labelled_takes  # only this command needs it
    from edge.service import open_existing_data_folder

    folder = open_existing_data_folder(load_settings(data_dir=data_dir))
    db = folder.connect()
    try:
        summary = export_labelled_takes(db, folder.blobs, out_dir, site_secret=folder.site_secret)
    finally:
        db.close()
    click.echo(json.dumps(summary))


def _listed_patients(entry, split):
    """The manifest's ``split.patients`` (``{part: {population: [patient key]}}``), checked against the
    part hashes it also stores, so a list that was edited or cut short cannot pass seen patients off
    as unseen."""
    from audio_models.datasets import splits

    listed = split.get("patients")
    if not isinstance(listed, dict) or not listed:
        raise click.ClickException(f"model {entry['name']}-{entry['version']} does not list its split's patients in "
                                   "its manifest: use --part all on a folder of patients it never saw")
    for part in ("test", "validation"):
        for population, digest in (split.get(f"{part}_patients_sha256") or {}).items():
            if splits.keys_digest((listed.get(part) or {}).get(population) or []) != digest:
                raise click.ClickException(f"the manifest's {part} patients of {population} do not match its "
                                           f"{part}_patients_sha256: the patient lists cannot be trusted")
    return listed


def _check_test_patients(digests, split, data):
    """Refuse to report on a folder whose test patients are not the manifest's (figures would not match)."""
    shipped = split.get("test_patients_sha256") or {}
    for population, digest in digests.items():
        if shipped.get(population) != digest:
            raise click.ClickException(
                f"the {population} test patients in {data} are not the ones the manifest's figures came from (their "
                "patient list hash differs): the folder holds other patients. Use --part all on a folder of patients "
                "the model never saw")


def _ci(point):
    return f"{point['value']:.2f} ({point['ci95'][0]:.2f}-{point['ci95'][1]:.2f})"


def _echo_summary(report, part):
    from audio_models.validation import device_summary  # evaluate has imported it (the evaluation extra)

    for population, section in report["populations"].items():
        patient, recording = section["patient"], section["recording"]
        line = f"{report['model']} {population} ({part}): {patient['patients']} patients, {recording['recordings']} accepted recordings"
        if "auc" in patient:
            line += (f"; per patient AUC {patient['auc']:.3f} ({patient['auc_ci95'][0]:.3f}-{patient['auc_ci95'][1]:.3f}), "
                     f"sensitivity {_ci(patient['sensitivity'])}, specificity {_ci(patient['specificity'])}")
        if "auc" in recording:
            line += f"; per recording AUC {recording['auc']:.3f}"
        click.echo(line)
        for device, figures in section["subgroups"]["patient_by_device"].items():
            click.echo(f"  {device}, per patient: {device_summary(figures)}")
        gate = section["quality_gate"]
        click.echo(f"  quality gate: refused {gate['refused_good']}/{gate['good_records']} good recordings "
                   f"({gate['refused_crackle']}/{gate['crackle_records']} with crackles), caught "
                   f"{gate['caught']}/{gate['poor_quality_records']} Poor Quality; "
                   f"{patient['not_assessable']['patients']} patients not assessable")
    if "icbhi_adults" in report:
        icbhi_report = report["icbhi_adults"]
        click.echo(f"ICBHI adults: {icbhi_report['crackle_free_called_negative']}/{icbhi_report['crackle_free']} "
                   f"crackle-free recordings called negative ({icbhi_report['crackle_free_refused']} refused)")
    for population, table in (report.get("stress") or {}).items():
        for condition, figures in table.items():
            aucs = ", ".join(f"{level.replace('_auc', '')} AUC {figures[level]:.3f}" for level in ("recording_auc", "patient_auc")
                             if figures[level] is not None)
            click.echo(f"  stress {population}, {condition}: {figures['accepted']}/{figures['recordings']} accepted"
                       + (f"; {aucs}" if aucs else ""))
    if "manifest_check" in report:
        click.echo("manifest reproduced" if report["manifest_check"]["all_ok"] else "manifest NOT reproduced: "
                   + json.dumps(report["manifest_check"]["metrics"]))
