"""Nodule management guidelines as data: Lung-RADS v2022 (screening) and Fleischner 2017 (incidental).

Each table row cites the row of the published table it encodes. The engines take one nodule's
type, mean diameter, solid component and status (baseline / new / growing / stable) and return
the category or recommendation with the row that matched, so that a report can say why.

Sources
-------
- ACR Lung-RADS v2022 assessment categories (released November 2022); summarised with its
  rationale in Christensen J et al., ACR Lung-RADS v2022: Assessment Categories and Management
  Recommendations. CHEST 2024;165:738-753. Mean diameter = mean of long and short axis, to one
  decimal place; growth = an increase of mean diameter > 1.5 mm within 12 months.
- MacMahon H et al., Guidelines for Management of Incidental Pulmonary Nodules Detected on CT
  Images: From the Fleischner Society 2017. Radiology 2017;284:228-243 (Table 1). Diameters are
  the average of long and short axis rounded to the nearest millimetre (Bankier AA et al.,
  Radiology 2017;285:584-600). The guideline does not apply to lung cancer screening, patients
  younger than 35, or patients with known primary cancer or immunosuppression -- which many
  patients with connective-tissue disease on immunosuppressants are; the report says so.

How ambiguities were resolved (documented in ``imaging_server/README.md``):

- Lung-RADS rows are tried in order and the first match wins. Override rules come first
  (benign calcification, stepped management, juxtapleural nodules), then the size rows from the
  most to the least suspicious, so where two rows overlap the more suspicious category wins.
- The 4A and 4B rows for a *new* solid component apply from 6 mm total diameter (the 4A row
  opens with ">= 6 mm"): a new part-solid nodule < 6 mm total is category 3 ("new < 6 mm total
  diameter") whatever its solid component; the *growing* rows apply at any total size.
- A growing ground-glass nodule < 30 mm stays category 2 (the v2022 table lists "new or
  growing" non-solid nodules < 30 mm under category 2); one >= 30 mm that is growing
  is category 3, since category 2 covers only "unchanged or slowly growing" ones of that size.
- A stable nodule without a known prior category is classified by its size as at baseline.
- Fleischner counts nodules as multiple within the solid or the subsolid group.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

NODULE_TYPES = ("solid", "part_solid", "ground_glass")
STATUSES = ("baseline", "new", "growing", "stable")
LUNG_RADS_CATEGORIES = ("0", "1", "2", "3", "4A", "4B", "4X")
# Growth in Lung-RADS v2022: mean diameter increase > 1.5 mm within a 12-month interval.
GROWTH_MM = 1.5
LUNG_RADS_SOURCE = "ACR Lung-RADS v2022; Christensen J et al. CHEST 2024;165:738-753"
FLEISCHNER_SOURCE = "MacMahon H et al. Radiology 2017;284:228-243, Table 1 (Fleischner Society 2017)"
INF = math.inf


class GuidelineInputError(ValueError):
    """A nodule description the guideline engines cannot classify (names the offending value)."""


@dataclass(frozen=True)
class NoduleDescription:
    """What the guidelines need to know about one nodule.

    ``solid_component_mm`` is the mean diameter of the solid part (part-solid nodules only);
    ``status`` is ``baseline`` (first exam), ``new``, ``growing`` (> 1.5 mm) or ``stable``
    against the prior exam; ``prior_category`` is its Lung-RADS category on that exam (stepped
    management). The flags are a radiologist's judgement the classical detector does not make.
    """

    type: str
    mean_diameter_mm: float
    solid_component_mm: float = 0.0
    status: str = "baseline"
    prior_category: Optional[str] = None
    juxtapleural_benign: bool = False
    benign_calcification: bool = False
    suspicious_features: bool = False

    def __post_init__(self):
        if self.type not in NODULE_TYPES:
            raise GuidelineInputError(f"nodule type must be one of {', '.join(NODULE_TYPES)}, got {self.type!r}")
        if self.status not in STATUSES:
            raise GuidelineInputError(f"nodule status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not (isinstance(self.mean_diameter_mm, (int, float)) and 0 < self.mean_diameter_mm < 300):
            raise GuidelineInputError(f"mean diameter must be within 0-300 mm, got {self.mean_diameter_mm!r}")
        if not (isinstance(self.solid_component_mm, (int, float))
                and 0 <= self.solid_component_mm <= self.mean_diameter_mm):
            raise GuidelineInputError(
                f"solid component must be within 0 and the mean diameter, got {self.solid_component_mm!r}")
        if self.prior_category is not None and self.prior_category not in LUNG_RADS_CATEGORIES:
            raise GuidelineInputError(f"prior Lung-RADS category must be one of {', '.join(LUNG_RADS_CATEGORIES)}, "
                                      f"got {self.prior_category!r}")


@dataclass(frozen=True)
class LungRadsRow:
    """One line of the Lung-RADS v2022 table: conditions, category and the cited table text."""

    category: str
    types: tuple[str, ...]
    statuses: tuple[str, ...]
    diameter_mm: tuple[float, float] = (0.0, INF)     # [low, high) of the mean diameter
    solid_mm: tuple[float, float] = (0.0, INF)        # [low, high) of the solid component
    flag: Optional[str] = None                        # a NoduleDescription flag that must be set
    prior_category: Optional[str] = None              # stepped management: category on the prior exam
    cites: str = ""


ALL_TYPES, ANY_STATUS = NODULE_TYPES, STATUSES
SOLID, PART, GGN = ("solid",), ("part_solid",), ("ground_glass",)
# First match wins (see the module docstring).
LUNG_RADS_ROWS: tuple[LungRadsRow, ...] = (
    LungRadsRow("1", ALL_TYPES, ANY_STATUS, flag="benign_calcification",
                cites="Category 1: nodules with specific calcifications (complete, central, popcorn, concentric rings) "
                      "and fat-containing nodules"),
    LungRadsRow("2", ALL_TYPES, ("stable",), prior_category="3",
                cites="Category 2 (stepped management): category 3 lesion stable or decreased in size at 6-month "
                      "follow-up CT"),
    LungRadsRow("3", ALL_TYPES, ("stable",), prior_category="4A",
                cites="Category 3 (stepped management): category 4A lesion stable or decreased in size at 3-month "
                      "follow-up CT"),
    LungRadsRow("2", SOLID, ("baseline", "new", "stable"), diameter_mm=(0, 10), flag="juxtapleural_benign",
                cites="Category 2: juxtapleural nodule(s) < 10 mm mean diameter at baseline or new, solid, smooth "
                      "margins, oval, lentiform or triangular"),
    LungRadsRow("4B", SOLID, ("baseline", "stable"), diameter_mm=(15, INF),
                cites="Category 4B: solid nodule(s) >= 15 mm at baseline"),
    LungRadsRow("4B", SOLID, ("new", "growing"), diameter_mm=(8, INF),
                cites="Category 4B: solid nodule(s) new or growing, and >= 8 mm"),
    LungRadsRow("4B", PART, ("baseline", "stable"), solid_mm=(8, INF),
                cites="Category 4B: part-solid nodule(s) with solid component >= 8 mm at baseline"),
    LungRadsRow("4B", PART, ("new",), diameter_mm=(6, INF), solid_mm=(4, INF),
                cites="Category 4B: part-solid nodule(s) with new >= 4 mm solid component (>= 6 mm total; a new "
                      "one < 6 mm total is category 3)"),
    LungRadsRow("4B", PART, ("growing",), solid_mm=(4, INF),
                cites="Category 4B: part-solid nodule(s) with growing >= 4 mm solid component"),
    LungRadsRow("4A", SOLID, ("baseline", "stable"), diameter_mm=(8, 15),
                cites="Category 4A: solid nodule(s) >= 8 to < 15 mm at baseline"),
    LungRadsRow("4A", SOLID, ("growing",), diameter_mm=(0, 8),
                cites="Category 4A: solid nodule(s) growing < 8 mm"),
    LungRadsRow("4A", SOLID, ("new",), diameter_mm=(6, 8),
                cites="Category 4A: solid nodule(s) new 6 to < 8 mm"),
    LungRadsRow("4A", PART, ("baseline", "stable"), diameter_mm=(6, INF), solid_mm=(6, 8),
                cites="Category 4A: part-solid nodule(s) >= 6 mm with solid component >= 6 mm to < 8 mm at baseline"),
    LungRadsRow("4A", PART, ("new",), diameter_mm=(6, INF), solid_mm=(0, 4),
                cites="Category 4A: part-solid nodule(s) >= 6 mm with a new < 4 mm solid component"),
    LungRadsRow("4A", PART, ("growing",), solid_mm=(0, 4),
                cites="Category 4A: part-solid nodule(s) with a growing < 4 mm solid component"),
    LungRadsRow("3", SOLID, ("baseline", "stable"), diameter_mm=(6, 8),
                cites="Category 3: solid nodule(s) >= 6 to < 8 mm at baseline"),
    LungRadsRow("3", SOLID, ("new",), diameter_mm=(4, 6),
                cites="Category 3: solid nodule(s) new 4 mm to < 6 mm"),
    LungRadsRow("3", PART, ("baseline", "stable"), diameter_mm=(6, INF), solid_mm=(0, 6),
                cites="Category 3: part-solid nodule(s) >= 6 mm total diameter with solid component < 6 mm at baseline"),
    LungRadsRow("3", PART, ("new",), diameter_mm=(0, 6),
                cites="Category 3: part-solid nodule(s) new < 6 mm total diameter"),
    LungRadsRow("3", GGN, ("baseline", "new"), diameter_mm=(30, INF),
                cites="Category 3: non-solid nodule(s) (GGN) >= 30 mm on baseline CT or new"),
    LungRadsRow("3", GGN, ("growing",), diameter_mm=(30, INF),
                cites="Category 3: non-solid nodule(s) (GGN) >= 30 mm and growing, which category 2 (unchanged "
                      "or slowly growing) does not cover; resolved to category 3 by this programme"),
    LungRadsRow("2", SOLID, ("baseline", "stable"), diameter_mm=(0, 6),
                cites="Category 2: solid nodule(s) < 6 mm at baseline"),
    LungRadsRow("2", SOLID, ("new",), diameter_mm=(0, 4),
                cites="Category 2: solid nodule(s) new < 4 mm"),
    LungRadsRow("2", PART, ("baseline", "stable"), diameter_mm=(0, 6),
                cites="Category 2: part-solid nodule(s) < 6 mm total diameter at baseline"),
    LungRadsRow("2", GGN, ANY_STATUS, diameter_mm=(0, 30),
                cites="Category 2: non-solid nodule(s) (GGN) < 30 mm (baseline, new or growing)"),
    LungRadsRow("2", GGN, ("stable",), diameter_mm=(30, INF),
                cites="Category 2: non-solid nodule(s) (GGN) >= 30 mm and unchanged or slowly growing"),
)

# Category -> management (Lung-RADS v2022 "Management" column).
LUNG_RADS_MANAGEMENT = {
    "0": "Additional lung cancer screening CT images and/or comparison to prior chest CT; 1-3 month LDCT for "
         "findings suggesting an infectious or inflammatory process",
    "1": "Continue annual screening with LDCT in 12 months",
    "2": "Continue annual screening with LDCT in 12 months",
    "3": "6-month LDCT",
    "4A": "3-month LDCT; PET/CT may be considered if there is a >= 8 mm solid nodule or solid component",
    "4B": "Diagnostic chest CT with or without contrast; PET/CT may be considered if there is a >= 8 mm solid "
          "nodule or solid component; tissue sampling; and/or referral for further clinical evaluation",
    "4X": "As category 4B: diagnostic chest CT, PET/CT, tissue sampling and/or referral for further clinical "
          "evaluation",
}
# Category -> probability of malignancy (Lung-RADS v2022 table, "Probability of Malignancy" column;
# category 0 has none).
LUNG_RADS_MALIGNANCY_PROBABILITY = {"0": None, "1": "< 1%", "2": "< 1%", "3": "1-2%", "4A": "5-15%", "4B": "> 15%",
                                    "4X": "> 15%"}
SUSPICIOUS_4X = ("Category 4X: category 3 or 4 nodules with additional features or imaging findings that increase "
                 "the suspicion of lung cancer")


def lung_rads_category(nodule: NoduleDescription) -> dict:
    """The Lung-RADS v2022 category of one nodule with its management and the matching row.

    Examples
    --------
    >>> lung_rads_category(NoduleDescription("solid", 7.0))["category"]
    '3'
    >>> lung_rads_category(NoduleDescription("ground_glass", 12.0, status="growing"))["category"]
    '2'
    """
    diameter, solid = round(nodule.mean_diameter_mm, 1), round(nodule.solid_component_mm, 1)
    for row in LUNG_RADS_ROWS:
        if (nodule.type in row.types and nodule.status in row.statuses
                and row.diameter_mm[0] <= diameter < row.diameter_mm[1] and row.solid_mm[0] <= solid < row.solid_mm[1]
                and (row.flag is None or getattr(nodule, row.flag))
                and (row.prior_category is None or row.prior_category == nodule.prior_category)):
            category, rule = row.category, row.cites
            break
    else:  # pragma: no cover - the rows cover every valid description; a test walks them
        raise GuidelineInputError(f"no Lung-RADS v2022 row matches {nodule}")
    if nodule.suspicious_features and category in ("3", "4A", "4B"):
        category, rule = "4X", f"{SUSPICIOUS_4X} (from: {rule})"
    return {"category": category, "malignancy_probability": LUNG_RADS_MALIGNANCY_PROBABILITY[category],
            "management": LUNG_RADS_MANAGEMENT[category], "rule": rule, "source": LUNG_RADS_SOURCE}


def exam_lung_rads(categories: list[str]) -> str:
    """The exam's category: that of the most suspicious nodule, 1 when there is none."""
    return max(categories, key=LUNG_RADS_CATEGORIES.index) if categories else "1"


