"""Whether a visit's result is current: what changed after it was calculated, and the one check a
referral passes before it carries that result (the tablet's page and the HTTP API both reach it
through :func:`edge.outbox.create_referral`).

A result is calculated from what is stored when the nurse presses "Calculate"; blood tests typed,
breath read, takes recorded or discarded, lung function or the patient's details and symptoms
edited afterwards are not in it, nor an earlier visit's blood count that triage's lymphopenia
look-back would now read (:func:`_earlier_blood_count_changed`), nor an end of ILD monitoring recorded
or resumed since (compared with the end the result kept; an end dated after the visit applies to none
of its results), nor an outcome (an HRCT or PFT entered, a hospital CT read)
added or read again since: triage reads them (:func:`_outcomes_changed`, compared with the outcomes the
result kept). The page says what changed and the referral, which carries the
result, waits for a new one. Details, symptoms and lung function are compared with what the result
kept (its ``inputs``), so a review saved without a change is not a change; what is added or
discarded is ordered against the result's own audit entry (entry ids, not clocks: two writes in
the same millisecond are still ordered), which also sees a discarded take whose row is gone.
Programme settings changed since (:func:`settings_changed`) also make the result out of date: the
referral carries the tier those settings gave. So does a model update (:func:`models_changed`):
Calculate scores the takes, the blood tests and the breath reading again with the models served then,
so a result whose crackle, lab or breath model is no longer the one served is not what calculating
again would give: another version, or the same version re-issued with another manifest entry (its
calibration, threshold, training prevalence, validation or files; the result keeps each entry's
digest). So does another served entry of a modality the result lacks, where it gives another range than the
one the result's "if missing, measured" line read. So does another site calibration or regional validation
than the result's: Calculate applies the ones selected when the service started. So does a result whose lung
sounds counted before each take was judged by its own device's figures, when the served crackle model has
such figures (:func:`counted_before_device_rule`), and one whose lung sounds counted with the pooled figures
before takes through several devices with figures of their own counted with the least informative of them
(:func:`counted_before_weakest_device_rule`).

:func:`freshness_of` gathers the three for the visit's latest result, the one home of that verdict:
the page shows it, :func:`require_current` refuses a referral on it and the API's assessments carry
it (:func:`freshness_of_results`, which also says which results are superseded).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields as dataclass_fields
from typing import Optional

import sqlite_utils
from pydantic import ValidationError as PydanticValidationError

from edge import monitoring_ends, outcomes, regional_validation, site_calibration
from edge.errors import ModelUnavailable, ResultOutOfDate, ResultSuperseded
from edge.inference.bundles import BUNDLED_ID, served_entry_digests, served_results_unchanged_from
from edge.fusion.clinical_prior import ClinicalPicture
from edge.fusion.evidence import EvidenceOptions, adult_populations
from edge.labs import recent_lymphocytes
from edge.modalities import ServedVersion, manifest_entry, potential_ranges, served_version
from edge.screening import clinical_picture, last_hrct

# What the page names, in this order (i18n ``changed_<kind>``).
CHANGE_KINDS = ("patient", "lung_sounds", "breath", "labs", "earlier_blood_count", "lung_function", "outcomes",
                "monitoring")
# Audit entries that add or remove an input after the result: (entity, action) -> kind.
ADDED_OR_REMOVED = {("visit", "add_labs"): "labs", ("visit", "add_breath_reading"): "breath",
                    ("recording", "create"): "lung_sounds", ("recording", "discard"): "lung_sounds"}
# The modalities Calculate scores anew with the served model (i18n ``model_updated_<modality>``):
# takes another crackle model scored are scored again (edge.recordings.rescore_takes_of_other_models),
# blood tests are scored when the result is calculated (edge.modalities.labs_evidence) and so is the
# breath reading, from its stored features (edge.modalities.breath_evidence; the reading keeps the score
# it was read with, for the record). The served entry also weighs the score (a tabular likelihood ratio
# divides by its ``training_data.prevalence``; its ``validation``, ``training_data.kind`` and
# ``validation_status`` decide whether it counts), so another entry at the same version (its digest) is a
# change too. The served entry of a modality the result lacks gives the range it could still move the risk
# (edge.modalities.potential_ranges), which the result's "if missing, measured" line (``if_missing_measured``,
# in its uncertainty sentence) read: another entry that gives another range is a change too
# (:func:`_missing_range_verdict`); one whose range is the same (a new version, the same validation) is not.
RESCORED_AT_CALCULATE = ("auscultation", "labs", "breath")
# What else Calculate applies as this process selected it at start (i18n ``model_updated_<name>``): the
# site calibration maps the fused probability (edge.site_calibration) and the regional validation can
# make a modality count (edge.regional_validation). With the modalities, what ``models_changed`` names.
CALIBRATIONS = ("site_calibration", "regional_validation")
# How the evidence model reads the served models changed (i18n ``model_updated_<name>``): since h107 a take is
# judged by its own device's figures when the crackle model's adult population has them (by_device), and
# takes all through one such device count with them; a result whose lung sounds counted with that
# population's pooled figures before then may count differently now (:func:`counted_before_device_rule`). Since
# h117 takes through several devices that each have figures of their own count with the least informative of
# them, not with the pooled figures (:func:`counted_before_weakest_device_rule`).
EVIDENCE_RULES = ("crackle_device_rule", "crackle_weakest_device_rule")
MODEL_CHANGES = (*RESCORED_AT_CALCULATE, *CALIBRATIONS, *EVIDENCE_RULES)


def changed_since(db: sqlite_utils.Database, assessment: dict, *, visit: dict, patient: dict) -> list[str]:
    """What changed in ``visit`` (of ``patient``) after ``assessment`` was calculated: kinds of
    :data:`CHANGE_KINDS`, in that order; empty while the result is current."""
    kinds = set(_added_or_removed(db, assessment))
    kept = assessment.get("inputs") or {}
    if "clinical_picture" in kept and _picture_changed(kept["clinical_picture"],
                                                       clinical_picture(patient, on=visit["started_at"])):
        kinds.add("patient")
    if "pft" in kept and _lung_function(kept["pft"]) != _lung_function(visit["lung_function"]):
        kinds.add("lung_function")
    if "lymphocytes_date" in kept and _earlier_blood_count_changed(db, assessment, visit=visit):
        kinds.add("earlier_blood_count")
    # A clinician ended ILD monitoring, or resumed it, after the result: its advice no longer holds. Only
    # an end the visit's assessment follows (dated on or before the visit) is compared, as Calculate reads it.
    if "monitoring_ended" in kept and kept["monitoring_ended"] != monitoring_ends.end_in_force(
            db, patient["id"], on=visit["started_at"]):
        kinds.add("monitoring")
    if _outcomes_changed(db, assessment, visit=visit, patient=patient):
        kinds.add("outcomes")
    return [kind for kind in CHANGE_KINDS if kind in kinds]


def settings_in_force(settings) -> dict[str, dict]:
    """Today's settings of the evidence model and triage (``settings``: ``edge.config.Settings``) as
    an assessment keeps them (``evidence_options``, ``thresholds``), for :func:`settings_changed`."""
    return {"evidence_options": settings.evidence_options.model_dump(mode="json"),
            "thresholds": settings.triage_thresholds.model_dump(mode="json")}


def settings_changed(assessment: dict, today: dict[str, dict]) -> list[str]:
    """The programme settings ``assessment`` was made with that differ today, as ``group.key``
    (``today``: the same groups it keeps, ``evidence_options`` and ``thresholds``, as JSON values).
    Only what it kept is compared: a setting newer than the assessment is not called a change.
    Any of them can move the risk, its tier or the advice, so calculating again is what applies them."""
    changed = []
    for group, now in today.items():
        kept = assessment.get(group) or {}
        changed += [f"{group}.{key}" for key, value in kept.items() if key in now and now[key] != value]
    return sorted(changed)


@dataclass(frozen=True)
class ModelsInForce:
    """What this process calculates a result with beside the programme settings (:func:`models_in_force`):
    ``versions``, the served model of each modality of :data:`RESCORED_AT_CALCULATE`; ``digests``, the
    content of each served model's manifest entry (``ModelRegistry.entry_digest``); ``site_calibration``,
    the version of the site calibration applied (None while none can be: Calculate is refused);
    ``regional_validation``, the version of the regional validation used (None: none);
    ``crackle_device_figures``, the served crackle model's adult populations with figures per device;
    ``unchanged_from``, the earlier entry digests whose results each served entry gives unchanged (a re-issue
    that changed only its words: ``edge.inference.models.results_unchanged_from``)."""

    versions: dict[str, ServedVersion]
    digests: dict[str, str]
    site_calibration: Optional[str]
    regional_validation: Optional[str]
    crackle_device_figures: frozenset[str] = frozenset()
    unchanged_from: dict[str, frozenset[str]] = field(default_factory=dict)


def models_in_force() -> ModelsInForce:
    """What this process serves, for :func:`models_changed`. A modality whose model is not available
    is left out: calculating again would be refused, not give another result."""
    versions = {}
    for modality in RESCORED_AT_CALCULATE:
        try:
            versions[modality] = served_version(modality)
        except ModelUnavailable:
            continue
    active = site_calibration.selected_calibration().active
    return ModelsInForce(versions, served_entry_digests(), active.version if active is not None else None,
                         regional_validation.selected_regional_validation().version, _crackle_device_figures(),
                         served_results_unchanged_from())


def _crackle_device_figures() -> frozenset[str]:
    """The served crackle model's adult populations that have figures per device (``by_device``)."""
    try:
        populations = (manifest_entry("auscultation").get("validation") or {}).get("populations") or {}
    except ModelUnavailable:
        return frozenset()
    return frozenset(name for name in adult_populations(populations)
                     if isinstance(populations[name], dict) and populations[name].get("by_device"))


