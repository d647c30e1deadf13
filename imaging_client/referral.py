"""The FHIR R4 referral for HRCT that leaves the clinic: pseudonymous by construction.

A referral is a ``collection`` Bundle with one ServiceRequest (SNOMED CT 241541005,
high-resolution CT of lungs), one Patient and Observations for the fused risk, the lung-sound
finding and key laboratory results, and notes: the advice as stored, in words (with what it rests
on: the risk factors on record, a lymphocyte count from an earlier visit with its date, a negative
HRCT, the HRCT that answered anti-MDA5, HRCT reads that disagree), which guideline line applies
(and, for a CTD suspected but not yet diagnosed, that the diagnosis is not established), each
model's version and validation status and that the risk is not validated for clinical use. The
advice is the first note; HRCT reads that disagree also have a note of their own, second. Each note
names its kind (``NOTE_KINDS``) in the extension ``urn:ildscreen:note-kind``, so the hospital's
worklist can show the advice first and mark the notes a reader must not miss without parsing words.

On the monitoring pathway (ILD confirmed) the advice note says "ILD monitoring", not a screening tier,
and a referral made there goes outside the monitoring advice for the clinician's stated reason.

The request never contradicts the screening advice: when the advice is HRCT plus PFTs its
reason is ILD screening under the guideline line and its FHIR priority follows the computed
priority (urgent -> ``asap``, within 3 months -> ``urgent``, routine -> ``routine``); when the
advice is not HRCT the clinician's stated reason is the request's reason, the notes say that
the referral goes against the screening advice, and the priority is ``routine`` unless a red
flag made the tier urgent. The crackle detector's finding goes out ``preliminary``: it is a
machine finding no clinician has confirmed. Laboratory results without a LOINC code (KL-6 has none) are coded
in the local ``urn:ildscreen:analyte`` system with the analyte name as text, which FHIR allows
(a CodeableConcept needs a coding or text, not a LOINC). The Patient carries no name,
address, telecom or local identifier: only an HMAC-SHA256 of the clinic's patient code under a
secret kept at the clinic (so the hospital can link repeat referrals of one patient without
learning the code), the birth year and the administrative gender. Resources are validated
with the ``fhir.resources`` R4B models before they leave.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from typing import Optional

from fhir.resources.R4B.bundle import Bundle

REFERRAL_CODE_PATTERN = re.compile(r"^ILD-[A-Z2-7]{10}$")
REFERRAL_SYSTEM = "urn:ildscreen:referral"
PSEUDONYM_SYSTEM = "urn:ildscreen:pseudonym"
LOCAL_OBSERVATION_SYSTEM = "urn:ildscreen:observation"
LOCAL_ANALYTE_SYSTEM = "urn:ildscreen:analyte"
NOT_VALIDATED = "Not validated for clinical use."
# A lab result stored although it looked like a unit slip (edge.labs.add_lab_panel): said where it is read.
CONFIRMED_UNUSUAL_NOTE = ("Confirmed by the nurse as unusual: the value looked like a unit slip and its value and unit "
                          "were checked when entered.")
CRACKLE_LEVELS = {"basal": "crackles at a lung base", "other_sites": "crackles away from the bases only",
                  "none": "no crackles at the recorded sites"}
SNOMED_HRCT_LUNGS = {"system": "http://snomed.info/sct", "code": "241541005",
                     "display": "High resolution computed tomography of lungs"}
# The triage's computed priority (edge.fusion.triage) -> FHIR request priority. "urgent" (this
# week) is FHIR ``asap`` ("higher priority than urgent"); "within 3 months" is FHIR ``urgent``
# ("actioned promptly, higher priority than routine"). A priority the triage may add later is
# sent ``routine`` rather than refused: the referral is the clinician's decision.
FHIR_PRIORITY = {"urgent": "asap", "within_3_months": "urgent", "routine": "routine"}
HRCT_ADVICE = "hrct_pfts"
SCREENING_REASON = "Screening for interstitial lung disease (2023 ACR/CHEST guideline)"
AGAINST_ADVICE = "Referred against the screening advice"
AGAINST_MONITORING = "Referred outside the monitoring advice"
# The assessment's pathway once ILD is confirmed (edge.screening.assess): its advice is monitoring, not screening.
MONITORING_PATHWAY = "monitoring"
# The guideline line of a patient whose CTD is suspected but not yet diagnosed (edge.fusion.triage):
# the hospital must not read the referral as screening of a known SARD.
UNDETERMINED_LINE_CODE = "undetermined"
UNDETERMINED_NOTE = ("Connective-tissue disease suspected, diagnosis not yet established (rheumatology work-up not "
                     "complete): outside the guideline's screening population, not assessed as any one disease.")
# What each ServiceRequest note is (the extension NOTE_KIND_URL on the note), in the order they are sent.
NOTE_KIND_URL = "urn:ildscreen:note-kind"
NOTE_KINDS = ("advice", "discordant_hrct_reads", "against_advice", "undetermined_diagnosis", "guideline_line",
              "validation", "model")
GENDER = {"F": "female", "M": "male"}
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_referral_code() -> str:
    """A random referral code, also the PACS accession number: ``ILD-`` and 10 base32 letters."""
    return "ILD-" + "".join(secrets.choice(BASE32) for _ in range(10))


def pseudonym(patient_code: str, site_secret: bytes, *, purpose: Optional[str] = None) -> str:
    """HMAC-SHA256 of the clinic's patient code under the clinic's secret, hex.

    ``purpose``: None for the referrals' pseudonym (what the hospital knows a patient by); another use
    names itself (e.g. ``labelled-takes``, :mod:`edge.labelled_takes`) and gets pseudonyms that nobody
    without the secret can link to the referrals' or to another purpose's.

    Examples
    --------
    >>> secret = bytes(32)
    >>> pseudonym("P-1", secret) == pseudonym("P-1", secret), pseudonym("P-1", secret) == pseudonym(
    ...     "P-1", secret, purpose="labelled-takes")
    (True, False)
    """
    message = patient_code if purpose is None else f"{purpose}\x00{patient_code}"
    return hmac.new(site_secret, message.encode(), hashlib.sha256).hexdigest()


def _observation(full_url: str, patient_url: str, code: dict, value: dict, notes: tuple[str, ...] = (),
                 status: str = "final") -> dict:
    resource = {"resourceType": "Observation", "status": status,
                "code": {"coding": [code], "text": code["display"]},
                "subject": {"reference": patient_url}, **value}
    if notes:
        resource["note"] = [{"text": text} for text in notes]
    return {"fullUrl": full_url, "resource": resource}


def _quantity(value: float, unit: str, ucum: Optional[str] = None) -> dict:
    quantity = {"value": round(float(value), 6), "unit": unit}
    if ucum:
        quantity.update(system="http://unitsofmeasure.org", code=ucum)
    return {"valueQuantity": quantity}


def lab_code(row: dict) -> dict:
    """LOINC when the analyte has one, else the local analyte system with the analyte's name."""
    if row.get("loinc"):
        return {"system": "http://loinc.org", "code": row["loinc"], "display": row["analyte"]}
    return {"system": LOCAL_ANALYTE_SYSTEM, "code": row["analyte"], "display": row["analyte"]}


