"""Pre-test probability of ILD from the clinical picture: CTD type, autoantibodies, age, sex,
smoking and symptoms.

The base rate is the prevalence of ILD on HRCT in each CTD, with the range its source reports
(the prior's share of the result's interval). Each risk factor multiplies the odds by an odds
ratio whose *direction* comes from the sources below and whose *magnitude* is a programme
assumption (no per-value pooled estimate was encoded): each row of ``ODDS_RATIOS`` says so, and each
magnitude is a setting (``OddsRatios``, ``evidence_odds_ratios``), as are the bounds the prior is held
within (``PriorBounds``, ``evidence_prior_bounds``). A screening programme should revise them with its
own confirmed outcomes (docs/evidence.md).

Sources
-------
- 2023 ACR/CHEST guideline for ILD screening in systemic autoimmune rheumatic diseases
  (Johnson SR et al., Arthritis Rheumatol 2024;76:1182-1200): SSc, IIM and MCTD carry the
  highest risk; RA and SjD with risk factors.
- SSc, MCTD and SLE: pooled ILD prevalence on chest CT 47% (95% CI 44-50%), 56% (39-72%) and 6%
  (3-10%) (Joy GM et al., Eur Respir Rev 2023;32:220210, abstract, Results; the RA source below);
  anti-Scl-70 raises and anti-centromere lowers the risk (Walker UA et al., EUSTAR, Ann Rheum
  Dis 2007;66:754-763; Nihtyanova SI et al., Arthritis Rheumatol 2014;66:1625-1635).
- IIM: pooled ILD prevalence 0.41 (95% CI 0.35-0.48; 34 studies, 10,130 patients with PM/DM;
  Sun KY et al., Semin Arthritis Rheum 2021;51:175-191);
  antisynthetase and anti-MDA5 antibodies carry ILD in most patients (Hallowell RW et al.,
  Curr Opin Rheumatol 2019).
- RA: pooled ILD prevalence 11% (95% CI 7-15%; Joy GM et al., Eur Respir Rev 2023;32:220210,
  systematic review of ILD on chest CT in CTD, 237 studies). (The 7.7% of Bongartz T et al.,
  Arthritis Rheum 2010;62:1583-1591, is a lifetime risk of *clinical* ILD: not this prior.) Male
  sex, older age, smoking, high-titre RF and high-titre anti-CCP raise it (Kelly CA et al.,
  Rheumatology 2014;53:1676-1682; Kronzer VL et al., Arthritis Rheumatol 2021; Restrepo JF et
  al., Clin Rheumatol 2015); a merely positive anti-CCP is not the guideline's factor.
- SjD: pooled ILD prevalence 23% (95% CI 16-30%; 30 studies, 8,255 patients; "Interstitial Lung
  Disease and Pulmonary Damage in Primary Sjogren's Syndrome: a systematic review and
  meta-analysis", J Clin Med 2023;12(7):2586).
- Diagnosis not yet established (suspected CTD under rheumatology work-up, ``undetermined``): no
  pooled prevalence of ILD on HRCT was found, so its base rate is a programme assumption and a
  setting (``UndeterminedPrior``, docs/evidence.md section 1a): the median of the six pooled CTD
  prevalences of Joy 2023 (6, 11, 17, 41, 47, 56%), with their whole span as its range.
- Symptoms: exertional dyspnoea and dry cough are associated with ILD but insensitive;
  clubbing is specific (Hoffmann-Vold 2020; Cottin V et al., Eur Respir Rev 2018).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from edge.errors import ValidationError
from edge.vocabulary import UNDETERMINED_CTD as UNDETERMINED

# The defined CTDs; a diagnosis not yet established (UNDETERMINED) has no published base rate.
BASE_PREVALENCE = {"SSc": 0.47, "IIM": 0.41, "MCTD": 0.56, "SjD": 0.23, "RA": 0.11, "SLE": 0.06}
# The 95% CI of each base rate in its source (above); it feeds the prior's share of the interval.
BASE_PREVALENCE_RANGE = {"SSc": (0.44, 0.50), "IIM": (0.35, 0.48), "MCTD": (0.39, 0.72), "SjD": (0.16, 0.30),
                         "RA": (0.07, 0.15), "SLE": (0.03, 0.10)}


class UndeterminedPrior(BaseModel):
    """Programme assumption: the ILD base rate of a patient whose CTD is suspected but not yet
    diagnosed. No pooled HRCT prevalence exists for this group; the default is the median of the six
    pooled CTD prevalences of Joy 2023 (6, 11, 17, 41, 47, 56%: (17 + 41) / 2) and its range their
    whole span, so that a patient under work-up is neither screened as the lowest-risk disease nor
    given a narrow interval it has not earned."""

    model_config = ConfigDict(extra="forbid", title="Prior when the diagnosis is not yet established")

    base: float = Field(0.29, gt=0, lt=1, title="Base rate",
                        description="Programme assumption: median of the pooled CTD prevalences of ILD on CT "
                                    "(Joy GM et al. Eur Respir Rev 2023;32:220210).")
    low: float = Field(0.06, gt=0, lt=1, title="Range, low end",
                       description="Programme assumption: the lowest pooled CTD prevalence in Joy 2023 (SLE).")
    high: float = Field(0.56, gt=0, lt=1, title="Range, high end",
                        description="Programme assumption: the highest pooled CTD prevalence in Joy 2023 (MCTD).")

    @model_validator(mode="after")
    def ordered(self) -> "UndeterminedPrior":
        if not self.low < self.base < self.high:
            raise ValueError(f"need low < base < high, got {self.low}, {self.base}, {self.high}")
        return self


# Programme assumption (docs/evidence.md, section 1): the age factor counts decades over this age; the
# default of the setting evidence_prior_age_from (EvidenceOptions.prior_age_from).
PRIOR_AGE_FROM = 50
PROGRAMME = "programme assumption (direction from the sources above; magnitude not a per-value estimate)"
# Each factor: odds ratio, the CTD types it applies to (None: all), and where its size comes from.
# Which CTDs each factor applies to is a programme assumption, not a setting (it is the reading of the
# sources: each studied the factor in the diseases named): anti-Scl-70 and anti-centromere in SSc
# (anti-Scl-70 also in MCTD); the antisynthetase antibodies in IIM and the overlaps (MCTD, SjD) where
# the antisynthetase syndrome occurs; RF and anti-CCP in RA; the rest in every CTD. Anti-Scl-70 and the
# antisynthetase antibodies carry ILD risk before the disease is classified, so they count for a
# diagnosis not yet established too; disease-specific factors that lower the risk (anti-centromere) or
# belong to RA do not.
ODDS_RATIOS: dict[str, tuple[float, Optional[frozenset[str]], str]] = {
    "anti-Scl-70": (3.0, frozenset({"SSc", "MCTD", UNDETERMINED}), PROGRAMME + "; Walker 2007, Nihtyanova 2014"),
    "anti-centromere": (0.35, frozenset({"SSc"}), PROGRAMME + "; Walker 2007, Nihtyanova 2014"),
    "anti-Jo-1": (5.0, frozenset({"IIM", "MCTD", "SjD", UNDETERMINED}), PROGRAMME + "; Hallowell 2019"),
    "anti-PL-7": (5.0, frozenset({"IIM", "MCTD", "SjD", UNDETERMINED}), PROGRAMME + "; Hallowell 2019"),
    "anti-PL-12": (5.0, frozenset({"IIM", "MCTD", "SjD", UNDETERMINED}), PROGRAMME + "; Hallowell 2019"),
    "anti-EJ": (5.0, frozenset({"IIM", UNDETERMINED}), PROGRAMME + "; Hallowell 2019"),
    "anti-OJ": (5.0, frozenset({"IIM", UNDETERMINED}), PROGRAMME + "; Hallowell 2019"),
    "anti-MDA5": (5.0, None, PROGRAMME + "; Hallowell 2019"),
    "anti-Ro52": (1.8, None, PROGRAMME + "; ACR/CHEST 2023 Table 2 lists it for IIM and SjD"),
    "RF-high-titre": (2.0, frozenset({"RA"}), PROGRAMME + "; Kelly 2014, Restrepo 2015"),
    "anti-CCP-high-titre": (1.8, frozenset({"RA"}), PROGRAMME + "; Kelly 2014, Kronzer 2021 (high titre only)"),
    "male": (1.6, None, PROGRAMME + "; Kelly 2014 (RA), ACR/CHEST 2023 Table 2"),
    "ever_smoker": (1.6, None, PROGRAMME + "; Kelly 2014, Kronzer 2021 (RA)"),
    "age_per_decade_over_50": (1.3, None, PROGRAMME + "; Kelly 2014 (RA)"),
    "exertional_dyspnoea": (2.2, None, PROGRAMME + "; Hoffmann-Vold 2020, Cottin 2018"),
    # No source measured it: its direction is the programme's, reasoned from exertional dyspnoea's.
    "rapidly_worsening_dyspnoea": (3.0, None, PROGRAMME + "; no direction source (a programme choice, reasoned "
                                   "from exertional dyspnoea's: Hoffmann-Vold 2020, Cottin 2018)"),
    "dry_cough": (1.6, None, PROGRAMME + "; Hoffmann-Vold 2020, Cottin 2018"),
    "finger_clubbing": (3.0, None, PROGRAMME + "; Cottin 2018"),
    "mechanics_hands": (2.0, None, PROGRAMME + "; ACR/CHEST 2023 Table 2 (IIM)"),
}
# The setting that changes the magnitudes (edge.config), named in each factor's source.
ODDS_RATIO_SETTING = "evidence_odds_ratios"


class _FactorTable(BaseModel):
    """Base of :class:`OddsRatios`: immutable, and a factor it does not know is refused by name."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Odds ratio of each risk factor")

    @model_validator(mode="before")
    @classmethod
    def known_factors(cls, values):
        if isinstance(values, dict):
            unknown = sorted(set(values) - set(cls.model_fields))
            if unknown:
                raise ValueError(f"unknown risk factor {unknown[0]!r}; expected one of {sorted(cls.model_fields)}")
        return values


