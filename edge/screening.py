"""Assessing a screening visit: gather each modality's evidence, fuse it with the clinical
prior, triage, stage, and store the assessment with every model version and input used.

Modality scorers are registered by name (``SCORERS``); each turns what was stored for a visit
into one ``ModalityEvidence`` or None when nothing usable was recorded. A modality without a
scorer or without data is reported as missing, never guessed.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from typing import Optional

import sqlite_utils

from edge import audit, monitoring_ends, outcomes, regional_validation, site_calibration
from edge.errors import NotFound, ValidationError
from edge.fusion.clinical_prior import ClinicalPicture, clinical_prior
from edge.fusion.evidence import EvidenceOptions, ModalityEvidence
from edge.fusion.fusion import fuse
from edge.fusion.monitoring import (discordant_hrct, end_in_effect, ended_plan, ended_recommendation, mdt_sentence,
                                   monitoring_plan, monitoring_recommendation, resumes_screening)
from edge.fusion.staging import stage
from edge.fusion.triage import (TriageThresholds, anti_mda5_hrct_sentence, hrct_since_anti_mda5, patient_factors,
                                recorded_findings, red_flags, triage)
from edge.auscultation import population_by_device
from edge.breath import score_unscored_breath_readings
from edge.inference.bundles import served_entry_digests
from edge.labs import recent_lymphocytes
from edge.patients import get_patient, require_open_visit
from edge.modalities import SCORERS, ModalityScorer, potential_ranges, served_crackle_model
from edge.recordings import (check_takes_readable, list_recordings, rescore_takes_of_other_models,
                             score_unscored_recordings)
from edge.store.blobs import BlobStore
from edge.store.database import utc_now, write_transaction
from edge.web.i18n import translate

VALIDATION_NOTE = ("Not validated for clinical use: the evidence model{models} {verb} not been validated on "
                   "patients; treat the risk as a research estimate.")


def possible_ages(birth_year: int, on: dt.date) -> tuple[int, int]:
    """Both ages a person born in ``birth_year`` can have on ``on`` (before / after the birthday)."""
    return on.year - birth_year - 1, on.year - birth_year


def clinical_picture(patient: dict, *, on: Optional[str] = None) -> ClinicalPicture:
    """The clinical prior's inputs from the patient record, at the visit date.

    Only the birth year is on record, so the age is the midpoint of the two possible ages and
    ``ages`` keeps both (GAP scores both).
    """
    day = dt.date.fromisoformat(on[:10]) if on else dt.date.today()
    youngest, oldest = possible_ages(patient["birth_year"], day)
    return ClinicalPicture(
        ctd_diagnosis=patient["ctd_diagnosis"],
        age=(youngest + oldest) / 2,
        sex=patient["sex"],
        smoking=patient["smoking"],
        autoantibodies=tuple(patient["autoantibodies"]),
        symptoms=tuple(patient["symptoms"]),
        ages=(youngest, oldest),
    )


def last_hrct(db: sqlite_utils.Database, patient_id: int, *, on: str, ild: Optional[str] = None) -> Optional[dict]:
    """The patient's most recent confirming HRCT read (ILD present or absent; only ``ild`` when given)
    on or before ``on`` (ISO date), as ``{"date", "ild"}``, or None: what triage reads a negative HRCT
    from, and monitoring the read a later one without ILD disagrees with."""
    reads = [item for item in outcomes.confirmed_outcomes(db, patient_id)
             if item["source"] == "hrct" and item["date"] <= on[:10] and ild in (None, item["ild"])]
    return {"date": reads[-1]["date"], "ild": reads[-1]["ild"]} if reads else None


def anti_mda5_first_on_record(db: sqlite_utils.Database, patient_id: int, *, on: str) -> str:
    """The date anti-MDA5 was first on record for the patient: the visit date of the earliest stored
    assessment whose clinical picture held it, else ``on`` (ISO; the visit now assessed).

    The record keeps no date of an antibody test, so the clinic's own first reading of it stands in
    for one: an HRCT read on or after it answers the antibody's red flag
    (:func:`edge.fusion.triage.hrct_since_anti_mda5`)."""
    rows = db.execute_returning_dicts(
        "SELECT visits.started_at, risk_assessments.inputs FROM risk_assessments JOIN visits "
        "ON visits.id = risk_assessments.visit_id WHERE visits.patient_id = ? ORDER BY visits.started_at, "
        "risk_assessments.id", [patient_id])
    for row in rows:
        picture = json.loads(row["inputs"] or "{}").get("clinical_picture") or {}
        if "anti-MDA5" in (picture.get("autoantibodies") or ()):
            return min(row["started_at"][:10], on[:10])
    return on[:10]


def tests_raised(fused: dict) -> bool:
    """Whether the measured tests, as the risk applied them (capped, weighted), raised it above the
    clinical picture's: their combined likelihood ratio is above 1."""
    return sum(math.log(item["applied_likelihood_ratio"]) for name, item in fused["contributions"].items()
               if name != "clinical_prior") > 0


