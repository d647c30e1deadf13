"""``ildscreen screen``: the whole assessment for one patient from the command line, without
a database: clinical picture from flags, evidence from files."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Iterable, NamedTuple, Optional

import click

from audio_models.errors import AudioError, ModelError
from edge.commands.labs import warn_of_unit_slips
from edge.commands.models import domain_errors, require_active_bundle
from edge.errors import ValidationError
from edge.vocabulary import (AUTOANTIBODIES, CHEST_PIECE_NOT_STATED, CHEST_PIECES, CHEST_SITES, CTD_DIAGNOSES,
                             STETHOSCOPE_NOT_STATED, SYMPTOMS)

# The scoring, the fusion and the screening are imported by the functions that use them: 'ildscreen --help'
# and every other command start without numpy, the models' runtime or the settings.
if TYPE_CHECKING:
    from audio_models.limits import AudioLimits
    from edge.fusion.clinical_prior import ClinicalPicture
    from edge.fusion.evidence import EvidenceOptions, ModalityEvidence


class Take(NamedTuple):
    """One ``--audio`` recording: where, which file, and through which chest piece and stethoscope."""

    chest_site: str
    path: Path
    chest_piece: str
    stethoscope: str


def auscultation_evidence_from_files(takes: list[Take], picture: ClinicalPicture,
                                     options: EvidenceOptions, limits: AudioLimits) -> ModalityEvidence:
    """The crackle finding of the takes, by the service's own rule (edge.modalities): each scored
    result carries its chest piece and its stethoscope's validation, as a stored recording does, so a
    clear take through a piece in ``options.chest_pieces_cannot_clear`` leaves its site unheard, and a
    take whose stethoscope does not count (:func:`edge.modalities.stethoscope_counts`) counts nowhere,
    here exactly as for a visit."""
    from edge import auscultation
    from edge.fusion.evidence import NON_LUNG_SITES
    from edge.modalities import auscultation_evidence_from_results

    try:
        model = auscultation.default_model()
    except ModelError as exc:
        raise click.ClickException(f"auscultation model: {exc}") from exc
    results = []
    for take in takes:
        try:
            result = auscultation.score_recording(str(take.path), chest_site=take.chest_site, backend=model, limits=limits)
        except AudioError as exc:
            raise click.ClickException(f"{take.path}: {exc}") from exc
        results.append({**result, "chest_piece": take.chest_piece, "stethoscope": take.stethoscope,
                        "stethoscope_validation": auscultation.served_stethoscope_validation(
                            take.stethoscope, take.chest_piece, options.validation_rule)})
    evidence = auscultation_evidence_from_results(results, picture, options)
    if evidence is None:
        if all(take.chest_site in NON_LUNG_SITES for take in takes):
            raise click.ClickException("no recording from a lung site (the trachea says nothing about crackles)")
        raise click.ClickException("no lung site heard: " + "; ".join(
            f"{take.chest_site}: {why_not_heard(take, result, options)}" for take, result in zip(takes, results)
            if take.chest_site not in NON_LUNG_SITES))
    return evidence


def why_not_heard(take: Take, result: dict, options: EvidenceOptions) -> str:
    """Why a lung-site take left its site unheard (:func:`edge.modalities.why_not_heard`, the reasons the
    visit's lung-sound line names too), for the error of a screening where none was heard: the quality gate
    refused it, its stethoscope does not count (the tablet's words for it, which name a device whose own
    figures fail the validation rule), or it found no crackles through a chest piece that cannot rule them
    out (``options.chest_pieces_cannot_clear``; then what to record through, as the tablet says it:
    :func:`edge.web.presenters.record_again_clearing`)."""
    from edge import modalities
    from edge.web.presenters import record_again_clearing

    reason = modalities.why_not_heard(result, threshold=result["model"].get("threshold"),
                                      cannot_clear=options.chest_pieces_cannot_clear,
                                      require_validated_stethoscope=options.require_validated_stethoscope)
    if reason in ("refused", "waiting_score"):
        return f"refused by the quality gate ({', '.join(result['quality']['issues']) or 'nothing to score'})"
    if reason in ("device_figures", "stethoscope"):
        return take_stethoscope(take, options)["stethoscope_validation"]["statement"]
    counting = (result.get("stethoscope_validation") or {}).get("devices_counting")
    record = record_again_clearing(modalities.devices_that_can_clear(counting, options.chest_pieces_cannot_clear),
                                   "en", sites="one")
    return (f"found no crackles, but through the {take.chest_piece}, a chest piece that cannot rule them out "
            f"({', '.join(options.chest_pieces_cannot_clear)}). {record}")


class LabsFromFile(NamedTuple):
    """What ``--labs`` gives the assessment, and the results in it that look like unit slips."""

    evidence: ModalityEvidence
    lymphocytes: Optional[float]
    unit_checks: list[dict]


def labs_evidence_from_file(path: Path, options: EvidenceOptions, *, unit_check_factor: float) -> LabsFromFile:
    """The lab file's evidence; its lymphocyte count (10^9/L, or None), which triage reads the
    Sjögren's lymphopenia factor from, as for a visit's blood count; and its results that look like
    unit slips (``unit_check_factor``: the ``lab_unit_check_factor`` setting), each named in a warning
    on stderr and scored as given (:func:`edge.commands.labs.warn_of_unit_slips`)."""
    from edge.labs import panel_lymphocytes, read_lab_file, score_lab_panel
    from edge.modalities import labs_evidence_from_score

    with path.open("rb") as handle:
        scored = score_lab_panel(read_lab_file(handle))
    return LabsFromFile(labs_evidence_from_score(scored, options), panel_lymphocytes(scored["normalized"]),
                        warn_of_unit_slips(scored["records"], unit_check_factor=unit_check_factor))


def breath_evidence_from_file(path: Path, options: EvidenceOptions) -> ModalityEvidence:
    from edge.breath import score_breath_reading
    from edge.modalities import scored_evidence

    scored = score_breath_reading(path.read_text(encoding="utf-8-sig"))
    if scored["probability"] is None:
        raise click.ClickException(f"{path}: breath reading failed its quality checks: {'; '.join(scored['warnings'])}")
    return scored_evidence("breath", scored["probability"], scored["model"], options)


def take_stethoscope(take: Take, options: EvidenceOptions) -> dict:
    """A take's stethoscope as the output gives it: its site, chest piece and stethoscope, and its
    ``stethoscope_validation`` with ``counts`` and ``statement``, as the API gives a stored take's."""
    from edge.auscultation import served_stethoscope_validation
    from edge.web.presenters import stethoscope_validation_in_words

    validation = stethoscope_validation_in_words(
        served_stethoscope_validation(take.stethoscope, take.chest_piece, options.validation_rule), "en",
        require_validated_stethoscope=options.require_validated_stethoscope)
    return {"chest_site": take.chest_site, "chest_piece": take.chest_piece, "stethoscope": take.stethoscope,
            "stethoscope_validation": validation}


def per_recording(given: tuple[str, ...], recordings: int, *, option: str, default: str) -> list[str]:
    """An option given with ``--audio`` (``--chest-piece``, ``--stethoscope``), one value per recording:
    none given means ``default``, one applies to every recording, otherwise one per ``--audio`` in the
    same order."""
    if len(given) > 1 and len(given) != recordings:
        raise click.BadParameter(f"give one {option} for every --audio, or one for all of them: got "
                                 f"{len(given)} for {recordings} recording(s)", param_hint=option)
    if given and not recordings:
        raise click.BadParameter(f"{option} without a recording: add --audio SITE=FILE", param_hint=option)
    return list(given) if len(given) > 1 else [given[0] if given else default] * recordings


def check_stethoscopes(names: Iterable[str], clinic_stethoscopes: Collection[str]) -> None:
    """Refuse a ``--stethoscope`` by the check an upload's goes through (:func:`edge.recordings.
    check_stethoscope`): a name outside the clinic's ``stethoscopes`` (the setting) and ``not_stated``
    is a usage error naming the option and the names it takes."""
    from edge.recordings import check_stethoscope

    for name in dict.fromkeys(names):
        try:
            check_stethoscope(name, clinic_stethoscopes)
        except ValidationError as exc:
            raise click.BadParameter(f"{exc} (the clinic's stethoscopes are those of the setting stethoscopes)",
                                     param_hint="--stethoscope") from exc


def parse_audio_options(values: tuple[str, ...], chest_pieces: tuple[str, ...] = (), stethoscopes: tuple[str, ...] = (),
                        *, upload_stethoscope: str = STETHOSCOPE_NOT_STATED,
                        clinic_stethoscopes: Collection[str] = ()) -> list[Take]:
    """The ``--audio SITE=FILE`` recordings, in order, each with its ``--chest-piece`` and its
    ``--stethoscope`` (:func:`per_recording`). No chest piece means ``not_stated`` and no stethoscope
    ``upload_stethoscope`` (the setting), as the service stores an upload that states neither; a
    stethoscope outside ``clinic_stethoscopes`` is refused before any file is read. Several takes of
    one site are all kept (the site's finding is their maximum, as for a visit)."""
    pieces = per_recording(chest_pieces, len(values), option="--chest-piece", default=CHEST_PIECE_NOT_STATED)
    devices = per_recording(stethoscopes, len(values), option="--stethoscope", default=upload_stethoscope)
    check_stethoscopes(devices, clinic_stethoscopes)
    takes = []
    for value, piece, stethoscope in zip(values, pieces, devices):
        site, sep, file = value.partition("=")
        if not sep or site not in CHEST_SITES:
            raise click.BadParameter(f"expected SITE=FILE with SITE one of {', '.join(CHEST_SITES)}, got {value!r}",
                                     param_hint="--audio")
        if not Path(file).is_file():
            raise click.BadParameter(f"no such file: {file}", param_hint="--audio")
        takes.append(Take(site, Path(file), piece, stethoscope))
    return takes


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
@click.option("--chest-piece", "chest_pieces", multiple=True, type=click.Choice(list(CHEST_PIECES)),
              help="The stethoscope's chest piece (filter mode) of the --audio recordings: once for all of them, or "
                   "once per --audio in the same order. Default not_stated. A clear recording through a piece in "
                   "evidence_chest_pieces_cannot_clear (the bell) does not make its site heard.")
@click.option("--stethoscope", "stethoscopes", multiple=True, metavar="NAME",
              help="The stethoscope (make and model) of the --audio recordings: one of the clinic's setting "
                   "stethoscopes, or not_stated; once for all of them, or once per --audio in the same order. Default: "
                   "the setting upload_stethoscope. Each take's stethoscope status is printed (JSON: takes); a take "
                   "through a stethoscope the crackle model was not validated on in adults does not count.")
@click.option("--labs", "labs_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Lab panel: CSV analyte,value,unit[,date], JSON, or FHIR R4 Bundle. A result that looks like a "
                   "unit slip (setting lab_unit_check_factor) is named in a warning on stderr and in the JSON's "
                   "unit_checks, and scored as given.")
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
@domain_errors
def screen(as_json, age, sex, ctd, antibodies, smoker, symptoms, audio, chest_pieces, stethoscopes, labs_file,
           breath_file, fvc, dlco, ild_confirmed, hrct_no_ild, data_dir) -> None:
    """Assess one patient: fused ILD probability, 0-100 score, 90% interval, what missing tests
    could change, the guideline line and next step, and the models' validation status."""
    from edge.config import load_settings
    from edge.fusion.clinical_prior import ClinicalPicture
    from edge.modalities import potential_ranges
    from edge.regional_validation import select_active_regional_validation
    from edge.screening import assess
    from edge.site_calibration import select_active_calibration
    from edge.web.presenters import stethoscope_name

    settings = load_settings(data_dir=data_dir)
    takes = parse_audio_options(audio, chest_pieces, stethoscopes, upload_stethoscope=settings.upload_stethoscope,
                                clinic_stethoscopes=settings.stethoscopes)
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
    require_active_bundle(settings)
    select_active_calibration(settings.models_path)  # as the service would, from its start
    select_active_regional_validation(settings.models_path, settings.model_signing_keys)
    options = settings.evidence_options
    evidence = []
    if takes:
        evidence.append(auscultation_evidence_from_files(takes, picture, options, settings.audio_limits))
    lymphocytes, unit_checks = None, []
    if labs_file:
        labs = labs_evidence_from_file(labs_file, options, unit_check_factor=settings.lab_unit_check_factor)
        evidence.append(labs.evidence)
        lymphocytes, unit_checks = labs.lymphocytes, labs.unit_checks
    if breath_file:
        evidence.append(breath_evidence_from_file(breath_file, options))
    result = assess(picture, evidence, thresholds=settings.triage_thresholds, options=options,
                    potential=potential_ranges(picture, options), fvc_percent=fvc, dlco_percent=dlco,
                    ild_confirmed={"source": "command line (--ild-confirmed)"} if ild_confirmed else None,
                    hrct={"date": hrct_no_ild.date().isoformat(), "ild": "absent"} if hrct_no_ild else None,
                    lymphocytes=lymphocytes)
    output = {key: result[key] for key in ("probability", "score", "interval", "if_missing_measured", "uncertainty",
                                           "tier", "tier_from_risk", "recommendation", "contributions", "missing",
                                           "red_flags", "staging", "model_versions", "synthetic_models",
                                           "validation", "pretest_probability", "evidence_options", "calibration",
                                           "pathway", "monitoring", "not_counted", "interval_sources")}
    output["unit_checks"] = unit_checks
    output["takes"] = [take_stethoscope(take, options) for take in takes]
    if as_json:
        click.echo(json.dumps(output))
        return
    click.echo(f"ILD risk {result['score']}/100; tier {result['tier']}")
    click.echo(result["uncertainty"])
    click.echo(result["recommendation"]["text"])
    for name, reason in result["not_counted"].items():
        click.echo(f"{name}: measured, not yet counted: {reason}")
    for number, take in enumerate(output["takes"], start=1):
        # Each take's stethoscope status in the tablet's words, saying when (and why) the take does not count.
        click.echo(f"take {number} ({take['chest_site']}, {stethoscope_name(take['stethoscope'], 'en')}): "
                   f"{take['stethoscope_validation']['statement']}")
    guideline = result["recommendation"]["guideline"]
    if guideline["risk_factors"]:
        # Measured factors by what was measured ("lymphocytes 0.8 x10^9/L on ..."), the ticked ones by code.
        measured = {item["code"]: item["text"] for item in guideline.get("risk_factor_findings", [])}
        click.echo("risk factors: " + "; ".join(measured.get(code, code) for code in guideline["risk_factors"]))
    click.echo(f"guideline: {guideline['source']}")
    if result["missing"]:
        click.echo(f"not available: {', '.join(result['missing'])}")
    if result["synthetic_models"]:
        click.echo(f"models trained on synthetic data only: {', '.join(result['synthetic_models'])}")
    click.echo(result["validation"]["note"])
