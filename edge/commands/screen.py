"""``ildscreen screen``: the whole assessment for one patient from the command line, without
a database: clinical picture from flags, evidence from files."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from audio_models.errors import AudioError, ModelError
from audio_models.io import AudioLimits
from edge.auscultation import default_model, score_recording
from edge.breath import score_breath_reading
from edge.config import load_settings
from edge.errors import IldscreenError
from edge.fusion.clinical_prior import ClinicalPicture
from edge.api.assessments import evidence_options_from_settings, thresholds_from_settings
from edge.fusion.evidence import EvidenceOptions, ModalityEvidence
from edge.inference.bundles import select_active_bundle
from edge.regional_validation import select_active_regional_validation
from edge.site_calibration import select_active_calibration
from edge.labs import read_lab_file, score_lab_panel
from edge.modalities import (auscultation_evidence_from_results, labs_evidence_from_score, potential_ranges,
                             scored_evidence)
from edge.screening import assess
from edge.vocabulary import AUTOANTIBODIES, CHEST_SITES, CTD_DIAGNOSES, SYMPTOMS


def auscultation_evidence_from_files(recordings: dict[str, Path], picture: ClinicalPicture,
                                     options: EvidenceOptions, limits: AudioLimits) -> ModalityEvidence:
    try:
        model = default_model()
    except ModelError as exc:
        raise click.ClickException(f"auscultation model: {exc}") from exc
    results = []
    for site, path in recordings.items():
        try:
            results.append(score_recording(str(path), chest_site=site, backend=model, limits=limits))
        except AudioError as exc:
            raise click.ClickException(f"{path}: {exc}") from exc
    evidence = auscultation_evidence_from_results(results, picture, options)
    if evidence is None:
        problems = "; ".join(f"{r['chest_site']}: {', '.join(r['quality']['issues'])}" for r in results
                             if not r["quality"]["ok"] or r["crackle_probability"] is None)
        if not problems:
            raise click.ClickException("no recording from a lung site (the trachea says nothing about crackles)")
        raise click.ClickException(f"no lung-site recording passed the quality gate ({problems})")
    return evidence


def labs_evidence_from_file(path: Path, options: EvidenceOptions) -> ModalityEvidence:
    with path.open("rb") as handle:
        scored = score_lab_panel(read_lab_file(handle))
    return labs_evidence_from_score(scored, options)


def breath_evidence_from_file(path: Path, options: EvidenceOptions) -> ModalityEvidence:
    scored = score_breath_reading(path.read_text(encoding="utf-8-sig"))
    if scored["probability"] is None:
        raise click.ClickException(f"{path}: breath reading failed its quality checks: {'; '.join(scored['warnings'])}")
    return scored_evidence("breath", scored["probability"], scored["model"], options)


def parse_audio_options(values: tuple[str, ...]) -> dict[str, Path]:
    recordings = {}
    for value in values:
        site, sep, file = value.partition("=")
        if not sep or site not in CHEST_SITES:
            raise click.BadParameter(f"expected SITE=FILE with SITE one of {', '.join(CHEST_SITES)}, got {value!r}",
                                     param_hint="--audio")
        if not Path(file).is_file():
            raise click.BadParameter(f"no such file: {file}", param_hint="--audio")
        recordings[site] = Path(file)
    return recordings


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the assessment as JSON (the default is a summary).")
@click.option("--age", type=click.IntRange(16, 120), required=True, help="Age in years.")
@click.option("--sex", type=click.Choice(["F", "M"]), required=True)
@click.option("--ctd", type=click.Choice(list(CTD_DIAGNOSES)), required=True,
              help="Connective-tissue disease ('undetermined': suspected, diagnosis not yet established).")
@click.option("--antibody", "antibodies", multiple=True, type=click.Choice(sorted(AUTOANTIBODIES)),
              help="A positive autoantibody (repeat for several).")
@click.option("--smoker", is_flag=True, help="Current or former smoker.")
@click.option("--symptom", "symptoms", multiple=True, type=click.Choice(sorted(SYMPTOMS)), help="Repeatable.")
@click.option("--audio", "audio", multiple=True, metavar="SITE=FILE", help="A lung-sound recording at a chest site.")
@click.option("--labs", "labs_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Lab panel: CSV analyte,value,unit[,date], JSON, or FHIR R4 Bundle.")
@click.option("--breath", "breath_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="E-nose breath reading (CSV or JSON).")
@click.option("--fvc", type=click.FloatRange(5, 200), help="FVC, % predicted.")
@click.option("--dlco", type=click.FloatRange(1, 200), help="DLCO, % predicted.")
@click.option("--ild-confirmed", is_flag=True,
              help="ILD is confirmed on HRCT: add GAP / ILD-GAP staging (needs --fvc and --dlco).")
@click.option("--hrct-no-ild", "hrct_no_ild", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              metavar="YYYY-MM-DD",
              help="Date of the most recent HRCT, read as no ILD: within ILDSCREEN_TRIAGE_HRCT_NEGATIVE_VALID_MONTHS "
                   "it answers the screening HRCT (advice: PFTs and a symptom review).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data folder whose settings and active model bundle are used. "
                   "Default: $ILDSCREEN_DATA_DIR or ./data.")
def screen(as_json, age, sex, ctd, antibodies, smoker, symptoms, audio, labs_file, breath_file, fvc, dlco,
           ild_confirmed, hrct_no_ild, data_dir) -> None:
    """Assess one patient: fused ILD probability, 0-100 score, 90% interval, what missing tests
    could change, the guideline line and next step, and the models' validation status."""
    recordings = parse_audio_options(audio)
    if ild_confirmed and (fvc is None or dlco is None):
        raise click.BadParameter("GAP / ILD-GAP staging needs both --fvc and --dlco", param_hint="--ild-confirmed")
    if hrct_no_ild and ild_confirmed:
        raise click.BadParameter("an HRCT without ILD contradicts --ild-confirmed; give one of them",
                                 param_hint="--hrct-no-ild")
    if hrct_no_ild and hrct_no_ild.date() > dt.date.today():
        raise click.BadParameter(f"the HRCT date is in the future ({hrct_no_ild.date().isoformat()})",
                                 param_hint="--hrct-no-ild")
    picture = ClinicalPicture(ctd_diagnosis=ctd, age=float(age), sex=sex, smoking="former" if smoker else "never",
                              autoantibodies=tuple(antibodies), symptoms=tuple(symptoms), ages=(age, age))
    try:
        settings = load_settings(data_dir=data_dir)
        bundle = select_active_bundle(settings.models_path, settings.model_signing_keys)
        select_active_calibration(settings.models_path)  # as the service would, from its start
        select_active_regional_validation(settings.models_path, settings.model_signing_keys)
        if bundle.error:
            raise click.ClickException(bundle.error)
        options = evidence_options_from_settings(settings)
        evidence = []
        if recordings:
            evidence.append(auscultation_evidence_from_files(recordings, picture, options, settings.audio_limits))
        if labs_file:
            evidence.append(labs_evidence_from_file(labs_file, options))
        if breath_file:
            evidence.append(breath_evidence_from_file(breath_file, options))
        result = assess(picture, evidence, thresholds=thresholds_from_settings(settings), options=options,
                        potential=potential_ranges(picture, options), fvc_percent=fvc, dlco_percent=dlco,
                        ild_confirmed={"source": "command line (--ild-confirmed)"} if ild_confirmed else None,
                        hrct={"date": hrct_no_ild.date().isoformat(), "ild": "absent"} if hrct_no_ild else None)
    except IldscreenError as exc:
        raise click.ClickException(exc.message) from exc
    output = {key: result[key] for key in ("probability", "score", "interval", "if_missing_measured", "uncertainty",
                                           "tier", "tier_from_risk", "recommendation", "contributions", "missing",
                                           "red_flags", "staging", "model_versions", "synthetic_models",
                                           "validation", "pretest_probability", "evidence_options", "calibration",
                                           "pathway", "monitoring", "not_counted", "interval_sources")}
    if as_json:
        click.echo(json.dumps(output))
        return
    click.echo(f"ILD risk {result['score']}/100; tier {result['tier']}")
    click.echo(result["uncertainty"])
    click.echo(result["recommendation"]["text"])
    for name, reason in result["not_counted"].items():
        click.echo(f"{name}: measured, not yet counted: {reason}")
    click.echo(f"guideline: {result['recommendation']['guideline']['source']}")
    if result["missing"]:
        click.echo(f"not available: {', '.join(result['missing'])}")
    if result["synthetic_models"]:
        click.echo(f"models trained on synthetic data only: {', '.join(result['synthetic_models'])}")
    click.echo(result["validation"]["note"])