def validation_summary(fused: dict) -> dict:
    """The one note the result page, the CLI and the referral show about validation."""
    unvalidated = sorted(name for name, model in fused["models"].items() if not model["clinically_validated"])
    models = "".join(f", the {name} model" for name in unvalidated)
    return {"clinically_validated": False, "unvalidated_models": unvalidated, "models": fused["models"],
            "note": VALIDATION_NOTE.format(models=models, verb="have" if unvalidated else "has")}


def uncertainty_sentence(fused: dict, *, lang: str = "en") -> str:
    """Both uncertainties in one sentence, worded as on the result page (one catalog entry)."""
    low, high = (f"{value * 100:.0f}" for value in fused["interval"])
    missing = fused["if_missing_measured"]
    if not missing:
        sentence = translate("uncertainty_interval", lang, low=low, high=high)
    else:
        sentence = translate("uncertainty_both", lang, low=low, high=high, missing_low=f"{missing['low'] * 100:.0f}",
                             missing_high=f"{missing['high'] * 100:.0f}")
    if fused.get("not_counted"):
        # Say that a measured test was left out rather than let the interval look narrower than it is.
        names = ", ".join(translate(f"modality_{name}", lang) for name in sorted(fused["not_counted"]))
        sentence += " " + translate("uncertainty_not_counted", lang, names=names)
    return sentence