def nodule_status(mean_diameter_mm: float, prior_mean_diameter_mm: Optional[float], *, has_prior_exam: bool) -> str:
    """``baseline`` without a prior exam, ``new`` when absent from it, ``growing`` when the mean
    diameter rose by more than 1.5 mm (Lung-RADS v2022 growth), else ``stable``."""
    if not has_prior_exam:
        return "baseline"
    if prior_mean_diameter_mm is None:
        return "new"
    return "growing" if round(mean_diameter_mm - prior_mean_diameter_mm, 1) > GROWTH_MM else "stable"


@dataclass(frozen=True)
class FleischnerRow:
    """One cell of Fleischner 2017 Table 1: group, multiplicity, rounded size range, advice per risk."""

    group: str                     # "solid" or "subsolid"
    types: tuple[str, ...]
    multiple: bool
    diameter_mm: tuple[int, float]  # inclusive range of the diameter rounded to whole millimetres
    low_risk: str
    high_risk: str
    cites: str
    solid_mm: tuple[int, float] = (0, INF)


NO_FOLLOW_UP = "No routine follow-up"
FLEISCHNER_ROWS: tuple[FleischnerRow, ...] = (
    FleischnerRow("solid", SOLID, False, (0, 5), NO_FOLLOW_UP, "Optional CT at 12 months",
                  "Solid, single, < 6 mm (< 100 mm3)"),
    FleischnerRow("solid", SOLID, False, (6, 8), "CT at 6-12 months, then consider CT at 18-24 months",
                  "CT at 6-12 months, then CT at 18-24 months", "Solid, single, 6-8 mm (100-250 mm3)"),
    FleischnerRow("solid", SOLID, False, (9, INF), "Consider CT at 3 months, PET/CT, or tissue sampling",
                  "Consider CT at 3 months, PET/CT, or tissue sampling", "Solid, single, > 8 mm (> 250 mm3)"),
    FleischnerRow("solid", SOLID, True, (0, 5), NO_FOLLOW_UP, "Optional CT at 12 months",
                  "Solid, multiple, < 6 mm (< 100 mm3)"),
    FleischnerRow("solid", SOLID, True, (6, 8), "CT at 3-6 months, then consider CT at 18-24 months",
                  "CT at 3-6 months, then at 18-24 months", "Solid, multiple, 6-8 mm (100-250 mm3)"),
    FleischnerRow("solid", SOLID, True, (9, INF), "CT at 3-6 months, then consider CT at 18-24 months",
                  "CT at 3-6 months, then at 18-24 months", "Solid, multiple, > 8 mm (> 250 mm3)"),
    FleischnerRow("subsolid", GGN, False, (0, 5), NO_FOLLOW_UP, NO_FOLLOW_UP,
                  "Subsolid, single ground glass, < 6 mm (< 100 mm3)"),
    FleischnerRow("subsolid", GGN, False, (6, INF),
                  "CT at 6-12 months to confirm persistence, then CT every 2 years until 5 years",
                  "CT at 6-12 months to confirm persistence, then CT every 2 years until 5 years",
                  "Subsolid, single ground glass, >= 6 mm (>= 100 mm3)"),
    FleischnerRow("subsolid", PART, False, (0, 5), NO_FOLLOW_UP, NO_FOLLOW_UP,
                  "Subsolid, single part solid, < 6 mm (< 100 mm3)"),
    FleischnerRow("subsolid", PART, False, (6, INF), *(2 * (
        "CT at 3-6 months to confirm persistence; persistent with solid component >= 6 mm: highly suspicious "
        "(table remarks)",)), "Subsolid, single part solid, >= 6 mm, solid component >= 6 mm", solid_mm=(6, INF)),
    FleischnerRow("subsolid", PART, False, (6, INF), *(2 * (
        "CT at 3-6 months to confirm persistence; if unchanged and solid component remains < 6 mm, annual CT "
        "for 5 years",)), "Subsolid, single part solid, >= 6 mm (>= 100 mm3)"),
    FleischnerRow("subsolid", GGN + PART, True, (0, 5), *(2 * (
        "CT at 3-6 months; if stable, consider CT at 2 and 4 years",)), "Subsolid, multiple, < 6 mm (< 100 mm3)"),
    FleischnerRow("subsolid", GGN + PART, True, (6, INF), *(2 * (
        "CT at 3-6 months; subsequent management based on the most suspicious nodule(s)",)),
        "Subsolid, multiple, >= 6 mm (>= 100 mm3)"),
)
FLEISCHNER_NOT_FOR = ("Fleischner 2017 does not apply to lung cancer screening, patients younger than 35, or patients "
                      "with known primary cancer or immunosuppression (as on many CTD treatments)")