def counted_before_device_rule(assessment: dict, populations: frozenset[str]) -> bool:
    """Whether ``assessment``'s lung sounds counted with an adult population's figures before takes were
    judged by their own device's (its finding says no ``figures_over``), when that population, served today,
    has figures per device (``populations``): calculating again may leave a take out, or count the takes with
    their one device's figures. One counted with the clinic's or the region's outcomes is not read so."""
    finding = ((assessment.get("contributions") or {}).get("auscultation") or {}).get("finding") or {}
    return (bool(finding.get("counted")) and "figures_over" not in finding and not finding.get("detector_transfer")
            and finding.get("detector_population_key") in populations)


def counted_before_weakest_device_rule(assessment: dict, populations: frozenset[str]) -> bool:
    """Whether ``assessment``'s lung sounds counted with an adult population's pooled figures (``figures_over:
    all_devices``) before the finding kept which devices its takes counted through (``counted_devices``), when
    that population, served today, has figures per device (``populations``): its takes may have gone through
    several devices with figures of their own, which now count with the least informative of those
    (:func:`edge.fusion.evidence.least_informative_device`), not with figures over every device's recordings.
    A result whose takes counted through a device without figures of its own would count as before; which
    device each went through was not kept, so it reads out of date too, and calculating again once settles it."""
    finding = ((assessment.get("contributions") or {}).get("auscultation") or {}).get("finding") or {}
    return (bool(finding.get("counted")) and finding.get("figures_over") == "all_devices"
            and "counted_devices" not in finding and not finding.get("detector_transfer")
            and finding.get("detector_population_key") in populations)