def assess(
    picture: ClinicalPicture,
    evidence: list[ModalityEvidence],
    *,
    thresholds: TriageThresholds,
    options: EvidenceOptions,
    potential: Optional[dict] = None,
    fvc_percent: Optional[float] = None,
    dlco_percent: Optional[float] = None,
    dlco_not_performed: bool = False,
    ild_confirmed: Optional[dict] = None,
    pft_dates: Optional[list[str]] = None,
    on: Optional[str] = None,
    hrct: Optional[dict] = None,
    lymphocytes: Optional[float] = None,
    lymphocytes_date: Optional[str] = None,
    anti_mda5_since: Optional[str] = None,
    last_ild_read: Optional[dict] = None,
    monitoring_ended: Optional[dict] = None,
) -> dict:
    """The whole assessment for one patient: fused risk, both uncertainties, tier, guideline
    line and advice, red flags, validation note; GAP / ILD-GAP only with ``ild_confirmed``.

    With ``ild_confirmed`` the patient is on the monitoring pathway (``pathway``:
    ``"monitoring"``, :mod:`edge.fusion.monitoring`): screening advice is replaced by the
    monitoring plan, the next PFTs due counted from the later of the confirmation and the last
    of ``pft_dates``, as of ``on`` (the visit date). ``hrct``: the most recent confirming HRCT read
    (:func:`last_hrct`); a recent one without ILD answers the screening HRCT (``edge.fusion.triage``).
    ``lymphocytes``: the visit's blood count (10^9/L), or an earlier visit's dated ``lymphocytes_date``
    (:func:`edge.labs.recent_lymphocytes`), for the Sjögren's lymphopenia factor
    (:func:`edge.fusion.triage.recorded_findings`). ``anti_mda5_since``: the date anti-MDA5 was first
    on record (:func:`anti_mda5_first_on_record`); an ``hrct`` read since answers its red flag (None:
    nothing answers it). On the monitoring pathway an ``hrct`` read without ILD after ``last_ild_read``
    (the most recent read with ILD; default: the confirmation) is named for a clinician's review
    (:func:`edge.fusion.monitoring.discordant_hrct`). ``monitoring_ended``: a clinician's end of monitoring in
    force on ``on`` (``{"date", "reason", "note"}``, :func:`edge.monitoring_ends.end_in_force`; one dated after
    the visit does not apply to it): the plan is shown as
    ended and the advice asks for a clinician's review of a new concern; an MDT that ruled ILD out (unless a
    read with ILD came after it) puts the patient back on screening, and the advice says so first."""
    if dlco_not_performed and dlco_percent is not None:
        raise ValidationError("give either dlco_percent or dlco_not_performed, not both",
                              fields=[{"field": "dlco_percent", "reason": "conflicts with dlco_not_performed"}])
    prior = clinical_prior(picture, undetermined=options.undetermined_prior, odds_ratios=options.odds_ratios,
                           bounds=options.prior_bounds, age_from=options.prior_age_from)
    # Site calibration maps the fused probability before triage (edge/site_calibration.py).
    fused = site_calibration.recalibrated(fuse(prior, evidence, options=options, potential=potential))
    answered = (hrct_since_anti_mda5(hrct, since=anti_mda5_since) if "anti-MDA5" in picture.autoantibodies
                else None)
    flags = red_flags(autoantibodies=picture.autoantibodies, symptoms=picture.symptoms,
                      fvc_percent=fvc_percent, dlco_percent=dlco_percent,
                      pft_abnormal_below=thresholds.pft_abnormal_below, anti_mda5_hrct=answered)
    factors = patient_factors(sex=picture.sex, smoking=picture.smoking, autoantibodies=picture.autoantibodies,
                              symptoms=picture.symptoms)
    findings = recorded_findings(lymphocytes=lymphocytes, ages=picture.ages, thresholds=thresholds,
                                 lymphocytes_date=lymphocytes_date)
    result = {**fused, **triage(fused["probability"], thresholds=thresholds, flags=flags,
                                ctd_diagnosis=picture.ctd_diagnosis, factors=factors, last_hrct=hrct, on=on,
                                tests_raised=tests_raised(fused), findings=findings, anti_mda5_hrct=answered)}
    result["uncertainty"] = uncertainty_sentence(fused)
    result["validation"] = validation_summary(fused)
    result["confirmed_ild"] = ild_confirmed
    result["pathway"], result["monitoring"] = "screening", None
    ended = end_in_effect(monitoring_ended, last_ild_read or ild_confirmed) if ild_confirmed else None
    # Screening advice (HRCT + PFTs to find ILD) would contradict a confirmed diagnosis; a red flag
    # still makes the monitoring advice urgent.
    priority = "urgent" if result["tier"] == "urgent" else "routine"
    kept = [anti_mda5_hrct_sentence(answered)] if answered else []
    if resumes_screening(ended):
        ild_confirmed = None  # the MDT's diagnosis replaces the read: no GAP staging either
        recommendation = result["recommendation"]
        result["recommendation"] = {**recommendation, "monitoring_ended": ended,
                                    "text": f"{mdt_sentence(ended)} {recommendation['text']}"}
    elif ended:
        plan = ended_plan(ended)
        result["pathway"], result["monitoring"] = "monitoring", plan
        result["recommendation"] = {**result["recommendation"],
                                    **ended_recommendation(plan, priority=priority, kept=kept)}
    elif ild_confirmed:
        plan = monitoring_plan(picture.ctd_diagnosis, confirmed_on=ild_confirmed.get("date"),
                               pft_dates=list(pft_dates or []), on=on,
                               after_first_year=thresholds.monitoring_after_first_year,
                               first_year=thresholds.monitoring_first_year)
        result["pathway"], result["monitoring"] = "monitoring", plan
        result["recommendation"] = {**result["recommendation"], **monitoring_recommendation(
            plan, priority=priority, discordant=discordant_hrct(last_ild_read or ild_confirmed, hrct), kept=kept)}
    pfts = fvc_percent is not None and (dlco_percent is not None or dlco_not_performed)
    if ild_confirmed and pfts:
        ages = picture.ages or (int(picture.age), int(picture.age))
        result["staging"] = stage(sex=picture.sex, ages=ages, fvc_percent=fvc_percent,
                                  dlco_percent=None if dlco_not_performed else dlco_percent)
    else:
        result["staging"] = None
    return result


def _assessment_from_row(row: dict) -> dict:
    inputs = json.loads(row["inputs"])
    return {
        "id": row["id"],
        "visit_id": row["visit_id"],
        "created_at": row["created_at"],
        **json.loads(row["result"]),
        "inputs": inputs,
    }