# A lesion of 30 mm or more is a mass (Hansell DM et al. Radiology 2008;246:697-722, "nodule").
MASS_MM = 30.0
MASS_ADVICE = ("mass >= 30 mm, managed as probable malignancy: contrast chest CT, PET/CT and/or tissue sampling "
               "(outside the Fleischner 2017 nodule guideline)")



def thick_section_caveat(slice_mm: float) -> str:
    """The caveat of a lesion measured on sections thicker than nodules are assessed on (only masses are
    reported there, see ``findings.MAX_MASS_SLICE_MM``): its category and advice stay those of its size.

    >>> thick_section_caveat(5.0)[:32]
    'Measured on 5 mm sections: size '
    """
    return (f"Measured on {slice_mm:g} mm sections: size and type are approximate; thin-section CT "
            "(<= 1.5 mm contiguous sections, Fleischner Society 2017: MacMahon H et al. Radiology 2017;284:228-243) "
            "is recommended to characterise it.")


def round_to_mm(value: float) -> int:
    """Round half up to whole millimetres, as Fleischner sizes are (Python's round() rounds half to even).

    >>> round_to_mm(5.5), round_to_mm(8.4), round_to_mm(8.5)
    (6, 8, 9)
    """
    return int(math.floor(value + 0.5))


def lesion_kind(mean_diameter_mm: float) -> str:
    """``mass`` for a lesion of ``MASS_MM`` (30 mm) or more, else ``nodule``.

    A nodule is an opacity up to 3 cm; a larger one is a mass (Fleischner Society glossary,
    Hansell DM et al. Radiology 2008;246:697-722), outside the Fleischner 2017 nodule guideline
    (MacMahon H et al. Radiology 2017;284:228-243). Lung-RADS v2022 grades it by its table
    (a solid one >= 15 mm is category 4B).

    >>> lesion_kind(29.9), lesion_kind(30.0)
    ('nodule', 'mass')
    """
    return "mass" if mean_diameter_mm >= MASS_MM else "nodule"


