"""Referrals for HRCT and the CT results that come back."""
from __future__ import annotations

from typing import Literal, Optional

from flask import Blueprint, current_app, g
from pydantic import BaseModel, Field

from edge import freshness, outbox
from edge.api.operations import CLINICAL_ROLES, operation
from edge.schemas import MAX_ID, QueryModel, RequestModel

blueprint = Blueprint("referrals", __name__, url_prefix="/api/v1")
ReferralStatus = Literal["queued", "retrying", "delivered", "reported", "rejected", "imaging_failed", "withdrawn",
                         "revoking", "revoked"]


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
    reason: Optional[str] = Field(None, description="The clinician's stated reason (required when the advice is "
                                                    "not HRCT)")
    withdrawn_at: Optional[str] = None
    withdraw_reason: Optional[str] = None


class ReferralWithdrawn(Referral):
    """The answer to a withdrawal: the referral as now stored, and whether this request withdrew it."""

    already_withdrawn: bool = Field(description="True: an earlier request withdrew this referral (`withdrawn_at`, "
                                                "`withdraw_reason` and the status are that one's); this one changed "
                                                "nothing (its reason is not stored, no audit entry). False: this "
                                                "request withdrew it.")


class ReferralList(BaseModel):
    referrals: list[Referral]


class ReferralQuery(QueryModel):
    status: Optional[ReferralStatus] = None
    patient_id: Optional[int] = Field(None, ge=1, le=MAX_ID)


class ReferralCreate(RequestModel):
    reason: Optional[str] = Field(None, max_length=outbox.MAX_REASON_CHARS,
                                  description="The clinical reason for referring. Required (422 naming `reason`) "
                                              "when the visit's advice is not HRCT; printed on the letter and sent "
                                              "in the FHIR ServiceRequest.")
    assessment_id: Optional[int] = Field(
        None, ge=1, le=MAX_ID,
        description="The assessment the client showed its user (the visit's latest when it was read). Sent: "
                    "409 `result_superseded` when the visit has been assessed again since. Omitted (clients "
                    "written before this field): that comparison is skipped. Either way a latest result that "
                    "no longer reflects the visit (inputs or programme settings changed after it, or the crackle "
                    "or lab model it used is no longer the one served) is refused with 409 "
                    "`result_out_of_date`; both bodies name `current_assessment_id`, `changed` (inputs at the visit or on the patient's record), "
                    "`settings_changed` (`group.key`), `models_changed` (models, site calibration, regional "
                    "validation) and `models_unchecked` (those a result stored by an earlier release cannot be "
                    "checked against).")


class ReferralWithdraw(RequestModel):
    reason: Optional[str] = Field(None, max_length=outbox.MAX_REASON_CHARS, description="Why it is withdrawn")


def _resources():
    return current_app.extensions["ildscreen"]


@operation(blueprint, "/visits/<int:visit_id>/referrals", "POST",
           summary="Refer the patient for HRCT from the visit's latest assessment (queued for delivery); 409 when "
                   "that result is not current (`result_out_of_date`) or not the one named (`result_superseded`), or the "
                   "visit was cancelled (`visit_closed`; a completed visit with a current result is referred)",
           roles=CLINICAL_ROLES, body=ReferralCreate, response=Referral, status=201, atomic=True)
def create_referral(visit_id: int, body: ReferralCreate):
    resources = _resources()
    return outbox.create_referral(resources.db(), g.actor, visit_id, site_secret=resources.folder.site_secret,
                                  reason=body.reason, assessment_id=body.assessment_id,
                                  settings_today=freshness.settings_in_force(resources.settings),
                                  models_today=freshness.models_in_force())


@operation(blueprint, "/referrals/<int:referral_id>/withdraw", "POST",
           summary="Withdraw a referral: `withdrawn` before delivery; once delivered the hospital is asked to "
                   "revoke it (`revoking`, then `revoked`). Sent again: 200 with `already_withdrawn`, nothing "
                   "changed, whatever `reason` it gives (the first one's stays); a `reason` over "
                   f"{outbox.MAX_REASON_CHARS} characters is refused (422) first, whatever the referral's state; "
                   "409 naming its status once reported, failed or rejected",
           roles=CLINICAL_ROLES, body=ReferralWithdraw, response=ReferralWithdrawn, atomic=True)
def withdraw_referral(referral_id: int, body: ReferralWithdraw):
    withdrawal = outbox.withdraw_referral(_resources().db(), g.actor, referral_id, reason=body.reason)
    return {**withdrawal.referral, "already_withdrawn": withdrawal.already}


@operation(blueprint, "/referrals", "GET", summary="Referrals and their delivery status", roles=CLINICAL_ROLES,
           query=ReferralQuery, response=ReferralList)
def list_referrals(query: ReferralQuery):
    return {"referrals": outbox.list_referrals(_resources().db(), status=query.status, patient_id=query.patient_id)}


@operation(blueprint, "/referrals/<int:referral_id>", "GET", summary="One referral with its CT result, if back",
           roles=CLINICAL_ROLES, response=Referral)
def get_referral(referral_id: int):
    return outbox.get_referral(_resources().db(), referral_id)
