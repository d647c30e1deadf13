"""Assessing a visit: the fused ILD risk, tier and next step, stored with its inputs."""
from __future__ import annotations

from flask import Blueprint, current_app, g

from edge import screening
from edge.api.operations import CLINICAL_ROLES, operation
from edge.fusion.evidence import EvidenceOptions
from edge.fusion.triage import TriageThresholds
from edge.patients import get_visit
from edge.schemas import Assessment, AssessmentList, AssessmentRequest

blueprint = Blueprint("assessments", __name__, url_prefix="/api/v1")


def thresholds_from_settings(settings) -> TriageThresholds:
    """The triage's programme settings (``Settings.triage_thresholds``, mapped by ``edge.config.TRIAGE_SETTINGS``)."""
    return settings.triage_thresholds


def evidence_options_from_settings(settings) -> EvidenceOptions:
    """The evidence model's programme settings (``Settings.evidence_options``, mapped by
    ``edge.config.EVIDENCE_SETTINGS``)."""
    return settings.evidence_options


@operation(blueprint, "/visits/<int:visit_id>/assessments", "POST",
           summary="Assess (or re-assess) a visit from what was recorded for it", roles=CLINICAL_ROLES,
           body=AssessmentRequest, response=Assessment, status=201,
           unavailable="kept recordings or breath readings cannot be scored while their model is unavailable")
def assess_visit(visit_id: int, body: AssessmentRequest):
    resources = current_app.extensions["ildscreen"]
    screening.score_kept_inputs(resources.db(), resources.blobs, visit_id, resources.auscultation_model, g.actor)
    return screening.assess_visit(
        resources.db(), g.actor, visit_id, thresholds=thresholds_from_settings(resources.settings),
        options=evidence_options_from_settings(resources.settings),
        fvc_percent=body.fvc_percent, dlco_percent=body.dlco_percent, dlco_not_performed=body.dlco_not_performed,
    )


@operation(blueprint, "/visits/<int:visit_id>/assessments", "GET", summary="Assessments of a visit, oldest first",
           roles=CLINICAL_ROLES, response=AssessmentList)
def list_assessments(visit_id: int):
    db = current_app.extensions["ildscreen"].db()
    get_visit(db, visit_id)
    return {"assessments": screening.list_assessments(db, visit_id)}
