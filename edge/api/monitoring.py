"""Ending ILD monitoring at this clinic, and resuming it (clinicians): ``edge.monitoring_ends``."""
from __future__ import annotations

from typing import Literal, Optional

from flask import Blueprint, current_app, g
from pydantic import BaseModel, Field

from edge import monitoring_ends
from edge.api.operations import CLINICAL_ROLES, Replayed, operation
from edge.schemas import RequestModel
from edge.vocabulary import MONITORING_END_NOTE_MAX, MONITORING_END_REASONS

blueprint = Blueprint("monitoring", __name__, url_prefix="/api/v1")
Reason = Literal[tuple(MONITORING_END_REASONS)]  # type: ignore[valid-type]
ALREADY_ENDED = ("Already ended: an end of monitoring is in force for this patient; it is returned as stored "
                 "(`already_ended`), this request's date, reason and note are not stored and no audit entry is "
                 "written")


class MonitoringEndCreate(RequestModel):
    date: str = Field(max_length=10, description="When monitoring ended, YYYY-MM-DD: not in the future, not before "
                                                 "ILD was confirmed.")
    reason: Reason = Field(description="Why (docs/reference/vocabulary.md): " + "; ".join(
        f"`{code}` {words}" for code, words in MONITORING_END_REASONS.items()) + ".")
    note: str = Field("", max_length=MONITORING_END_NOTE_MAX,
                      description="Required for `other`: one line, no control characters, no names or identifiers.")


class MonitoringEnd(BaseModel):
    id: int
    patient_id: int
    ended_on: str
    reason: Reason
    note: str
    created_at: str
    resumed_at: Optional[str] = Field(description="When a clinician resumed monitoring; null while the end is in "
                                                  "force.")


class MonitoringEnded(MonitoringEnd):
    already_ended: bool = Field(description="True: an earlier request ended monitoring (its values are shown); "
                                            "this one changed nothing. False: this request ended it.")


class MonitoringResumed(MonitoringEnd):
    already_resumed: bool = Field(description="True: an earlier request resumed monitoring; this one changed "
                                              "nothing (no audit entry). False: this request resumed it.")


class MonitoringEndList(BaseModel):
    monitoring_ends: list[MonitoringEnd]


def _db():
    return current_app.extensions["ildscreen"].db()


@operation(blueprint, "/patients/<int:patient_id>/monitoring-ends", "POST",
           summary="Record that monitoring of the patient's confirmed ILD ended at this clinic (clinicians; audited): "
                   "new assessments show the plan as ended and ask a clinician to review a new concern; an MDT that "
                   "ruled ILD out puts the patient back on screening. 409 without confirmed ILD",
           roles=("clinician",), body=MonitoringEndCreate, response=MonitoringEnded, status=201, atomic=True,
           replay=ALREADY_ENDED)
def end_monitoring(patient_id: int, body: MonitoringEndCreate):
    ending = monitoring_ends.end_monitoring(_db(), g.actor, patient_id, ended_on=body.date, reason=body.reason,
                                            note=body.note)
    answer = {**ending.end, "already_ended": ending.already}
    return Replayed(answer) if ending.already else answer


@operation(blueprint, "/patients/<int:patient_id>/monitoring-ends", "GET",
           summary="The ends of monitoring recorded for a patient, oldest first (resumed ones too)",
           roles=CLINICAL_ROLES, response=MonitoringEndList)
def list_monitoring_ends(patient_id: int):
    return {"monitoring_ends": monitoring_ends.list_ends(_db(), patient_id)}


@operation(blueprint, "/monitoring-ends/<int:end_id>/resume", "POST",
           summary="Undo an end of monitoring: monitoring resumes (clinicians; audited). Sent again: 200 with "
                   "`already_resumed`, nothing changed",
           roles=("clinician",), response=MonitoringResumed, atomic=True, never_answers=(409,))
def resume_monitoring(end_id: int):
    resumption = monitoring_ends.resume_monitoring(_db(), g.actor, end_id)
    return {**resumption.end, "already_resumed": resumption.already}
