"""From the patient's CTD, risk factors and fused risk to the next step, following the 2023
ACR/CHEST guideline for screening for ILD in systemic autoimmune rheumatic diseases (Johnson SR
et al., Arthritis Rheumatol 2024;76:1182-1200; also Arthritis Care Res and CHEST).

What the guideline says, and how it is encoded (``SCREENING_LINES``, one row per line):

- People with a SARD at increased risk of ILD are screened with HRCT **and** PFTs (spirometry,
  lung volumes, DLCO); HRCT plus PFTs is preferred over PFTs alone. The guideline's Table 2 lists
  what puts a person at increased risk: SSc, IIM and MCTD are advised baseline screening
  whatever the score; RA and Sjögren's disease when one of their Table 2 risk factors is on
  record. The fused score then only sets the *priority* (where HRCT is scarce). Most factors are
  ticked on the patient record (``patient_factors``); two SjD factors are read from what the record
  measures (``recorded_findings``): lymphopenia from the visit's blood count, or without one the newest
  count of the patient's earlier visits within ``triage_lymphopenia_lookback_months`` (default 12,
  programme assumption; named with its date), lymphocytes below the
  setting ``triage_lymphopenia_below``, default 1.0 x 10^9/L, and older age (only when the programme
  sets ``triage_sjd_older_age_from``: Table 2 gives no age, so the default is off). Each is named
  with the value it came from in the advice (``guideline.risk_factor_findings``).
- Chest radiography, the 6-minute walk test and ambulatory desaturation (oximetry) are
  conditionally recommended *against* as screening tests: they are never the confirming test.
- RA or Sjögren's disease without a recorded Table 2 factor but with symptoms or signs that may be
  ILD (exertional breathlessness, chronic dry cough, finger clubbing): HRCT and PFTs. Table 2's note
  says screening "should not necessarily be limited" to people with its risk factors, and its
  authors present only people who lack the risk factors *and* are asymptomatic as possibly not
  needing screening (Johnson and Bernstein's webinar, in Hickman RJ, "Experts discuss guidelines
  for interstitial lung disease in systemic autoimmune rheumatic disease", The Rheumatologist,
  March 2025). A low score must not tell a breathless patient to "re-screen in 12 months, sooner if
  breathlessness or cough appear".
- Patients no guideline line covers (SLE; RA or SjD with neither a recorded risk factor nor a
  symptom): the score decides, under programme thresholds (settings ``triage_intermediate`` /
  ``triage_high``). But when such a patient (SLE, or a diagnosis not yet established) has a symptom
  or sign that may be ILD on record, a low score never says "re-screen": the advice is at least a
  clinician review ("discuss", the symptoms named in ``review_symptoms``). Programme assumption,
  mirroring the RA/SjD symptom reasoning above: the guideline's population excludes these patients,
  so it says nothing for them, and its authors spare screening only the asymptomatic.
- A CTD suspected but not yet diagnosed (``undetermined``) is outside the guideline's population
  (people *with* SSc, RA, IIM, SjD or MCTD): the advice says so plainly, asks for the rheumatology
  work-up to be completed first, names the diseases whose screening would then apply, and lets the
  score decide meanwhile. It is never screened as if it were one of those diseases.
- Red flags (``RED_FLAGS``, each row with its source): rapidly worsening breathlessness and anti-MDA5
  (rapidly progressive ILD) are urgent; FVC or DLCO below the programme's cut-off (setting
  ``triage_pft_abnormal_below``, default 80% predicted) raises the tier to at least high. Which
  tier each flag forces is a programme assumption (the guideline sets no urgency) and a setting,
  ``triage_red_flag_tiers`` (high or urgent per flag; every flag forces at least high).
- anti-MDA5 alone asks for an urgent HRCT to find a rapidly progressive ILD early; once an HRCT read
  since the antibody was first on record is there (``hrct_since_anti_mda5``) that question is
  answered, and the antibody alone raises no flag: ILD present puts the patient on the monitoring
  pathway (IIM: PFTs every 3-6 months in the first year, the guideline's Table 4), ILD absent gives
  the negative-HRCT advice below with the next screen within ``triage_anti_mda5_rescreen_months``
  (default 6, programme assumption: the upper end of Table 4's IIM-ILD interval; the guideline gives
  none for people without ILD). Rapidly worsening breathlessness with anti-MDA5 stays urgent.

After a negative HRCT: the guideline gives no re-screening interval once a screening HRCT has read no
ILD. An HRCT read as ILD absent (``last_hrct``, the patient's most recent confirming HRCT on or before
the visit, ``edge.outcomes.confirmed_outcomes``) answers the screening line's HRCT for a programme
setting, ``triage_hrct_negative_valid_months`` (default 24; programme assumption): twice the low-risk
re-screening interval, so a well patient is not scanned more than every two years, while PFTs and the
symptom review at each screen (and the FVC / DLCO red flag) watch for change in between. Meanwhile
the advice is ``pfts``: PFTs and a symptom review, HRCT again if FVC or DLCO fall below the cut-off,
symptoms appear or a red flag is found; the advice names the HRCT's date (``negative_hrct``).
What still advises HRCT after a negative HRCT:

- a red flag: HRCT + PFTs at the flag's priority, as for everyone (the flag is new information);
- a high fused score that the measured tests raised (their combined likelihood ratio above 1,
  ``tests_raised``), or a symptom that may be ILD, without a red flag: ``discuss`` (a repeat HRCT with
  the rheumatologist, within 3 months when the score is high), not an automatic HRCT: the modality
  models are not clinically validated, so a clinician weighs them against the scan. A score that is
  high from the clinical picture alone (CTD, antibodies, age) changes nothing: the HRCT answered
  that picture, and the score is not told about the scan.

A low-risk patient no line covers keeps "re-screen" after a negative HRCT. ILD confirmed present
is not triage's business: the monitoring pathway replaces the advice (``edge.screening.assess``).

Priorities and re-screening intervals are programme assumptions (the guideline sets none for
screening): urgent = this week; high score = within 3 months; otherwise routine. The re-screening
intervals are settings (``triage_rescreen_discuss_months``, 6; ``triage_rescreen_low_months``, 12;
after a negative HRCT, PFTs and re-screening at the low-risk interval), as is the tier each red flag
forces (``triage_red_flag_tiers``). The windows of the priorities ("this week", "within 3 months")
are not settings: each is the meaning of its priority code, which the clinic's screens
(``edge.web.i18n``) and the FHIR referral (``imaging_client.referral.FHIR_PRIORITY``) translate;
a programme changes them there, with the code.

The symptom floor (a symptomatic patient no guideline line covers gets at least "discuss") is a
programme assumption that is not a setting: it is a safety floor, the reading of the guideline's
authors (screening spared only the asymptomatic) carried over to the patients outside its population.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Annotated, Mapping, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from edge.errors import ValidationError
from edge.fusion.monitoring import add_months, checked_after_first_year, checked_first_year
from edge.vocabulary import SYMPTOMS, UNDETERMINED_CTD

GUIDELINE_SOURCE = ("Johnson SR et al. 2023 ACR/CHEST Guideline for the Screening and Monitoring of ILD in "
                    "People with SARDs. Arthritis Rheumatol 2024;76:1182-1200")
PFTS = "PFTs (spirometry, lung volumes, DLCO)"
NOT_CONFIRMING = "A chest X-ray, 6-minute walk test or pulse oximetry cannot rule out ILD: use HRCT and PFTs."
TIER_ORDER = ("low", "intermediate", "high", "urgent")


def check_tier_order(intermediate: float, high: float, *, names: tuple[str, str] = ("intermediate", "high")) -> None:
    """The tier boundaries must rise: raises ``ValueError`` naming both (as ``names``) when
    ``intermediate`` is not below ``high``. One rule for the model below and the service settings."""
    if not intermediate < high:
        raise ValueError(f"{names[0]} ({intermediate}) must be below {names[1]} ({high})")


def checked_red_flag_tiers(overrides: Mapping[str, str]) -> dict[str, str]:
    """Overrides of the tier each red flag forces, checked: each key a flag of ``RED_FLAGS``, each value
    one of ``RED_FLAG_TIERS`` (a red flag forces at least "high": the advice is then HRCT and PFTs)."""
    for code, tier in overrides.items():
        if code not in RED_FLAGS:
            raise ValueError(f"unknown red flag {code!r} in the red-flag tiers; expected one of {sorted(RED_FLAGS)}")
        if tier not in RED_FLAG_TIERS:
            raise ValueError(f"the tier of red flag {code} must be one of {list(RED_FLAG_TIERS)}, got {tier!r}")
    return dict(overrides)


class TriageThresholds(BaseModel):
    """Programme settings of the next step: tier boundaries on the fused ILD probability,
    re-screening intervals, the red-flag PFT cut-off, how long a negative HRCT answers screening, the
    cut-offs of the measured Sjögren's risk factors (lymphopenia, older age), and (once ILD is
    confirmed) the PFT interval after the first year of monitoring.

    The one declaration of these settings: the clinic service's settings (``edge.config``,
    ``ILDSCREEN_TRIAGE_*``) take each field's default, limits, checks, title and description from
    here. Stored with every assessment (``model_dump``)."""

    model_config = ConfigDict(extra="forbid", title="Triage thresholds")

    intermediate: float = Field(
        0.10, gt=0, lt=1, title="Intermediate tier from",
        description="Fused ILD probability from which screening is discussed for patients no guideline line covers "
                    "(programme setting).")
    high: float = Field(
        0.30, gt=0, lt=1, title="High tier from",
        description="Fused ILD probability from which HRCT plus PFTs are advised within 3 months (programme setting).")
    rescreen_discuss_months: int = Field(
        6, ge=1, le=36, title="Re-screen after a discussion (months)",
        description="Programme assumption (the guideline sets no re-screening interval): when HRCT plus PFTs is only "
                    "discussed (intermediate tier or symptoms with no guideline line; a high score or symptoms after "
                    "a negative HRCT), screen again after this many months.")
    rescreen_low_months: int = Field(
        12, ge=1, le=60, title="Re-screen at low risk (months)",
        description="Programme assumption (the guideline sets no re-screening interval): at low risk with no "
                    "guideline line, and after a negative HRCT (PFTs and a symptom review), screen again after this "
                    "many months.")
    pft_abnormal_below: float = Field(
        80.0, gt=0, le=100, title="Abnormal FVC or DLCO below (% predicted)",
        description="Programme assumption (docs/evidence.md section 6): FVC or DLCO below this percent of predicted "
                    "is a red flag that raises the tier to at least high (a common fixed cut-off, not from the "
                    "guideline; a programme using the lower limit of normal can lower it).")
    hrct_negative_valid_months: int = Field(
        24, ge=1, le=120, title="A negative HRCT answers screening for (months)",
        description="Programme assumption (docs/evidence.md section 6; the guideline gives no re-screening interval "
                    "after a negative HRCT): for this many months after an HRCT read as no ILD, the advice is PFTs "
                    "and a symptom review instead of another HRCT, unless a red flag (HRCT), a high score or "
                    "symptoms (discuss with the rheumatologist) say otherwise.")
    lymphopenia_below: float = Field(
        1.0, gt=0, le=4.0, title="Lymphopenia below (x 10^9/L)",
        description="Programme assumption (docs/evidence.md section 6; the guideline's Table 2 lists lymphopenia as "
                    "a Sjögren's ILD risk factor without a cut-off): lymphocytes on the blood count triage reads "
                    "below this many x 10^9/L select the Sjögren's risk line (HRCT plus PFTs). 1.0 is the common adult "
                    "definition and the lower end of the lab catalogue's reference range.")
    lymphopenia_lookback_months: int = Field(
        12, ge=0, le=36, title="Lymphopenia: look back at earlier blood counts for (months)",
        description="Programme assumption (docs/evidence.md section 6; the guideline gives no timing for its "
                    "lymphopenia factor): a visit without a lymphocyte count reads the newest count of the patient's "
                    "earlier visits within this many months, named with its date; 0 reads this visit's count only. "
                    "12 is the low-risk re-screening interval, so the previous screen's count still counts.")
    anti_mda5_rescreen_months: int = Field(
        6, ge=1, le=24, title="After an HRCT without ILD in anti-MDA5: re-screen after (months)",
        description="Programme assumption (docs/evidence.md section 6; the guideline gives no interval for people "
                    "without ILD): once an HRCT read since anti-MDA5 was on record shows no ILD, PFTs and a symptom "
                    "review are advised after at most this many months, not the low-risk interval. 6 is the upper "
                    "end of the guideline's first-year PFT interval for IIM-ILD (Table 4).")
    sjd_older_age_from: Optional[int] = Field(
        None, ge=40, le=100, title="Sjögren's 'older age' from (years)",
        description="Programme assumption (docs/evidence.md section 6; Table 2 lists older age as a Sjögren's ILD "
                    "risk factor without a cut-off): from this age (by birth year) a Sjögren's patient has the "
                    "factor and is advised HRCT plus PFTs. Unset by default: every patient this programme screens "
                    "is older, so a cut-off would screen every Sjögren's patient; set it only as a programme "
                    "decision.")
    # The checks ride on the type, so the service setting that copies the field checks them too.
    red_flag_tiers: Annotated[dict[str, str], AfterValidator(checked_red_flag_tiers)] = Field(
        default_factory=dict, title="Tier each red flag forces",
        description="Programme assumption (docs/evidence.md, section 6; the guideline sets no urgency): per red flag, "
                    'the tier it forces, "urgent" (HRCT and PFTs this week, the rheumatologist told today) or "high" '
                    '(within 3 months), e.g. {"anti_mda5": "high"}; unset flags keep their defaults (edge/fusion/'
                    "triage.py, RED_FLAGS: anti-MDA5 and rapidly worsening breathlessness urgent, a low FVC or DLCO "
                    "high).")
    monitoring_first_year: Annotated[dict[str, list[int]], AfterValidator(checked_first_year)] = Field(
        default_factory=dict, title="PFT interval in the first year of monitoring, outside the guideline",
        description="Programme assumption (docs/evidence.md, section 7a): for the CTDs whose first-year line the "
                    "guideline does not give (SLE, a diagnosis not yet established), the range of months between "
                    'PFTs in the first year after ILD is confirmed, e.g. {"SLE": [3, 6]}; unset CTDs keep theirs '
                    "(SLE 3-12, not yet established 3-6). The guideline's own CTDs follow its Table 4.")
    monitoring_after_first_year: Annotated[dict[str, int], AfterValidator(checked_after_first_year)] = Field(
        default_factory=dict, title="PFT interval after the first year of monitoring",
        description="Programme assumption (docs/evidence.md, section 7a): per-CTD months between PFTs once ILD has "
                    "been confirmed for a year (the guideline: 'less frequently once stable'), e.g. "
                    '{"SSc": 12, "RA": 18}; unset CTDs keep the upper end of their first-year interval.')

    @model_validator(mode="after")
    def ordered(self) -> "TriageThresholds":
        check_tier_order(self.intermediate, self.high)
        return self


@dataclass(frozen=True)
class ScreeningLine:
    """One line of the guideline: who it covers and what it advises."""

    code: str
    ctd: str
    risk_factors: Optional[frozenset[str]]  # None: everyone with this CTD
    text: str
    source: str
    screens: bool = True  # the line itself advises HRCT + PFTs; otherwise the score decides


RA_RISK_FACTORS = frozenset({"RF-high-titre", "anti-CCP-high-titre", "ever_smoker", "male"})
SJD_RISK_FACTORS = frozenset({"anti-Ro52", "ANA", "raynaud", "lymphopenia", "older_age"})
# Symptoms or signs that may be ILD (Cottin V et al. Eur Respir Rev 2018;27:180076: exertional
# dyspnoea and cough are the usual symptoms, clubbing a sign); fatigue, chest pain and weight loss
# are too unspecific to select a line.
ILD_SYMPTOMS = frozenset({"exertional_dyspnoea", "rapidly_worsening_dyspnoea", "dry_cough", "finger_clubbing"})
SYMPTOM_SOURCE = (GUIDELINE_SOURCE + ", Table 2 note (screening not limited to people with its risk factors); "
                  "Hickman RJ, The Rheumatologist, March 2025 (the authors: without risk factors, screening may "
                  "be spared only when asymptomatic)")
SCREENING_LINES = (
    ScreeningLine("ssc", "SSc", None, "Systemic sclerosis is at increased risk of ILD: screen with HRCT and PFTs.",
                  GUIDELINE_SOURCE + ", Table 2 and screening recommendations"),
    ScreeningLine("iim", "IIM", None, "Inflammatory myopathy is at increased risk of ILD: screen with HRCT and PFTs.",
                  GUIDELINE_SOURCE + ", Table 2 and screening recommendations"),
    ScreeningLine("mctd", "MCTD", None, "Mixed connective-tissue disease is at increased risk of ILD: screen with "
                  "HRCT and PFTs.", GUIDELINE_SOURCE + ", Table 2 and screening recommendations"),
    # Table 2 (RA): high-titre RF or anti-CCP, smoking, older age at onset, high disease activity,
    # male sex, higher BMI. Recorded here: RF high titre, anti-CCP high titre (> 3 x ULN, the
    # 2010 ACR/EULAR "high-positive": Aletaha D et al. Arthritis Rheum 2010;62:2569-2581; a merely
    # positive anti-CCP is not the guideline's factor),
    # ever smoker, male sex. Age at RA onset is not on record (no diagnosis date), nor are disease
    # activity and BMI.
    ScreeningLine("ra_risk", "RA", RA_RISK_FACTORS, "Rheumatoid arthritis with an ILD risk factor: screen with "
                  "HRCT and PFTs.", GUIDELINE_SOURCE + ", Table 2 (RA risk factors)"),
    # Table 2 (SjD): anti-Ro52, ANA, Raynaud phenomenon, older age, lymphopenia, severe caries.
    # Recorded here: anti-Ro52, ANA, Raynaud; measured (``recorded_findings``): lymphopenia on the
    # visit's blood count (or a recent earlier one), older age when the programme sets its cut-off. Caries are not
    # recorded.
    ScreeningLine("sjd_risk", "SjD", SJD_RISK_FACTORS, "Sjögren's disease with an ILD risk factor: screen with "
                  "HRCT and PFTs.", GUIDELINE_SOURCE + ", Table 2 (Sjögren's disease risk factors)"),
    # Without a recorded Table 2 factor, symptoms or signs that may be ILD (after the risk lines, so a
    # patient with both is named by the risk factors).
    ScreeningLine("ra_symptoms", "RA", ILD_SYMPTOMS, "Rheumatoid arthritis with symptoms or signs that may be ILD: "
                  "test with HRCT and PFTs.", SYMPTOM_SOURCE),
    ScreeningLine("sjd_symptoms", "SjD", ILD_SYMPTOMS, "Sjögren's disease with symptoms or signs that may be ILD: "
                  "test with HRCT and PFTs.", SYMPTOM_SOURCE),
)
NO_LINE = ScreeningLine("none", "", None, "No guideline screening line covers this patient: the risk score decides.",
                        GUIDELINE_SOURCE + " (population: RA, SSc, IIM, MCTD, SjD; Table 2 note)", screens=False)
UNDETERMINED_LINE = ScreeningLine(
    "undetermined", UNDETERMINED_CTD, None,
    "Diagnosis not yet established: complete the rheumatology work-up. Once it names the disease, the guideline "
    "screens SSc, IIM and MCTD, and RA or Sjögren's disease with a risk factor or symptoms, with HRCT and PFTs; "
    "until then the "
    "risk score decides.",
    GUIDELINE_SOURCE + " (population: people with RA, SSc, IIM, MCTD or SjD; a diagnosis not yet established is "
    "outside it)", screens=False)
WORKUP_STEP = "Complete the rheumatology work-up to establish the diagnosis"

# {months}: the programme's re-screening interval of that advice (``rescreen_months``); {cutoff}: the
# red-flag FVC / DLCO cut-off (``pft_abnormal_below``), in the stored text only.
ADVICE = {
    "hrct_pfts": {"text": f"HRCT plus {PFTS}", "next_steps": ["HRCT of the chest", PFTS]},
    "discuss": {"text": f"Discuss HRCT plus {PFTS} with the rheumatologist; re-screen in {{months}} months",
                "next_steps": [f"Discuss HRCT plus {PFTS} with the rheumatologist", "Re-screen in {months} months"]},
    "rescreen": {"text": "Re-screen in {months} months, sooner if breathlessness or cough appear",
                 "next_steps": ["Re-screen in {months} months"]},
    # After a negative HRCT (``negative_hrct``): the screening HRCT is done for now.
    "pfts": {"text": f"{PFTS} and a symptom review; HRCT again if FVC or DLCO fall below {{cutoff:g}}% predicted, "
                     "symptoms appear or a red flag is found; re-screen in {months} months",
             "next_steps": [PFTS, "Review breathlessness and cough",
                            "HRCT again if FVC or DLCO fall below the cut-off, symptoms appear or a red flag is found",
                            "Re-screen in {months} months"]},
}
# Programme assumptions, not settings: each window is the meaning of its priority code (module docstring).
PRIORITY_TEXT = {"urgent": "this week; tell the rheumatologist today", "within_3_months": "within 3 months",
                 "routine": "routine"}


def rescreen_months(advice: str, thresholds: TriageThresholds) -> Optional[int]:
    """Months until the next screen for ``advice`` (programme settings); None when HRCT is advised."""
    return {"hrct_pfts": None, "discuss": thresholds.rescreen_discuss_months,
            "rescreen": thresholds.rescreen_low_months, "pfts": thresholds.rescreen_low_months}[advice]


def patient_factors(*, sex: str, smoking: str, autoantibodies: tuple[str, ...], symptoms: tuple[str, ...]) -> set[str]:
    """The recorded facts that guideline risk factors are matched against."""
    factors = set(autoantibodies) | set(symptoms)
    if sex == "M":
        factors.add("male")
    if smoking in ("former", "current"):
        factors.add("ever_smoker")
    return factors


# Risk factors read from measurements, not ticked: code -> (what it says, source). The cut-offs are
# settings (``TriageThresholds``); {value}/{cutoff} are filled in by ``recorded_findings``.
MEASURED_FACTORS = {
    "lymphopenia": ("lymphocytes {value:g} x10^9/L on {count} (lymphopenia: below {cutoff:g})",
                    GUIDELINE_SOURCE + ", Table 2 (SjD: lymphopenia); cut-off and look-back: programme assumptions "
                    "(settings triage_lymphopenia_below, triage_lymphopenia_lookback_months)"),
    "older_age": ("age {value} from the birth year (older age: {cutoff} or more)",
                  GUIDELINE_SOURCE + ", Table 2 (SjD: older age); cut-off: programme assumption (setting "
                  "triage_sjd_older_age_from)"),
}


def _finding(code: str, value, cutoff, date: Optional[str] = None) -> dict:
    text, source = MEASURED_FACTORS[code]
    count = f"the blood count of {date}" if date else "this visit's blood count"
    finding = {"code": code, "value": value, "cutoff": cutoff,
               "text": text.format(value=value, cutoff=cutoff, count=count), "source": source}
    return {**finding, "date": date} if code == "lymphopenia" else finding


def recorded_findings(*, lymphocytes: Optional[float], ages: Optional[tuple[int, int]],
                      thresholds: TriageThresholds, lymphocytes_date: Optional[str] = None) -> list[dict]:
    """Table 2 factors read from what the record measures, each with the value it came from.

    ``lymphocytes``: the absolute count in 10^9/L (the lab catalogue's SI unit) on the visit's blood
    count, or, without one, on an earlier visit's within ``thresholds.lymphopenia_lookback_months``
    (``edge.labs.recent_lymphocytes``), dated ``lymphocytes_date`` (None: this visit's); below
    ``thresholds.lymphopenia_below`` it is lymphopenia, named with its date.
    ``ages``: both ages the birth year allows; "older age" only when the programme set
    ``thresholds.sjd_older_age_from`` and the younger age reaches it. Returns ``{"code", "value",
    "cutoff", "text", "source"}`` rows (lymphopenia's with its ``date`` too).

    Examples
    --------
    >>> [f["text"] for f in recorded_findings(lymphocytes=0.8, ages=(71, 72), thresholds=TriageThresholds())]
    ["lymphocytes 0.8 x10^9/L on this visit's blood count (lymphopenia: below 1)"]

    Raises
    ------
    ValidationError
        When ``lymphocytes`` is not a finite count of at least 0.
    """
    findings = []
    if lymphocytes is not None:
        number = isinstance(lymphocytes, (int, float)) and not isinstance(lymphocytes, bool)
        if not number or not 0 <= lymphocytes < math.inf:
            raise ValidationError(f"lymphocytes must be a count >= 0 in 10^9/L, got {lymphocytes!r}",
                                  fields=[{"field": "lymphocytes", "reason": "not a count in 10^9/L"}])
        if lymphocytes < thresholds.lymphopenia_below:
            findings.append(_finding("lymphopenia", round(float(lymphocytes), 2), thresholds.lymphopenia_below,
                                     lymphocytes_date))
    cutoff = thresholds.sjd_older_age_from
    if cutoff is not None and ages and min(ages) >= cutoff:
        findings.append(_finding("older_age", min(ages), cutoff))
    return findings


def screening_line(ctd_diagnosis: str, factors: set[str]) -> tuple[ScreeningLine, list[str]]:
    """The guideline line that covers this patient and the risk factors that matched it."""
    if ctd_diagnosis == UNDETERMINED_CTD:
        return UNDETERMINED_LINE, []
    for line in SCREENING_LINES:
        if line.ctd != ctd_diagnosis:
            continue
        if line.risk_factors is None:
            return line, []
        matched = sorted(factors & line.risk_factors)
        if matched:
            return line, matched
    return NO_LINE, []


# Red flags: (code, tier it forces by default, reason, source). The tier each forces is a programme
# assumption and a setting (``red_flag_tiers``); so is the FVC / DLCO cut-off (``pft_abnormal_below``).
RED_FLAG_TIERS = ("high", "urgent")
RED_FLAG_TIER_SETTING = "triage_red_flag_tiers"
RED_FLAGS = {
    "anti_mda5_rapid_dyspnoea": ("urgent", "anti-MDA5 with rapidly worsening breathlessness: risk of rapidly "
                                 "progressive ILD", "Hallowell RW et al. Curr Opin Rheumatol 2019 (anti-MDA5 and "
                                 "rapidly progressive ILD); urgency: programme assumption"),
    "rapid_dyspnoea": ("urgent", "breathlessness worsening over days to weeks",
                       "programme assumption: no source was found for this flag; a possible acute or rapidly "
                       "progressive ILD is not a screening case"),
    "anti_mda5": ("urgent", "anti-MDA5: risk of rapidly progressive ILD",
                  "Hallowell RW et al. Curr Opin Rheumatol 2019; " + GUIDELINE_SOURCE + ", Table 2 (IIM); urgency: "
                  "programme assumption"),
    "low_fvc": ("high", "FVC {value:g}% predicted (< {cutoff:g}%)",
                "programme assumption (setting triage_pft_abnormal_below)"),
    "low_dlco": ("high", "DLCO {value:g}% predicted (< {cutoff:g}%)",
                 "programme assumption (setting triage_pft_abnormal_below)"),
}


def _flag(code: str, **values) -> dict:
    tier, reason, source = RED_FLAGS[code]
    return {"code": code, "tier": tier, "reason": reason.format(**values), "source": source, **values}


def flag_in_force(flag: dict, thresholds: TriageThresholds) -> dict:
    """``flag`` with the tier the programme set for it (``thresholds.red_flag_tiers``, default its row's);
    a tier other than the default is named in its source."""
    tier = thresholds.red_flag_tiers.get(flag["code"], flag["tier"])
    if tier == flag["tier"]:
        return flag
    return {**flag, "tier": tier, "source": f"{flag['source']}; tier {tier} (setting {RED_FLAG_TIER_SETTING}, "
                                             f"default {RED_FLAGS[flag['code']][0]})"}


def hrct_since_anti_mda5(last_hrct: Optional[dict], *, since: Optional[str]) -> Optional[dict]:
    """The HRCT read that answers the anti-MDA5 red flag, or None.

    ``last_hrct``: the patient's most recent confirming HRCT read on or before the visit (``{"date",
    "ild"}``); ``since``: the date anti-MDA5 was first on record (ISO; the record keeps no date of the
    antibody test, ``edge.screening.anti_mda5_first_on_record``). A read on or after that date answers
    the urgent HRCT the antibody asked for; an earlier one, or an unknown date, does not.

    Examples
    --------
    >>> hrct_since_anti_mda5({"date": "2026-02-01", "ild": "absent"}, since="2026-01-10")
    {'date': '2026-02-01', 'ild': 'absent'}
    >>> hrct_since_anti_mda5({"date": "2025-12-01", "ild": "absent"}, since="2026-01-10") is None
    True
    """
    if not last_hrct or not since or last_hrct["date"][:10] < since[:10]:
        return None
    return {"date": last_hrct["date"][:10], "ild": last_hrct["ild"]}


def red_flags(*, autoantibodies: tuple[str, ...], symptoms: tuple[str, ...],
              fvc_percent: Optional[float] = None, dlco_percent: Optional[float] = None,
              pft_abnormal_below: float = TriageThresholds().pft_abnormal_below,
              anti_mda5_hrct: Optional[dict] = None) -> list[dict]:
    """Findings that override the risk tier, each with the tier it forces, why, and its source.

    ``pft_abnormal_below``: FVC or DLCO below this percent of predicted is "abnormal" (the setting
    ``triage_pft_abnormal_below``; a programme assumption, not from the guideline).
    ``anti_mda5_hrct``: an HRCT read since anti-MDA5 was on record (:func:`hrct_since_anti_mda5`): it
    answers the antibody's flag, so anti-MDA5 alone raises none; with rapidly worsening breathlessness
    it still does.
    """
    flags = []
    rapid = "rapidly_worsening_dyspnoea" in symptoms
    if rapid and "anti-MDA5" in autoantibodies:
        flags.append(_flag("anti_mda5_rapid_dyspnoea"))
    elif rapid:
        flags.append(_flag("rapid_dyspnoea"))
    elif "anti-MDA5" in autoantibodies and anti_mda5_hrct is None:
        flags.append(_flag("anti_mda5"))
    if fvc_percent is not None and fvc_percent < pft_abnormal_below:
        flags.append(_flag("low_fvc", value=fvc_percent, cutoff=pft_abnormal_below))
    if dlco_percent is not None and dlco_percent < pft_abnormal_below:
        flags.append(_flag("low_dlco", value=dlco_percent, cutoff=pft_abnormal_below))
    return flags


def anti_mda5_hrct_sentence(answered: dict) -> str:
    """What the advice says of the HRCT that answered anti-MDA5 (:func:`hrct_since_anti_mda5`), on
    either pathway: the monitoring advice keeps it (``edge.screening.assess``), so the stored text and
    the referral sent with it say why the antibody no longer asks for an urgent HRCT.

    Examples
    --------
    >>> anti_mda5_hrct_sentence({"date": "2026-02-01", "ild": "present"}).split(":")[0]
    'anti-MDA5 on record; the HRCT on 2026-02-01, read since, showed ILD'
    """
    read = "showed no ILD" if answered["ild"] == "absent" else "showed ILD"
    return (f"anti-MDA5 on record; the HRCT on {answered['date']}, read since, {read}: no urgent HRCT for the "
            "antibody alone (urgent again if breathlessness worsens rapidly).")


def negative_hrct(last_hrct: Optional[dict], *, on: Optional[str], valid_months: int) -> Optional[dict]:
    """The negative HRCT that still answers screening on ``on`` (ISO date; default today), or None.

    ``last_hrct``: the patient's most recent confirming HRCT (``{"date", "ild"}``, ILD ``"present"`` or
    ``"absent"``). It counts when it read no ILD, was done on or before ``on``, and ``on`` falls before
    ``valid_months`` after it (the setting ``triage_hrct_negative_valid_months``). Returns
    ``{"date", "valid_until"}``.

    Examples
    --------
    >>> negative_hrct({"date": "2025-03-01", "ild": "absent"}, on="2026-03-01", valid_months=24)
    {'date': '2025-03-01', 'valid_until': '2027-03-01'}
    >>> negative_hrct({"date": "2023-03-01", "ild": "absent"}, on="2026-03-01", valid_months=24) is None
    True
    """
    if not last_hrct or last_hrct.get("ild") != "absent":
        return None
    day = dt.date.fromisoformat(on[:10]) if on else dt.date.today()
    read_on = dt.date.fromisoformat(last_hrct["date"][:10])
    until = add_months(read_on, valid_months)
    if not read_on <= day < until:
        return None
    return {"date": read_on.isoformat(), "valid_until": until.isoformat()}


def screening_advice(line: ScreeningLine, tier: str, *, flagged: bool, symptoms: list[str],
                     hrct_negative: bool, tests_raised: bool = True) -> str:
    """The advice code for a patient on the screening pathway (see the module docstring).

    ``flagged``: a red flag is on record (each forces at least "high"); ``symptoms``: recorded symptoms
    that may be ILD;
    ``hrct_negative``: a negative HRCT still answers screening (:func:`negative_hrct`);
    ``tests_raised``: the measured tests raised the risk above the clinical picture's.
    """
    if flagged:
        return "hrct_pfts"  # every red flag forces at least "high"
    if hrct_negative:
        if (tier == "high" and tests_raised) or symptoms:
            return "discuss"
        return "rescreen" if not line.screens and tier == "low" else "pfts"
    if line.screens or tier == "high":
        return "hrct_pfts"
    # Outside every guideline line, a symptom of ILD is reviewed now, never left to a re-screen.
    return "discuss" if tier == "intermediate" or symptoms else "rescreen"


def _symptom_names(symptoms: list[str]) -> str:
    return ", ".join(SYMPTOMS[code][0].lower() + SYMPTOMS[code][1:] for code in symptoms)


def triage(probability: float, *, thresholds: TriageThresholds, flags: list[dict], ctd_diagnosis: str,
           factors: set[str], last_hrct: Optional[dict] = None, on: Optional[str] = None,
           tests_raised: bool = True, findings: tuple[dict, ...] | list[dict] = (),
           anti_mda5_hrct: Optional[dict] = None) -> dict:
    """Tier (from the risk, raised never lowered by red flags), the guideline line, advice and priority.

    ``last_hrct``: the most recent confirming HRCT on record (``{"date", "ild"}``), read as of ``on``
    (the visit date, ISO; default today): a recent one without ILD answers the screening HRCT
    (:func:`negative_hrct`, :func:`screening_advice`). ``tests_raised``: whether the measured tests
    raised the risk (combined likelihood ratio above 1); only then does a high score after a negative
    HRCT ask for a discussion (unknown: True, the cautious reading). ``findings``: Table 2 factors read
    from measurements (:func:`recorded_findings`); they count as factors, and those that select the
    line are named with their value in the text and in ``guideline.risk_factor_findings``. Each of
    ``flags`` forces the tier the programme set for it (:func:`flag_in_force`), and is returned so.
    ``anti_mda5_hrct``: the HRCT read since anti-MDA5 was on record (:func:`hrct_since_anti_mda5`; the
    flags were made without the antibody's flag): named in the text, and when it read no ILD the next
    screen is due within ``thresholds.anti_mda5_rescreen_months``.
    """
    factors = set(factors) | {finding["code"] for finding in findings}
    flags = [flag_in_force(flag, thresholds) for flag in flags]
    if probability >= thresholds.high:
        tier = "high"
    elif probability >= thresholds.intermediate:
        tier = "intermediate"
    else:
        tier = "low"
    by_risk = tier
    for flag in flags:
        if TIER_ORDER.index(flag["tier"]) > TIER_ORDER.index(tier):
            tier = flag["tier"]
    line, matched = screening_line(ctd_diagnosis, factors)
    symptoms = sorted(factors & ILD_SYMPTOMS)
    negative = negative_hrct(last_hrct, on=on, valid_months=thresholds.hrct_negative_valid_months)
    advice = screening_advice(line, tier, flagged=bool(flags), symptoms=symptoms,
                              hrct_negative=negative is not None, tests_raised=tests_raised)
    priority = "urgent" if tier == "urgent" else "within_3_months" if tier == "high" else "routine"
    months = rescreen_months(advice, thresholds)
    if anti_mda5_hrct and anti_mda5_hrct["ild"] == "absent" and months is not None:
        months = min(months, thresholds.anti_mda5_rescreen_months)
    review = symptoms if advice == "discuss" else []
    sentences = [] if line is NO_LINE else [line.text]
    shown = [finding for finding in findings if finding["code"] in matched]
    if shown:
        sentences.append("Risk factor on record: " + "; ".join(finding["text"] for finding in shown) + ".")
    if negative:
        sentences.append(f"HRCT on {negative['date']} showed no ILD (it answers screening until "
                         f"{negative['valid_until']}).")
    if anti_mda5_hrct:
        sentences.append(anti_mda5_hrct_sentence(anti_mda5_hrct))
    if review:
        sentences.append(f"Symptoms that may be ILD on record ({_symptom_names(review)}): a clinician should review "
                         "them now.")
    text = ADVICE[advice]["text"].format(months=months, cutoff=thresholds.pft_abnormal_below)
    if advice == "hrct_pfts":
        text += f" ({PRIORITY_TEXT[priority]})"
    steps = [step.format(months=months) for step in ADVICE[advice]["next_steps"]]
    return {
        "tier": tier,
        "tier_from_risk": by_risk,
        "red_flags": flags,
        "recommendation": {
            "advice": advice,
            "priority": priority,
            "text": " ".join(sentences + [f"{text}."]),
            "next_steps": ([WORKUP_STEP] if line is UNDETERMINED_LINE else []) + steps,
            "rescreen_months": months,
            "negative_hrct": negative,
            "anti_mda5_hrct": anti_mda5_hrct,
            "review_symptoms": review,
            "guideline": {"code": line.code, "line": line.text, "source": line.source, "risk_factors": matched,
                          "risk_factor_findings": shown},
            "not_confirming": NOT_CONFIRMING,
        },
        "thresholds": thresholds.model_dump(),
    }