def _odds_ratio_description(name: str, source: str) -> str:
    per = (" per decade of age over the age the setting evidence_prior_age_from sets (default 50)"
           if name == "age_per_decade_over_50" else "")
    direction = source[len(PROGRAMME):].lstrip("; ")
    return (f"Programme assumption: the odds ratio{per} (> 0); direction from "
            + (direction or "no source (a programme choice)") + " (edge/fusion/clinical_prior.py).")


# One field per row of ODDS_RATIOS, keyed by the factor's name: its default is the row's magnitude and
# its description the row's source, so the table stays the one declaration of both.
OddsRatios = create_model(
    "OddsRatios", __base__=_FactorTable,
    __doc__="Programme assumption: the odds ratio of each risk factor of the clinical prior (direction "
            "from the sources of ``ODDS_RATIOS``, magnitude a programme choice; docs/evidence.md section 1).",
    **{name: (float, Field(ratio, gt=0, title=f"Odds ratio: {name}",
                           description=_odds_ratio_description(name, source)))
       for name, (ratio, _applies_to, source) in ODDS_RATIOS.items()})


class PriorBounds(BaseModel):
    """Programme assumption (docs/evidence.md section 9): however many factors multiply, the prior
    stays within these bounds, so that no clinical picture alone makes ILD all but certain or excluded."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Bounds of the clinical prior")

    low: float = Field(0.01, gt=0, lt=1, title="Lowest prior",
                       description="Programme assumption: no clinical picture alone puts ILD below this.")
    high: float = Field(0.95, gt=0, lt=1, title="Highest prior",
                        description="Programme assumption: no clinical picture alone puts ILD above this.")

    @model_validator(mode="after")
    def ordered(self) -> "PriorBounds":
        if not self.low < self.high:
            raise ValueError(f"need low < high, got {self.low}, {self.high}")
        return self


@dataclass(frozen=True)
class ClinicalPicture:
    """What the nurse records about the patient; the inputs of the clinical prior."""

    ctd_diagnosis: str
    age: float
    sex: str
    smoking: str = "never"
    autoantibodies: tuple[str, ...] = ()
    symptoms: tuple[str, ...] = ()
    ages: Optional[tuple[int, int]] = None  # both possible ages when only the birth year is known


@dataclass(frozen=True)
class ClinicalPrior:
    probability: float
    base_prevalence: float
    base_prevalence_range: tuple[float, float]
    factors: dict[str, float] = field(default_factory=dict)  # factor -> odds ratio applied
    # factor -> where its odds ratio comes from: the direction's source and the magnitude in force.
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def log_odds(self) -> float:
        return math.log(self.probability / (1 - self.probability))

    @property
    def log_odds_range(self) -> tuple[float, float]:
        """The prior's log-odds with the base rate at each end of its range (read as a 95% range)."""
        low, high = self.base_prevalence_range
        shift = math.log(self.base_prevalence / (1 - self.base_prevalence))
        return (self.log_odds + math.log(low / (1 - low)) - shift, self.log_odds + math.log(high / (1 - high)) - shift)