def _same_entry(kept: Optional[str], modality: str, today: ModelsInForce) -> bool:
    """Whether the entry digest a result kept for ``modality`` is the served entry's, or one it gives the
    results of unchanged (a re-issue of the same weights and figures that changed only its words)."""
    return kept is not None and (kept == today.digests.get(modality) or kept in today.unchanged_from.get(modality, ()))


def models_changed(assessment: dict, today: ModelsInForce) -> list[str]:
    """What of :data:`MODEL_CHANGES` ``assessment`` was calculated with that is not what is served
    ``today`` (:func:`models_in_force`), in that order.

    A modality of :data:`RESCORED_AT_CALCULATE` the result used (takes, blood tests, a breath reading):
    another name or version (the label its ``model_versions`` keeps is none of the served model's), for
    the crackle model another threshold than the one it kept (``crackle_threshold``), or another manifest
    entry at the same version (its ``model_digests``: a re-issue with another calibration, threshold,
    training prevalence or validation; not one whose entry names the kept digest in its
    ``results_unchanged_from``, a re-issue of the same weights and figures in other words). One it did not use
    (missing from it): another manifest entry
    that gives another range than the one its "if missing, measured" line read
    (:func:`_missing_range_verdict`); a new version that gives the same range is no change. A result
    stored before results kept digests (or, for a missing modality, the ranges) cannot tell a re-issue
    from its model: it compares as changed, and calculating again once makes it comparable. A result
    stored before Calculate scored the breath reading names the model the reading was read with, which
    weighed its score with the entry it kept.
    ``site_calibration``: another version than the one it applied (a result stored before site
    calibrations applied ``bundled``, the identity). ``regional_validation``: another version (or
    none) than the one it used; a result stored before results kept it compares as having used none.
    ``crackle_device_rule``: its lung sounds counted before each take was judged by its own device's figures
    (:func:`counted_before_device_rule`). ``crackle_weakest_device_rule``: they counted with the pooled figures
    before takes through several devices with figures of their own counted with the least informative of them
    (:func:`counted_before_weakest_device_rule`). :func:`models_unchecked` says which of them are named only
    because the result predates what their comparison needs."""
    return [name for name, _ in _model_verdicts(assessment, today)]


