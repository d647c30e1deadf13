"""Assessing a visit: the fused ILD risk, tier and next step, stored with its inputs."""
from __future__ import annotations

from flask import Blueprint, current_app, g

from edge import screening
from edge.api.operations import CLINICAL_ROLES, operation
from edge.patients import get_visit
from edge.schemas import Assessment, AssessmentList, AssessmentRequest

blueprint = Blueprint("assessments", __name__, url_prefix="/api/v1")


@operation(blueprint, "/visits/<int:visit_id>/assessments", "POST",
           summary="Assess (or re-assess) a visit from what was recorded for it", roles=CLINICAL_ROLES,
           body=AssessmentRequest, response=Assessment, status=201,
           unavailable="kept recordings or breath readings cannot be scored while their model is unavailable")
def assess_visit(visit_id: int, body: AssessmentRequest):
    resources = current_app.extensions["ildscreen"]
    screening.score_kept_inputs(resources.db(), resources.blobs, visit_id, resources.auscultation_model, g.actor)
    return screening.assess_visit(
        resources.db(), g.actor, visit_id, thresholds=resources.settings.triage_thresholds,
        options=resources.settings.evidence_options,
        fvc_percent=body.fvc_percent, dlco_percent=body.dlco_percent, dlco_not_performed=body.dlco_not_performed,
    )


@operation(blueprint, "/visits/<int:visit_id>/assessments", "GET", summary="Assessments of a visit, oldest first",
           roles=CLINICAL_ROLES, response=AssessmentList)
def list_assessments(visit_id: int):
    db = current_app.extensions["ildscreen"].db()
    get_visit(db, visit_id)
    return {"assessments": screening.list_assessments(db, visit_id)}