def model_notes(assessment: dict) -> list[str]:
    """One line per model used: version, validation statement and training population."""
    models = (assessment.get("validation") or {}).get("models") or {}
    return [f"{name} model {model['version']}: {model['statement']} Training data: {model['training_population']}."
            for name, model in sorted(models.items())]


def build_referral_bundle(
    *,
    referral_code: str,
    tier: str,
    patient_code: str,
    birth_year: int,
    sex: str,
    site_secret: bytes,
    assessment: dict,
    lab_results: list[dict] = (),
    reason: Optional[str] = None,
) -> dict:
    """The referral Bundle as JSON-ready dict, validated against the FHIR R4B models.

    ``lab_results`` rows carry ``loinc`` (None for an analyte without one), ``analyte``,
    ``si_value``, ``si_unit`` and optionally ``confirmed_unusual`` (the value looked like a unit
    slip and was confirmed when entered: its Observation says so in a note). ``reason`` is the clinician's stated reason (required by the
    caller when the advice is not HRCT).
    """
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    entries = [{
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": {
            "resourceType": "ServiceRequest",
            "identifier": [{"system": REFERRAL_SYSTEM, "value": referral_code}],
            "status": "active",
            "intent": "order",
            "priority": fhir_priority(assessment["recommendation"]),
            "code": {"coding": [SNOMED_HRCT_LUNGS]},
            "subject": {"reference": patient_url},
            "reasonCode": [{"text": text} for text in referral_reasons(assessment, reason)],
            "note": [{"extension": [{"url": NOTE_KIND_URL, "valueCode": kind}], "text": text}
                     for kind, text in referral_notes(tier, assessment, reason)],
        },
    }, {
        "fullUrl": patient_url,
        "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": PSEUDONYM_SYSTEM, "value": pseudonym(patient_code, site_secret)}],
            "gender": GENDER[sex],
            "birthDate": str(birth_year),
        },
    }]
    validation_note = (assessment.get("validation") or {}).get("note", NOT_VALIDATED)
    entries.append(_observation(f"urn:uuid:{uuid.uuid4()}", patient_url,
                                {"system": LOCAL_OBSERVATION_SYSTEM, "code": "ild-risk",
                                 "display": "ILD risk estimate, research model (ildscreen)"},
                                _quantity(assessment["probability"] * 100, "%", "%"),
                                tuple(filter(None, (validation_note, assessment.get("uncertainty"))))))
    finding = (assessment["contributions"].get("auscultation") or {}).get("finding") or {}
    if finding.get("level") in CRACKLE_LEVELS:
        validated = "" if finding.get("validated") else " (crackle detector not validated: not used in the risk)"
        entries.append(_observation(f"urn:uuid:{uuid.uuid4()}", patient_url,
                                    {"system": LOCAL_OBSERVATION_SYSTEM, "code": "crackle-detector-finding",
                                     "display": "Lung-sound crackle detector finding (ildscreen)"},
                                    {"valueString": CRACKLE_LEVELS[finding["level"]] + validated},
                                    (NOT_VALIDATED,), status="preliminary"))
    for row in lab_results:
        if row.get("si_value") is None:
            continue
        entries.append(_observation(f"urn:uuid:{uuid.uuid4()}", patient_url, lab_code(row),
                                    _quantity(row["si_value"], row["si_unit"], row["si_unit"]),
                                    (CONFIRMED_UNUSUAL_NOTE,) if row.get("confirmed_unusual") else ()))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


