"""Pre-test probability of ILD from the clinical picture: CTD type, autoantibodies, age, sex,
smoking and symptoms.

The base rate is the prevalence of ILD on HRCT in each CTD; each risk factor multiplies the
odds by a published odds ratio. These are approximate pooled values chosen from the sources
below, rounded, and meant as a starting point for a screening programme to revise with its
own data (they are data, not code: ``BASE_PREVALENCE`` and ``ODDS_RATIOS``).

Sources
-------
- 2023 ACR/CHEST guideline for ILD screening in systemic autoimmune rheumatic diseases
  (Johnson SR et al., Arthritis Rheumatol 2024;76:1182-1200): SSc, IIM and MCTD carry the
  highest risk; RA and SjD with risk factors.
- SSc: ILD on HRCT in ~35-52% (Hoffmann-Vold AM et al., Lancet Rheumatol 2020;2:e71-83);
  anti-Scl-70 raises and anti-centromere lowers the risk (Walker UA et al., EUSTAR, Ann Rheum
  Dis 2007;66:754-763; Nihtyanova SI et al., Arthritis Rheumatol 2014;66:1625-1635).
- IIM: pooled ILD prevalence 41% (Sun KY et al., Semin Arthritis Rheum 2021;51:175-191);
  antisynthetase and anti-MDA5 antibodies carry ILD in most patients (Hallowell RW et al.,
  Curr Opin Rheumatol 2019).
- RA: clinically evident ILD ~5-10%, lifetime risk 7.7% (Bongartz T et al., Arthritis Rheum
  2010;62:1583-1591); male sex, older age, smoking, high-titre RF and anti-CCP raise it
  (Kelly CA et al., Rheumatology 2014;53:1676-1682; Kronzer VL et al., Arthritis Rheumatol
  2021; Restrepo JF et al., Clin Rheumatol 2015).
- SjD: ILD ~13-20% (He C et al., Clin Rheumatol 2020;39:2687-2695 (meta-analysis)).
- SLE: ILD ~3-8% (Hannah JR et al., Lupus Sci Med 2019).
- MCTD: ILD ~40% (Gunnarsson R et al., Ann Rheum Dis 2012;71:1966-1972).
- Symptoms: exertional dyspnoea and dry cough are associated with ILD but insensitive;
  clubbing is specific (Hoffmann-Vold 2020; Cottin V et al., Eur Respir Rev 2018).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from edge.errors import ValidationError

BASE_PREVALENCE = {"SSc": 0.40, "IIM": 0.41, "MCTD": 0.40, "SjD": 0.15, "RA": 0.10, "SLE": 0.06}

# Each factor: odds ratio, and the CTD types it applies to (None: all).
ODDS_RATIOS: dict[str, tuple[float, Optional[frozenset[str]]]] = {
    "anti-Scl-70": (3.0, frozenset({"SSc", "MCTD"})),
    "anti-centromere": (0.35, frozenset({"SSc"})),
    "anti-Jo-1": (5.0, frozenset({"IIM", "MCTD", "SjD"})),
    "anti-PL-7": (5.0, frozenset({"IIM", "MCTD", "SjD"})),
    "anti-PL-12": (5.0, frozenset({"IIM", "MCTD", "SjD"})),
    "anti-EJ": (5.0, frozenset({"IIM"})),
    "anti-OJ": (5.0, frozenset({"IIM"})),
    "anti-MDA5": (5.0, None),
    "anti-Ro52": (1.8, None),
    "RF-high-titre": (2.0, frozenset({"RA"})),
    "anti-CCP": (1.8, frozenset({"RA"})),
    "male": (1.6, None),
    "ever_smoker": (1.6, None),
    "age_per_decade_over_50": (1.3, None),
    "exertional_dyspnoea": (2.2, None),
    "rapidly_worsening_dyspnoea": (3.0, None),
    "dry_cough": (1.6, None),
    "finger_clubbing": (3.0, None),
    "mechanics_hands": (2.0, None),
}
PRIOR_BOUNDS = (0.01, 0.95)


@dataclass(frozen=True)
class ClinicalPicture:
    """What the nurse records about the patient; the inputs of the clinical prior."""

    ctd_diagnosis: str
    age: float
    sex: str
    smoking: str = "never"
    autoantibodies: tuple[str, ...] = ()
    symptoms: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClinicalPrior:
    probability: float
    base_prevalence: float
    factors: dict[str, float] = field(default_factory=dict)  # factor -> odds ratio applied

    @property
    def log_odds(self) -> float:
        return math.log(self.probability / (1 - self.probability))


def clinical_prior(picture: ClinicalPicture) -> ClinicalPrior:
    """Pre-test probability of ILD and the odds ratio each present factor contributed.

    Examples
    --------
    >>> clinical_prior(ClinicalPicture("SSc", age=50, sex="F")).probability
    0.4
    >>> round(clinical_prior(ClinicalPicture("SSc", 50, "F", autoantibodies=("anti-Scl-70",))).probability, 3)
    0.667
    """
    if picture.ctd_diagnosis not in BASE_PREVALENCE:
        raise ValidationError(f"unknown CTD diagnosis {picture.ctd_diagnosis!r}; expected one of {sorted(BASE_PREVALENCE)}",
                              fields=[{"field": "ctd_diagnosis", "reason": "unknown CTD diagnosis"}])
    if not 16 <= picture.age <= 120:
        raise ValidationError(f"age must be between 16 and 120, got {picture.age}",
                              fields=[{"field": "age", "reason": "between 16 and 120"}])
    present = list(picture.autoantibodies) + list(picture.symptoms)
    if picture.sex == "M":
        present.append("male")
    if picture.smoking in ("former", "current"):
        present.append("ever_smoker")
    factors = {}
    for name in present:
        if name not in ODDS_RATIOS:
            continue
        ratio, applies_to = ODDS_RATIOS[name]
        if applies_to is None or picture.ctd_diagnosis in applies_to:
            factors[name] = ratio
    decades = max(0.0, (picture.age - 50) / 10)
    if decades:
        factors["age_per_decade_over_50"] = ODDS_RATIOS["age_per_decade_over_50"][0] ** decades
    base = BASE_PREVALENCE[picture.ctd_diagnosis]
    log_odds = math.log(base / (1 - base)) + sum(math.log(r) for r in factors.values())
    probability = 1 / (1 + math.exp(-log_odds))
    probability = min(max(probability, PRIOR_BOUNDS[0]), PRIOR_BOUNDS[1])
    return ClinicalPrior(probability=probability, base_prevalence=base, factors=factors)
