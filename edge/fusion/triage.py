"""From the fused risk to the next step for the nurse, following the 2023 ACR/CHEST guideline
for ILD screening in systemic autoimmune rheumatic diseases (Johnson SR et al., Arthritis
Rheumatol 2024;76:1182-1200): the screening tests are PFTs (spirometry, lung volumes, DLCO)
and HRCT; chest radiography, the 6-minute walk test and pulse oximetry are conditionally
recommended *against* as screening tests, so they are never offered as the confirming test.
"""
from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

PFTS = "PFTs (spirometry, lung volumes, DLCO)"
NOT_CONFIRMING = "A chest X-ray, 6-minute walk test or pulse oximetry cannot rule out ILD: use HRCT and PFTs."


class TriageThresholds(BaseModel):
    """Programme-specific tier boundaries on the fused ILD probability."""

    model_config = ConfigDict(extra="forbid", title="Triage thresholds")

    intermediate: float = Field(0.10, gt=0, lt=1, title="Intermediate from",
                                description="Fused probability at which PFTs are advised.")
    high: float = Field(0.30, gt=0, lt=1, title="High from",
                        description="Fused probability at which HRCT plus PFTs are advised.")

    @model_validator(mode="after")
    def ordered(self) -> "TriageThresholds":
        if not self.intermediate < self.high:
            raise ValueError(f"intermediate ({self.intermediate}) must be below high ({self.high})")
        return self


RECOMMENDATIONS = {
    "low": {
        "text": "Low ILD risk. Re-screen in 12 months, sooner if breathlessness or cough appear.",
        "next_steps": ["Re-screen in 12 months"],
        "rescreen_months": 12,
        "urgency": "routine",
    },
    "intermediate": {
        "text": f"Intermediate ILD risk. Arrange {PFTS} within 3 months; re-screen in 6 months.",
        "next_steps": [f"{PFTS} within 3 months", "Re-screen in 6 months"],
        "rescreen_months": 6,
        "urgency": "within 3 months",
    },
    "high": {
        "text": f"High ILD risk. Refer for HRCT plus {PFTS}.",
        "next_steps": ["Refer for HRCT", f"{PFTS}"],
        "rescreen_months": None,
        "urgency": "referral",
    },
    "urgent": {
        "text": f"Urgent: refer for HRCT and {PFTS} this week and tell the rheumatologist today.",
        "next_steps": ["Refer for HRCT this week", f"{PFTS} this week", "Inform the rheumatologist today"],
        "rescreen_months": None,
        "urgency": "this week",
    },
}
TIER_ORDER = ("low", "intermediate", "high", "urgent")


def red_flags(*, autoantibodies: tuple[str, ...], symptoms: tuple[str, ...],
              fvc_percent: Optional[float] = None, dlco_percent: Optional[float] = None) -> list[dict]:
    """Findings that override the risk tier, each with the tier it forces and why."""
    flags = []
    rapid = "rapidly_worsening_dyspnoea" in symptoms
    if rapid and "anti-MDA5" in autoantibodies:
        flags.append({"code": "anti_mda5_rapid_dyspnoea", "tier": "urgent",
                      "reason": "anti-MDA5 with rapidly worsening breathlessness: risk of rapidly progressive ILD"})
    elif rapid:
        flags.append({"code": "rapid_dyspnoea", "tier": "urgent",
                      "reason": "breathlessness worsening over days to weeks"})
    if fvc_percent is not None and fvc_percent < 80:
        flags.append({"code": "low_fvc", "tier": "high", "reason": f"FVC {fvc_percent:g}% predicted (< 80%)"})
    if dlco_percent is not None and dlco_percent < 80:
        flags.append({"code": "low_dlco", "tier": "high", "reason": f"DLCO {dlco_percent:g}% predicted (< 80%)"})
    return flags


def triage(probability: float, *, thresholds: TriageThresholds, flags: list[dict]) -> dict:
    """Tier and recommendation for a fused probability, raised (never lowered) by red flags."""
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
    return {
        "tier": tier,
        "tier_from_risk": by_risk,
        "red_flags": flags,
        "recommendation": {**RECOMMENDATIONS[tier], "not_confirming": NOT_CONFIRMING},
        "thresholds": thresholds.model_dump(),
    }