def score_kept_inputs(db: sqlite_utils.Database, blobs: BlobStore, visit_id: int, crackle_model,
                      actor: audit.Actor) -> None:
    """Score what a visit kept unscored during a model outage, and score again the takes another
    crackle model scored (``edge.recordings.rescore_takes_of_other_models``: after a model update
    one model, the served one, judges every take), before it is assessed. ``actor`` (who asked for
    the assessment) is who the audit trail names for each score filled in or replaced.

    Raises ``VisitClosed`` for a closed visit before anything is scored
    (:func:`edge.patients.require_open_visit`), ``ModelUnavailable`` (naming them) while a needed model is
    still unavailable, so a visit is never assessed as if its recordings or breath readings did not exist, and
    ``TakeAudioMissing`` (naming the take) before anything is scored when a take to be scored
    has lost its sound file. Lab panels and the breath reading are scored by the served model when
    the evidence is read (``edge.modalities``); a reading kept unscored gets its first score here, for the record.
    """
    require_open_visit(db, visit_id)
    check_takes_readable(db, blobs, visit_id, crackle_model)
    score_unscored_recordings(db, blobs, visit_id, crackle_model, actor)
    rescore_takes_of_other_models(db, blobs, visit_id, crackle_model, actor)
    score_unscored_breath_readings(db, visit_id)


def rescored_takes(recordings: list[dict]) -> list[dict]:
    """The takes whose score the model that judged them gave on a second scoring, each with the model
    that first scored it (``edge.recordings.rescore_takes_of_other_models``): ``recording_id``,
    ``chest_site``, ``model_version`` and ``threshold`` (now), ``first_model_version``,
    ``first_threshold`` and ``first_crackle_probability``. An assessment keeps them, and its page
    says which model first scored each."""
    taken = []
    for recording in recordings:
        if not recording.get("earlier_scores"):
            continue
        first = recording["earlier_scores"][0]
        taken.append({"recording_id": recording["id"], "chest_site": recording["chest_site"],
                      "model_version": recording["model_version"], "threshold": recording["crackle_threshold"],
                      "crackle_probability": recording["crackle_probability"],
                      "first_model_version": first["model_version"], "first_threshold": first["threshold"],
                      "first_crackle_probability": first["crackle_probability"]})
    return taken


