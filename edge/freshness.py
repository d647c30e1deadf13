"""Whether a visit's result is current: what changed after it was calculated, and the one check a
referral passes before it carries that result (the tablet's page and the HTTP API both reach it
through :func:`edge.outbox.create_referral`).

A result is calculated from what is stored when the nurse presses "Calculate"; blood tests typed,
breath read, takes recorded or discarded, lung function or the patient's details and symptoms
edited afterwards are not in it, nor an end of ILD monitoring recorded or resumed since (compared
with the end in force the result kept). The page says what changed and the referral, which carries the
result, waits for a new one. Details, symptoms and lung function are compared with what the result
kept (its ``inputs``), so a review saved without a change is not a change; what is added or
discarded is ordered against the result's own audit entry (entry ids, not clocks: two writes in
the same millisecond are still ordered), which also sees a discarded take whose row is gone.
Programme settings changed since (:func:`settings_changed`) also make the result out of date: the
referral carries the tier those settings gave. So does a model update (:func:`models_changed`):
Calculate scores the takes and the blood tests again with the models served then, so a result whose
crackle or lab model is no longer the one served is not what calculating again would give.

:func:`freshness_of` gathers the three for the visit's latest result, the one home of that verdict:
the page shows it, :func:`require_current` refuses a referral on it and the API's assessments carry
it (:func:`freshness_of_results`, which also says which results are superseded).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import sqlite_utils

from edge import monitoring_ends
from edge.errors import ModelUnavailable, ResultOutOfDate, ResultSuperseded
from edge.modalities import ServedVersion, served_version
from edge.screening import clinical_picture

# What the page names, in this order (i18n ``changed_<kind>``).
CHANGE_KINDS = ("patient", "lung_sounds", "breath", "labs", "lung_function", "monitoring")
# Audit entries that add or remove an input after the result: (entity, action) -> kind.
ADDED_OR_REMOVED = {("visit", "add_labs"): "labs", ("visit", "add_breath_reading"): "breath",
                    ("recording", "create"): "lung_sounds", ("recording", "discard"): "lung_sounds"}
# The modalities Calculate scores anew with the served model (i18n ``model_updated_<modality>``):
# takes another crackle model scored are scored again (edge.recordings.rescore_takes_of_other_models)
# and blood tests are scored when the result is calculated (edge.modalities.labs_evidence). A breath
# reading keeps the score of the model it was read with (edge.breath), so a breath-model update
# changes no result and is no change.
RESCORED_AT_CALCULATE = ("auscultation", "labs")


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
    # A clinician ended ILD monitoring, or resumed it, after the result: its advice no longer holds.
    if "monitoring_ended" in kept and kept["monitoring_ended"] != monitoring_ends.end_in_force(db, patient["id"]):
        kinds.add("monitoring")
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


def models_in_force() -> dict[str, ServedVersion]:
    """The model the bundle this process serves scores each modality of
    :data:`RESCORED_AT_CALCULATE` with (:func:`edge.modalities.served_version`), for
    :func:`models_changed`. A modality whose model is not available is left out: calculating again
    would be refused, not give another result."""
    today = {}
    for modality in RESCORED_AT_CALCULATE:
        try:
            today[modality] = served_version(modality)
        except ModelUnavailable:
            continue
    return today


def models_changed(assessment: dict, today: dict[str, ServedVersion]) -> list[str]:
    """The modalities of :data:`RESCORED_AT_CALCULATE` whose model in ``assessment`` is not the one
    served ``today`` (:func:`models_in_force`), in that order: another name or version (the label its
    ``model_versions`` keeps is none of the served model's), or for the crackle model another
    threshold than the one it kept (``crackle_threshold``: takes are then scored again too). A
    modality the result did not use (no takes, no blood tests) is no change."""
    changed = []
    for modality in RESCORED_AT_CALCULATE:
        used, served = _model_used(assessment, modality), today.get(modality)
        if used is None or served is None:
            continue
        kept_threshold = assessment.get("crackle_threshold") if modality == "auscultation" else None
        if used not in served.labels or (kept_threshold is not None and kept_threshold != served.threshold):
            changed.append(modality)
    return changed


@dataclass(frozen=True)
class Freshness:
    """Whether a result of a visit is current, and why not.

    ``superseded_by``: the visit's latest result when this one is not it (then nothing else is
    compared: only the latest can be referred). ``changed``: kinds of :data:`CHANGE_KINDS` stored
    after it (:func:`changed_since`); ``settings_changed``: ``group.key`` of programme settings that
    differ today (:func:`settings_changed`); ``models_changed``: modalities of
    :data:`RESCORED_AT_CALCULATE` whose served model is another (:func:`models_changed`)."""

    changed: tuple[str, ...] = ()
    settings_changed: tuple[str, ...] = ()
    models_changed: tuple[str, ...] = ()
    superseded_by: Optional[int] = None

    @property
    def current(self) -> bool:
        """True when a referral may carry the result: the latest, with nothing changed since."""
        return self.superseded_by is None and not (self.changed or self.settings_changed or self.models_changed)

    def to_json(self) -> dict:
        return {"current": self.current, "superseded_by": self.superseded_by, "changed": list(self.changed),
                "settings_changed": list(self.settings_changed), "models_changed": list(self.models_changed)}


def freshness_of(db: sqlite_utils.Database, assessment: dict, *, visit: dict, patient: dict,
                 settings_today: Optional[dict[str, dict]] = None,
                 models_today: Optional[dict[str, ServedVersion]] = None) -> Freshness:
    """What changed since ``assessment``, the latest result of ``visit`` (of ``patient``), was
    calculated: its inputs, the programme settings (``settings_today``: :func:`settings_in_force`)
    and the models served (``models_today``: :func:`models_in_force`). None (or no model served)
    skips that comparison."""
    return Freshness(
        changed=tuple(changed_since(db, assessment, visit=visit, patient=patient)),
        settings_changed=tuple(settings_changed(assessment, settings_today) if settings_today else ()),
        models_changed=tuple(models_changed(assessment, models_today) if models_today else ()))


def freshness_of_results(db: sqlite_utils.Database, assessments: list[dict], *, visit: dict, patient: dict,
                         settings_today: Optional[dict[str, dict]] = None,
                         models_today: Optional[dict[str, ServedVersion]] = None) -> list[Freshness]:
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
                    models_today: Optional[dict[str, ServedVersion]] = None) -> None:
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
                           *(f"{name} model" for name in verdict.models_changed)])
        raise ResultOutOfDate(f"assessment {assessment['id']} is out of date ({named} changed after it was "
                              "calculated): assess the visit again before referring",
                              current_assessment_id=assessment["id"], changed=verdict.changed,
                              settings_changed=verdict.settings_changed, models_changed=verdict.models_changed)


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