def advises_hrct(assessment: dict) -> bool:
    """Whether the assessment's advice is HRCT (plus PFTs); otherwise referring needs a reason."""
    return assessment["recommendation"].get("advice") == HRCT_ADVICE


def fhir_priority(recommendation: dict) -> str:
    """The FHIR request priority of the triage's computed priority (``routine`` when unknown)."""
    return FHIR_PRIORITY.get(recommendation.get("priority"), "routine")


def referral_reasons(assessment: dict, reason: Optional[str]) -> list[str]:
    """The ServiceRequest's reasons: screening under the guideline when HRCT is advised, and the
    clinician's stated reason (the only one when the advice is not HRCT)."""
    reasons = [SCREENING_REASON] if advises_hrct(assessment) else []
    if reason:
        reasons.append(f"Clinician's reason: {reason}")
    return reasons or [SCREENING_REASON]


def advice_note(tier: str, assessment: dict) -> str:
    """The note that carries the advice: on the screening pathway with the screening tier; on the
    monitoring pathway (ILD confirmed, ``edge.fusion.monitoring``) said as monitoring, since a screening
    tier would tell the hospital that ILD is not known. An assessment stored before pathways is screening.

    Examples
    --------
    >>> advice_note("high", {"pathway": "monitoring", "recommendation": {"text": "ILD is confirmed: monitor it."}})
    'ILD monitoring (ILD confirmed): ILD is confirmed: monitor it.'
    >>> advice_note("low", {"recommendation": {"text": "Re-screen in 12 months."}})
    'ILD screening tier low; Re-screen in 12 months.'
    """
    text = assessment["recommendation"]["text"]
    if assessment.get("pathway") == MONITORING_PATHWAY:
        return f"ILD monitoring (ILD confirmed): {text}"
    return f"ILD screening tier {tier}; {text}"


def referral_notes(tier: str, assessment: dict, reason: Optional[str] = None) -> list[tuple[str, str]]:
    """The ServiceRequest's notes as ``(kind, text)`` (kinds: ``NOTE_KINDS``): the advice first
    (:func:`advice_note`), HRCT reads that disagree, going against the advice, guideline line, validation,
    model versions."""
    recommendation = assessment["recommendation"]
    notes = [("advice", advice_note(tier, assessment))]
    discordant = recommendation.get("discordant_hrct")
    if discordant:
        notes.append(("discordant_hrct_reads",
                      f"HRCT reads disagree: the HRCT on {discordant['no_ild_on']} read no ILD after the HRCT on "
                      f"{discordant['ild_on']} read ILD. Discuss both reads with the rheumatologist and the "
                      "radiologist."))
    if not advises_hrct(assessment):
        against = AGAINST_ADVICE if assessment.get("pathway") != MONITORING_PATHWAY else AGAINST_MONITORING
        notes.append(("against_advice", f"{against} (which is not HRCT); clinician's reason: {reason or 'not stated'}."))
    guideline = recommendation.get("guideline")
    if guideline and guideline.get("code") == UNDETERMINED_LINE_CODE:
        notes.append(("undetermined_diagnosis", UNDETERMINED_NOTE))
    if guideline:
        notes.append(("guideline_line", f"Guideline line: {guideline['line']} Source: {guideline['source']}."))
    notes.append(("validation", (assessment.get("validation") or {}).get("note", NOT_VALIDATED)))
    return notes + [("model", text) for text in model_notes(assessment)]