def fleischner_recommendation(nodule: NoduleDescription, *, multiple: bool) -> dict:
    """The Fleischner 2017 recommendation for one nodule (``multiple``: more nodules of its group).

    Returns ``{"low_risk", "high_risk", "rule", "source", "applies_to"}``; the patient's risk is
    not known to the server, so both columns are given. A mass (>= 30 mm) is outside the
    guideline: both columns say so and advise the work-up of a probable malignancy.
    """
    if lesion_kind(nodule.mean_diameter_mm) == "mass":
        return {"low_risk": MASS_ADVICE, "high_risk": MASS_ADVICE,
                "rule": "Mass (>= 30 mm): outside the Fleischner 2017 nodule guideline (nodules < 30 mm)",
                "source": FLEISCHNER_SOURCE, "applies_to": FLEISCHNER_NOT_FOR}
    diameter, solid = round_to_mm(nodule.mean_diameter_mm), round_to_mm(nodule.solid_component_mm)
    for row in FLEISCHNER_ROWS:
        if (nodule.type in row.types and row.multiple == multiple and row.diameter_mm[0] <= diameter <= row.diameter_mm[1]
                and row.solid_mm[0] <= solid <= row.solid_mm[1]):
            return {"low_risk": row.low_risk, "high_risk": row.high_risk, "rule": row.cites,
                    "source": FLEISCHNER_SOURCE, "applies_to": FLEISCHNER_NOT_FOR}
    raise GuidelineInputError(f"no Fleischner 2017 row matches {nodule}")  # pragma: no cover - rows are complete


def fleischner_group(nodule_type: str) -> str:
    """``solid`` or ``subsolid``: the group within which Fleischner counts multiple nodules."""
    return "solid" if nodule_type == "solid" else "subsolid"


def applicable_guideline(context: str) -> dict:
    """Which guideline governs management: Lung-RADS in a screening programme, Fleischner otherwise."""
    if context == "screening":
        return {"context": "screening", "applies": "Lung-RADS v2022", "source": LUNG_RADS_SOURCE}
    if context == "incidental":
        return {"context": "incidental", "applies": "Fleischner 2017", "source": FLEISCHNER_SOURCE,
                "caveat": FLEISCHNER_NOT_FOR}
    raise GuidelineInputError(f"context must be 'screening' or 'incidental', got {context!r}")