def odds_ratio_source(name: str, ratio: float, *, age_from: int = PRIOR_AGE_FROM) -> str:
    """Where factor ``name``'s odds ratio comes from: its row's source (the direction) and the magnitude
    in force, ``ratio``, with the setting that changes it and the programme's default. The age factor's
    counts decades over ``age_from`` (the setting ``evidence_prior_age_from``)."""
    default, _applies_to, source = ODDS_RATIOS[name]
    per = f" per decade over {age_from}" if name == "age_per_decade_over_50" else ""
    return f"{source}; OR {ratio:g}{per} (setting {ODDS_RATIO_SETTING}, default {default:g})"


def clinical_prior(picture: ClinicalPicture, *, undetermined: Optional[UndeterminedPrior] = None,
                   odds_ratios: Optional[OddsRatios] = None, bounds: Optional[PriorBounds] = None,
                   age_from: Optional[int] = None) -> ClinicalPrior:
    """Pre-test probability of ILD and the odds ratio each present factor contributed.

    A diagnosis not yet established (``UNDETERMINED``) takes its base rate and range from
    ``undetermined`` (default: :class:`UndeterminedPrior`'s programme assumption). Each factor's odds
    ratio is ``odds_ratios``' (default: :class:`OddsRatios`, the magnitudes of ``ODDS_RATIOS``) and the
    probability is held within ``bounds`` (default: :class:`PriorBounds`). The age factor counts the
    decades over ``age_from`` (default: the setting ``evidence_prior_age_from``'s, 50).

    Examples
    --------
    >>> round(clinical_prior(ClinicalPicture("SSc", age=50, sex="F")).probability, 3)
    0.47
    >>> round(clinical_prior(ClinicalPicture("SSc", 50, "F", autoantibodies=("anti-Scl-70",))).probability, 3)
    0.727
    >>> round(clinical_prior(ClinicalPicture("undetermined", 50, "F")).probability, 3)
    0.29
    """
    if picture.ctd_diagnosis not in BASE_PREVALENCE and picture.ctd_diagnosis != UNDETERMINED:
        raise ValidationError(f"unknown CTD diagnosis {picture.ctd_diagnosis!r}; "
                              f"expected one of {sorted(BASE_PREVALENCE) + [UNDETERMINED]}",
                              fields=[{"field": "ctd_diagnosis", "reason": "unknown CTD diagnosis"}])
    if not 16 <= picture.age <= 120:
        raise ValidationError(f"age must be between 16 and 120, got {picture.age}",
                              fields=[{"field": "age", "reason": "between 16 and 120"}])
    odds_ratios = odds_ratios or OddsRatios()
    bounds = bounds or PriorBounds()
    if age_from is None:
        age_from = PRIOR_AGE_FROM
    present = list(picture.autoantibodies) + list(picture.symptoms)
    if picture.sex == "M":
        present.append("male")
    if picture.smoking in ("former", "current"):
        present.append("ever_smoker")
    factors, sources = {}, {}
    for name in present:
        if name not in ODDS_RATIOS:
            continue
        _default, applies_to, _source = ODDS_RATIOS[name]
        if applies_to is None or picture.ctd_diagnosis in applies_to:
            factors[name] = getattr(odds_ratios, name)
            sources[name] = odds_ratio_source(name, factors[name])
    # The factor keeps its name ("over_50": a key of the odds-ratio setting) when the age it counts from moves.
    decades = max(0.0, (picture.age - age_from) / 10)
    if decades:
        per_decade = getattr(odds_ratios, "age_per_decade_over_50")
        factors["age_per_decade_over_50"] = per_decade ** decades
        sources["age_per_decade_over_50"] = odds_ratio_source("age_per_decade_over_50", per_decade,
                                                              age_from=age_from)
    if picture.ctd_diagnosis == UNDETERMINED:
        undetermined = undetermined or UndeterminedPrior()
        base, base_range = undetermined.base, (undetermined.low, undetermined.high)
    else:
        base, base_range = BASE_PREVALENCE[picture.ctd_diagnosis], BASE_PREVALENCE_RANGE[picture.ctd_diagnosis]
    log_odds = math.log(base / (1 - base)) + sum(math.log(r) for r in factors.values())
    probability = 1 / (1 + math.exp(-log_odds))
    probability = min(max(probability, bounds.low), bounds.high)
    return ClinicalPrior(probability=probability, base_prevalence=base, base_prevalence_range=base_range,
                         factors=factors, sources=sources)
