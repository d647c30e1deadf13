"""Assessing a visit: the fused ILD risk, tier and next step, stored with its inputs, each carrying
whether it is still current (:mod:`edge.freshness`, the verdict a referral is checked against)."""
from __future__ import annotations

from flask import Blueprint, current_app, g

from edge import freshness, screening
from edge.api.operations import CLINICAL_ROLES, operation
from edge.patients import LUNG_FUNCTION_FIELDS, get_patient, get_visit, set_lung_function
from edge.schemas import Assessment, AssessmentList, AssessmentRequest
from edge.store.database import read_transaction

blueprint = Blueprint("assessments", __name__, url_prefix="/api/v1")


@operation(blueprint, "/visits/<int:visit_id>/assessments", "POST",
           summary="Assess (or re-assess) an open visit from what was recorded for it; a closed visit's result "
                   "is its record, not calculated again (409 visit_closed): a new visit is", roles=CLINICAL_ROLES,
           body=AssessmentRequest, response=Assessment, status=201,
           unavailable="kept recordings or breath readings cannot be scored while their model is unavailable")
def assess_visit(visit_id: int, body: AssessmentRequest):
    """A body that sends lung function (any of ``fvc_percent``, ``dlco_percent``, ``dlco_not_performed``) records
    it on the visit first, all three as sent (what is not sent is not measured), as the tablet's form does; an
    empty body assesses with the lung function the visit holds. Either way the result used what the visit
    holds, so it is current, and the tablet and the API give one result for one visit."""
    resources = current_app.extensions["ildscreen"]
    db = resources.db()
    if body.model_fields_set & set(LUNG_FUNCTION_FIELDS):
        set_lung_function(db, g.actor, visit_id, fvc_percent=body.fvc_percent, dlco_percent=body.dlco_percent,
                          dlco_not_performed=body.dlco_not_performed)
    screening.score_kept_inputs(db, resources.blobs, visit_id, resources.auscultation_model, g.actor)
    assessment = screening.assess_visit(db, g.actor, visit_id, thresholds=resources.settings.triage_thresholds,
                                        options=resources.settings.evidence_options)
    return with_freshness(db, visit_id, [assessment])[0]


@operation(blueprint, "/visits/<int:visit_id>/assessments", "GET",
           summary="Assessments of a visit, oldest first; each says whether it is current (`freshness`): the "
                   "latest unless something changed since, the others superseded by it",
           roles=CLINICAL_ROLES, response=AssessmentList)
def list_assessments(visit_id: int):
    db = current_app.extensions["ildscreen"].db()
    # One snapshot: a calculation or an input committed between reading the list and judging it
    # would otherwise give a list whose freshness belongs to another state of the visit.
    with read_transaction(db):
        get_visit(db, visit_id)
        return {"assessments": with_freshness(db, visit_id, screening.list_assessments(db, visit_id))}


def with_freshness(db, visit_id: int, assessments: list[dict]) -> list[dict]:
    """``assessments`` of the visit (oldest first, ending with its latest) with their ``freshness``
    (:func:`edge.freshness.freshness_of_results`, against today's settings and served models)."""
    visit = get_visit(db, visit_id)
    verdicts = freshness.freshness_of_results(
        db, assessments, visit=visit, patient=get_patient(db, visit["patient_id"]),
        settings_today=freshness.settings_in_force(current_app.extensions["ildscreen"].settings),
        models_today=freshness.models_in_force())
    return [{**assessment, "freshness": verdict.to_json()} for assessment, verdict in zip(assessments, verdicts)]