def models_unchecked(assessment: dict, today: ModelsInForce) -> list[str]:
    """Of :func:`models_changed`, the modalities named only because ``assessment`` was stored before results
    kept what their comparison needs: the digest of a used model's manifest entry (``model_digests``; its
    version is the served one's), or the range a missing modality gave (``inputs.potential_ranges``, or a
    clinical picture as this release reads it). Whether such a model changed cannot be told: the result counts
    as out of date (a referral waits for a result that can be compared), and its page says it cannot be checked
    rather than that the model was updated. Nothing rewrites the stored result: an open visit calculated again
    gives a comparable one; a closed visit's stays its record."""
    return [name for name, told in _model_verdicts(assessment, today) if not told]


def _model_verdicts(assessment: dict, today: ModelsInForce) -> list[tuple[str, bool]]:
    """Each name :func:`models_changed` gives, with whether the change was seen (True) or only cannot be ruled
    out, the result predating what the comparison needs (False: :func:`models_unchecked`)."""
    changed, kept_digests = [], assessment.get("model_digests") or {}
    for modality in RESCORED_AT_CALCULATE:
        used, served = _model_used(assessment, modality), today.versions.get(modality)
        digest = today.digests.get(modality)
        if used is None:
            if digest is not None and not _same_entry(kept_digests.get(modality), modality, today):
                verdict = _missing_range_verdict(assessment, modality)
                if verdict is not False:
                    changed.append((modality, verdict is True))
            continue
        if digest is None or served is None:
            continue  # no model to calculate with (Calculate would be refused)
        kept_threshold = assessment.get("crackle_threshold") if modality == "auscultation" else None
        scored_by_another = used not in served.labels or (kept_threshold is not None
                                                          and kept_threshold != served.threshold)
        if scored_by_another or not _same_entry(kept_digests.get(modality), modality, today):
            changed.append((modality, scored_by_another or modality in kept_digests))
    calibration = (assessment.get("calibration") or {}).get("version", BUNDLED_ID)
    if today.site_calibration is not None and calibration != today.site_calibration:
        changed.append(("site_calibration", True))
    if assessment.get("regional_validation") != today.regional_validation:
        changed.append(("regional_validation", True))
    if counted_before_device_rule(assessment, today.crackle_device_figures):
        changed.append(("crackle_device_rule", True))
    if counted_before_weakest_device_rule(assessment, today.crackle_device_figures):
        changed.append(("crackle_weakest_device_rule", True))
    return changed


