"""Referrals for HRCT and the CT results that come back."""
from __future__ import annotations

from typing import Literal, Optional

from flask import Blueprint, current_app, g
from pydantic import BaseModel, Field

from edge import outbox
from edge.api.operations import CLINICAL_ROLES, operation
from edge.schemas import MAX_ID, QueryModel, RequestModel

blueprint = Blueprint("referrals", __name__, url_prefix="/api/v1")
ReferralStatus = Literal["queued", "retrying", "delivered", "reported", "rejected", "imaging_failed"]


class Referral(BaseModel):
    id: int
    visit_id: int
    assessment_id: Optional[int]
    code: str
    priority: str
    status: ReferralStatus
    attempts: int
    next_attempt_at: Optional[str]
    last_error: Optional[str]
    server_status: Optional[str]
    created_at: str
    updated_at: str
    delivered_at: Optional[str]
    last_polled_at: Optional[str]
    imaging_result: Optional[dict]


class ReferralList(BaseModel):
    referrals: list[Referral]


class ReferralQuery(QueryModel):
    status: Optional[ReferralStatus] = None
    patient_id: Optional[int] = Field(None, ge=1, le=MAX_ID)


class ReferralCreate(RequestModel):
    pass


def _resources():
    return current_app.extensions["ildscreen"]


@operation(blueprint, "/visits/<int:visit_id>/referrals", "POST",
           summary="Refer the patient for HRCT from the visit's latest assessment (queued for delivery)",
           roles=CLINICAL_ROLES, body=ReferralCreate, response=Referral, status=201, atomic=True)
def create_referral(visit_id: int, body: ReferralCreate):
    resources = _resources()
    return outbox.create_referral(resources.db(), g.actor, visit_id, site_secret=resources.folder.site_secret)


@operation(blueprint, "/referrals", "GET", summary="Referrals and their delivery status", roles=CLINICAL_ROLES,
           query=ReferralQuery, response=ReferralList)
def list_referrals(query: ReferralQuery):
    return {"referrals": outbox.list_referrals(_resources().db(), status=query.status, patient_id=query.patient_id)}


@operation(blueprint, "/referrals/<int:referral_id>", "GET", summary="One referral with its CT result, if back",
           roles=CLINICAL_ROLES, response=Referral)
def get_referral(referral_id: int):
    return outbox.get_referral(_resources().db(), referral_id)