def assess_visit(
    db: sqlite_utils.Database,
    actor: audit.Actor,
    visit_id: int,
    *,
    thresholds: TriageThresholds,
    options: Optional[EvidenceOptions] = None,
    scorers: Optional[dict[str, ModalityScorer]] = None,
) -> dict:
    """Assess an open visit from what is stored for it and store the result (a new row each time).
    Raises ``VisitClosed`` for a closed visit, also one closed while it was assessed: nothing is stored
    (:func:`edge.patients.require_open_visit`).

    The lung function (FVC, DLCO) is the visit's stored one (:func:`edge.patients.set_lung_function`), as
    every other input is: the tablet and the API give the same result for one visit, and the result is
    current for what the visit holds (:mod:`edge.freshness` compares the two)."""
    options = options or EvidenceOptions()
    visit = require_open_visit(db, visit_id)
    lung = visit.get("lung_function") or {}
    fvc_percent, dlco_percent = lung.get("fvc_percent"), lung.get("dlco_percent")
    dlco_not_performed = bool(lung.get("dlco_not_performed"))
    patient = get_patient(db, visit["patient_id"])
    picture = clinical_picture(patient, on=visit["started_at"])
    evidence = []
    for scorer in (SCORERS if scorers is None else scorers).values():
        item = scorer(db, visit_id, picture, options)
        if item is not None:
            evidence.append(item)
    visit_day = visit["started_at"][:10]
    hrct = last_hrct(db, patient["id"], on=visit_day)
    # PFTs on record (outcomes of source "pft") and today's, when entered with this assessment.
    pft_dates = [item["date"] for item in outcomes.list_outcomes(db, patient["id"]) if item["source"] == "pft"]
    if fvc_percent is not None:
        pft_dates.append(visit_day)
    lymphocytes, lymphocytes_date = recent_lymphocytes(db, visit, months=thresholds.lymphopenia_lookback_months)
    since = (anti_mda5_first_on_record(db, patient["id"], on=visit_day) if "anti-MDA5" in picture.autoantibodies
             else None)
    ended = monitoring_ends.end_in_force(db, patient["id"], on=visit_day)  # an end dated after the visit: none
    potential = potential_ranges(picture, options)
    result = assess(picture, evidence, thresholds=thresholds, options=options, potential=potential,
                    fvc_percent=fvc_percent, dlco_percent=dlco_percent, dlco_not_performed=dlco_not_performed,
                    ild_confirmed=outcomes.confirmed_ild(db, patient["id"]), pft_dates=pft_dates, on=visit_day,
                    hrct=hrct, lymphocytes=lymphocytes, lymphocytes_date=lymphocytes_date, anti_mda5_since=since,
                    last_ild_read=last_hrct(db, patient["id"], on=visit_day, ild="present"),
                    monitoring_ended=ended)
    # Kept with the result (beside its evidence_options), so that its pages read the takes as it
    # did, and say what the crackle model was checked on, after the model or its threshold changes.
    crackle_model = served_crackle_model()
    lung_sounds = next((item for item in evidence if item.modality == "auscultation"), None)
    result["crackle_threshold"] = crackle_model.threshold
    result["crackle_model_adults"] = crackle_model.counted_figures(lung_sounds)
    # Their population's figures per device, which figures of one device alone do not carry: the note says
    # what each chest piece found.
    result["crackle_model_by_device"] = population_by_device(result["crackle_model_adults"], crackle_model.populations)
    result["crackle_takes_rescored"] = rescored_takes(list_recordings(db, visit_id, rule=options.validation_rule))
    # What edge.freshness compares with what is served later: the content of each served model's
    # manifest entry (a model re-issued at the same version is another) and the regional validation.
    result["model_digests"] = served_entry_digests()
    result["regional_validation"] = regional_validation.selected_regional_validation().version
    inputs = {
        "clinical_picture": {**picture.__dict__, "autoantibodies": list(picture.autoantibodies),
                             "symptoms": list(picture.symptoms), "ages": list(picture.ages or ())},
        "evidence": [item.__dict__ for item in evidence],
        "pft": {"fvc_percent": fvc_percent, "dlco_percent": dlco_percent, "dlco_not_performed": dlco_not_performed},
        "hrct": hrct,  # the most recent confirming HRCT read triage was given
        "lymphocytes": lymphocytes,  # the blood count (10^9/L) triage read lymphopenia from
        "lymphocytes_date": lymphocytes_date,  # its visit's date when an earlier visit's; None: this visit's
        "anti_mda5_since": since,  # the date anti-MDA5 was first on record (None: not on record)
        "monitoring_ended": ended,  # the end in force on the visit's date (None: none; edge.freshness compares)
        # Every outcome on record (HRCT, PFT, hospital reads), of which triage read some: edge.freshness compares.
        "outcomes": outcomes.outcomes_as_kept(db, patient["id"]),
        # The log-LR range of each missing modality the "if missing, measured" line read (None: no model to
        # give one): edge.freshness compares it with what the served entry gives, once that entry changed.
        "potential_ranges": {name: list(potential[name]) if potential.get(name) is not None else None
                             for name in result["missing"]},
    }
    with write_transaction(db):
        require_open_visit(db, visit_id)  # closed meanwhile (another tab): nothing is stored
        assessment_id = db["risk_assessments"].insert({
            "visit_id": visit_id,
            "probability": result["probability"],
            "score": result["score"],
            "interval_low": result["interval"][0],
            "interval_high": result["interval"][1],
            "tier": result["tier"],
            "recommendation": result["recommendation"]["text"],
            "contributions": json.dumps(result["contributions"]),
            "missing": json.dumps(result["missing"]),
            "model_versions": json.dumps(result["model_versions"]),
            "calibration_version": result["calibration"]["version"],
            "inputs": json.dumps(inputs),
            "result": json.dumps(result),
            "created_at": utc_now(),
            "created_by": actor.user_id,
        }).last_pk
        audit.record(db, actor, "create", "assessment", assessment_id, {"visit_id": visit_id, "tier": result["tier"]})
    return get_assessment(db, assessment_id)


def get_assessment(db: sqlite_utils.Database, assessment_id: int) -> dict:
    rows = db.execute_returning_dicts("SELECT * FROM risk_assessments WHERE id = ?", [assessment_id])
    if not rows:
        raise NotFound(f"no assessment with id {assessment_id}")
    return _assessment_from_row(rows[0])


def latest_assessment(db: sqlite_utils.Database, visit_id: int) -> Optional[dict]:
    rows = db.execute_returning_dicts(
        "SELECT * FROM risk_assessments WHERE visit_id = ? ORDER BY id DESC LIMIT 1", [visit_id])
    return _assessment_from_row(rows[0]) if rows else None


def list_assessments(db: sqlite_utils.Database, visit_id: int) -> list[dict]:
    rows = db.execute_returning_dicts("SELECT * FROM risk_assessments WHERE visit_id = ? ORDER BY id", [visit_id])
    return [_assessment_from_row(row) for row in rows]