@dataclass(frozen=True)
class Freshness:
    """Whether a result of a visit is current, and why not.

    ``superseded_by``: the visit's latest result when this one is not it (then nothing else is
    compared: only the latest can be referred). ``changed``: kinds of :data:`CHANGE_KINDS` stored
    after it (:func:`changed_since`); ``settings_changed``: ``group.key`` of programme settings that
    differ today (:func:`settings_changed`); ``models_changed``: what of :data:`MODEL_CHANGES` served
    today is another than the result's (:func:`models_changed`); ``models_unchecked``: those of them named only
    because the result predates what their comparison needs (:func:`models_unchecked`)."""

    changed: tuple[str, ...] = ()
    settings_changed: tuple[str, ...] = ()
    models_changed: tuple[str, ...] = ()
    superseded_by: Optional[int] = None
    models_unchecked: tuple[str, ...] = ()

    @property
    def current(self) -> bool:
        """True when a referral may carry the result: the latest, with nothing changed since."""
        return self.superseded_by is None and not (self.changed or self.settings_changed or self.models_changed)

    def to_json(self) -> dict:
        return {"current": self.current, "superseded_by": self.superseded_by, "changed": list(self.changed),
                "settings_changed": list(self.settings_changed), "models_changed": list(self.models_changed),
                "models_unchecked": list(self.models_unchecked)}


def freshness_of(db: sqlite_utils.Database, assessment: dict, *, visit: dict, patient: dict,
                 settings_today: Optional[dict[str, dict]] = None,
                 models_today: Optional[ModelsInForce] = None) -> Freshness:
    """What changed since ``assessment``, the latest result of ``visit`` (of ``patient``), was
    calculated: its inputs, the programme settings (``settings_today``: :func:`settings_in_force`)
    and the models served (``models_today``: :func:`models_in_force`). None (or no model served)
    skips that comparison."""
    models = _model_verdicts(assessment, models_today) if models_today else []
    return Freshness(
        changed=tuple(changed_since(db, assessment, visit=visit, patient=patient)),
        settings_changed=tuple(settings_changed(assessment, settings_today) if settings_today else ()),
        models_changed=tuple(name for name, _ in models),
        models_unchecked=tuple(name for name, told in models if not told))


def freshness_of_results(db: sqlite_utils.Database, assessments: list[dict], *, visit: dict, patient: dict,
                         settings_today: Optional[dict[str, dict]] = None,
                         models_today: Optional[ModelsInForce] = None) -> list[Freshness]:
    """The :class:`Freshness` of each of ``visit``'s results (``assessments``, oldest first, as
    ``edge.screening.list_assessments`` gives them): every earlier one superseded by the latest,
    the latest as :func:`freshness_of` finds it."""
    if not assessments:
        return []
    latest = assessments[-1]
    verdict = freshness_of(db, latest, visit=visit, patient=patient, settings_today=settings_today,
                           models_today=models_today)
    return [Freshness(superseded_by=latest["id"]) for _ in assessments[:-1]] + [verdict]


def require_current(db: sqlite_utils.Database, assessment: dict, *, visit: dict, patient: dict,
                    shown_assessment_id: Optional[int] = None,
                    settings_today: Optional[dict[str, dict]] = None,
                    models_today: Optional[ModelsInForce] = None) -> None:
    """Refuse to act on ``assessment`` (the visit's latest) unless it is the result the client
    showed and still current.

    ``shown_assessment_id``: the result the page or API client showed; None when the client named
    none (an API client written before it could), which skips only that comparison.
    ``settings_today``: :func:`settings_in_force`; None skips the settings comparison.
    ``models_today``: :func:`models_in_force`; None skips the model comparison.

    Raises
    ------
    ResultSuperseded
        When ``shown_assessment_id`` is not the latest result (another tab or client calculated again).
    ResultOutOfDate
        When the visit's inputs, the programme settings or a model it used changed after the result
        was calculated.
    """
    if shown_assessment_id is not None and shown_assessment_id != assessment["id"]:
        raise ResultSuperseded(
            f"assessment {shown_assessment_id} is not the visit's latest result: {assessment['id']} is; "
            "show it before referring", current_assessment_id=assessment["id"])
    verdict = freshness_of(db, assessment, visit=visit, patient=patient, settings_today=settings_today,
                           models_today=models_today)
    if not verdict.current:
        named = ", ".join([*verdict.changed, *(f"setting {name}" for name in verdict.settings_changed),
                           *(name.replace("_", " ") if name in (*CALIBRATIONS, *EVIDENCE_RULES) else f"{name} model"
                             for name in verdict.models_changed if name not in verdict.models_unchecked)])
        unchecked = ", ".join(f"{name} model" for name in verdict.models_unchecked)
        why = "; ".join([*([f"{named} changed after it was calculated"] if named else []),
                         *([f"it was stored by an earlier release, which did not keep what checking it against the "
                            f"served {unchecked} needs"] if unchecked else [])])
        # A closed visit is not assessed again (edge.patients.require_open_visit): a new visit is.
        again = ("assess the visit again" if visit["status"] == "open"
                 else f"the visit is {visit['status']}: start a new visit of the patient and assess it")
        raise ResultOutOfDate(f"assessment {assessment['id']} is out of date ({why}): {again} before referring",
                              current_assessment_id=assessment["id"], changed=verdict.changed,
                              settings_changed=verdict.settings_changed, models_changed=verdict.models_changed,
                              models_unchecked=verdict.models_unchecked)


def _added_or_removed(db: sqlite_utils.Database, assessment: dict) -> set[str]:
    row = db.execute("SELECT id FROM audit_log WHERE entity = 'assessment' AND action = 'create' AND entity_id = ?",
                     [str(assessment["id"])]).fetchone()
    if row is None:  # a result restored without its audit entry: nothing to order additions against
        return set()
    visit_id = str(assessment["visit_id"])
    entries = db.execute(
        "SELECT DISTINCT entity, action FROM audit_log WHERE id > ? AND ("
        "(entity = 'visit' AND entity_id = ? AND action IN ('add_labs', 'add_breath_reading')) "
        "OR (entity = 'recording' AND action IN ('create', 'discard') "
        "AND CAST(json_extract(detail, '$.visit_id') AS TEXT) = ?))", [row[0], visit_id, visit_id]).fetchall()
    return {ADDED_OR_REMOVED[(entity, action)] for entity, action in entries}


def _outcomes_changed(db: sqlite_utils.Database, assessment: dict, *, visit: dict, patient: dict) -> bool:
    """Whether the patient's outcomes differ from those on record when ``assessment`` was calculated.

    Any outcome added, removed or read again (a hospital report turned final or amended) counts, not
    only one triage would read at the visit date: triage reads them by several rules (the last HRCT
    on or before the visit, a confirmed ILD of any date, every PFT date for the monitoring plan), and
    an outcome counted that changes nothing costs one more Calculate, while one missed lets a referral
    carry a pathway or an answered red flag that no longer holds. Compared by value, as the end of
    monitoring is, not by time: a hospital read replaces its report in place, with no newer row and
    no audit entry. A result stored before results kept the outcomes compares what it did keep of
    them: the HRCT triage read (``inputs.hrct``) and the confirmed ILD (``confirmed_ild``)."""
    kept = assessment.get("inputs") or {}
    if "outcomes" in kept:
        return _in_order(kept["outcomes"]) != _in_order(outcomes.outcomes_as_kept(db, patient["id"]))
    if "hrct" in kept and kept["hrct"] != last_hrct(db, patient["id"], on=visit["started_at"][:10]):
        return True
    return "confirmed_ild" in assessment and assessment["confirmed_ild"] != outcomes.confirmed_ild(db, patient["id"])


def _earlier_blood_count_changed(db: sqlite_utils.Database, assessment: dict, *, visit: dict) -> bool:
    """Whether triage's lymphopenia look-back (:func:`edge.labs.recent_lymphocytes`) now reads another
    earlier visit's blood count for ``visit`` than the one ``assessment`` kept (``inputs.lymphocytes``,
    ``lymphocytes_date``): a count entered on an earlier visit of the patient within the look-back the
    result used (its ``thresholds``), or the visit it read cancelled. Compared by value, as outcomes are:
    a count the look-back would not read (a later visit's, one older than the window or than a newer
    count, another patient's) is no change. Once the visit has a count of its own the look-back reads no
    earlier one, and that count is ``labs``."""
    kept = assessment["inputs"]
    months = (assessment.get("thresholds") or {}).get("lymphopenia_lookback_months")
    if months is None:
        return False
    count, date = recent_lymphocytes(db, visit, months=months)
    if count is not None and date is None:  # this visit's own count
        return False
    return (count, date) != (kept.get("lymphocytes"), kept["lymphocytes_date"])


def _in_order(items: list[dict]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def _missing_range_verdict(assessment: dict, modality: str) -> Optional[bool]:
    """Whether ``modality``, missing from ``assessment``, now gives another log-LR range than the one the
    result's "if missing, measured" line read (its ``inputs.potential_ranges``): the range the served entry
    gives (:func:`edge.modalities.potential_ranges`) for the clinical picture and evidence options the result
    kept, so that a change of those is named as such (``patient``, the settings), not as a model's. None: a
    result stored before results kept the ranges (or its picture as this release reads it) cannot tell, and
    compares as changed (:func:`models_unchecked`)."""
    kept = assessment.get("inputs") or {}
    if modality not in (assessment.get("missing") or ()):
        return False  # the line reads only the missing modalities
    if "potential_ranges" not in kept or "clinical_picture" not in kept:
        return None
    try:
        picture = ClinicalPicture(**{name: kept["clinical_picture"][name] for name in _PICTURE_FIELDS
                                     if name in kept["clinical_picture"]})
        options = EvidenceOptions(**{key: value for key, value in (assessment.get("evidence_options") or {}).items()
                                     if key in EvidenceOptions.model_fields})
    except (TypeError, PydanticValidationError):  # kept as an older release kept them: cannot tell
        return None
    now = potential_ranges(picture, options).get(modality)
    return (list(now) if now is not None else None) != kept["potential_ranges"].get(modality)


_PICTURE_FIELDS = tuple(field.name for field in dataclass_fields(ClinicalPicture))


def _model_used(assessment: dict, modality: str) -> Optional[str]:
    """The label of the model that scored ``modality`` for ``assessment``; None when it used none. A
    KL-6 counted in the lab model's place still had the panel scored by the lab model (its finding's
    ``lab_model``): a new lab model may count where that one did not."""
    contribution = (assessment.get("contributions") or {}).get(modality) or {}
    measured = (contribution.get("finding") or {}).get("lab_model")
    return measured["model_version"] if measured else (assessment.get("model_versions") or {}).get(modality)


def _picture_changed(kept: dict, now) -> bool:
    """Whether the patient's clinical picture differs from the one the result kept (the age through
    the birth year; antibodies and symptoms as sets: their order means nothing)."""
    if any(kept.get(name) != getattr(now, name) for name in ("ctd_diagnosis", "sex", "smoking", "age")):
        return True
    return any(sorted(kept.get(name) or ()) != sorted(getattr(now, name)) for name in ("autoantibodies", "symptoms"))


def _lung_function(values: Optional[dict]) -> tuple:
    values = values or {}
    return values.get("fvc_percent"), values.get("dlco_percent"), bool(values.get("dlco_not_performed"))
