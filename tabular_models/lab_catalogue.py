"""The analytes of a CBC + CMP (and optional inflammation markers): LOINC codes, names, units.

Each analyte has one SI unit (UCUM spelling) and a table of the UCUM unit strings accepted for
it with the factor that converts a value in that unit to SI. Conversion factors come from
molar masses and the standard SI conversion tables:

- Young DS, "Implementation of SI units for clinical laboratory data", Ann Intern Med
  1987;106:114-129, and the AMA Manual of Style SI conversion table (creatinine 88.42
  umol/L per mg/dL; urea nitrogen 0.357 mmol/L urea per mg/dL; urea 0.1665 mmol/L per mg/dL;
  glucose 0.0555 mmol/L per mg/dL; calcium 0.2495 mmol/L per mg/dL; bilirubin 17.1 umol/L
  per mg/dL; haemoglobin g/dL x 10 = g/L, and 1 mmol/L Hb (monomer) = 16.11 g/L).
- Enzyme activity: 1 ukat/L = 60 U/L (IFCC).
- UCUM (https://ucum.org): ``10*3/uL`` = ``10*9/L``, ``10*6/uL`` = ``10*12/L``, ``meq/L`` of a
  monovalent ion = ``mmol/L``.

``plausible`` bounds are what a living patient's sample can show (in SI), not reference
ranges: they catch typing errors and unit mix-ups (haemoglobin "150 g/dL" is 1500 g/L).
``reference`` ranges are typical adult ranges: a programme assumption with no single cited source
(laboratories differ), used for display and, widened by the ``lab_unit_check_factor`` setting
(``lab_panels.unit_slip``), to ask the nurse about a probable unit slip; they never enter a risk.

LOINC codes were taken from loinc.org's part pages for each analyte. KL-6 has no LOINC code
in common use, so it is accepted by name only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# Cell counts: UCUM spellings plus the caret forms lab exports use; "/uL" is cells per microlitre.
COUNT_PER_L = {"10*9/L": 1.0, "10*3/uL": 1.0, "10*3/mm3": 1.0, "/nL": 1.0, "10^9/L": 1.0, "x10^9/L": 1.0,
               "10^3/uL": 1.0, "K/uL": 1.0, "/uL": 1e-3, "/mm3": 1e-3}
RBC_PER_L = {"10*12/L": 1.0, "10*6/uL": 1.0, "10*6/mm3": 1.0, "/pL": 1.0, "10^12/L": 1.0, "x10^12/L": 1.0,
             "10^6/uL": 1.0, "M/uL": 1.0}
MMOL_PER_L_ION = {"mmol/L": 1.0, "meq/L": 1.0, "mEq/L": 1.0}
ENZYME = {"U/L": 1.0, "[IU]/L": 1.0, "IU/L": 1.0, "ukat/L": 60.0}
GRAMS_PER_L = {"g/L": 1.0, "g/dL": 10.0}


@dataclass(frozen=True)
class Analyte:
    """One analyte: the feature name, its LOINC codes, accepted units and plausible range (SI)."""

    key: str
    display: str
    si_unit: str
    units: dict
    plausible: tuple[float, float]
    reference: Optional[tuple[float, float]] = None
    loinc: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    # A LOINC code measured in a property that changes the factor (urea mass vs urea nitrogen).
    code_units: dict = field(default_factory=dict)
    percent_of: Optional[str] = None  # a differential percentage, turned into a count with WBC


ANALYTES: tuple[Analyte, ...] = (
    # CBC
    Analyte("wbc", "White blood cells", "10*9/L", COUNT_PER_L, (0.1, 300.0), (4.0, 11.0),
            ("6690-2", "26464-8"), ("wbc", "white blood cells", "leukocytes", "white cell count")),
    Analyte("rbc", "Red blood cells", "10*12/L", RBC_PER_L, (0.5, 10.0), (3.8, 5.8),
            ("789-8", "26453-2"), ("rbc", "red blood cells", "erythrocytes")),
    Analyte("hgb", "Haemoglobin", "g/L", {**GRAMS_PER_L, "mmol/L": 16.11}, (20.0, 250.0), (115.0, 175.0),
            ("718-7",), ("hgb", "hb", "haemoglobin", "hemoglobin")),
    Analyte("hct", "Haematocrit", "L/L", {"L/L": 1.0, "1": 1.0, "%": 0.01}, (0.08, 0.80), (0.35, 0.52),
            ("4544-3", "20570-8"), ("hct", "haematocrit", "hematocrit")),
    Analyte("mcv", "Mean corpuscular volume", "fL", {"fL": 1.0, "um3": 1.0}, (40.0, 160.0), (80.0, 100.0),
            ("787-2",), ("mcv",)),
    Analyte("platelets", "Platelets", "10*9/L", COUNT_PER_L, (1.0, 3000.0), (150.0, 400.0),
            ("777-3", "26515-7"), ("platelets", "plt", "platelet count")),
    Analyte("rdw", "Red cell distribution width", "%", {"%": 1.0}, (8.0, 40.0), (11.5, 14.5),
            ("788-0",), ("rdw", "rdw-cv")),
    Analyte("neutrophils", "Neutrophils", "10*9/L", COUNT_PER_L, (0.0, 250.0), (2.0, 7.5),
            ("751-8", "26499-4"), ("neutrophils", "neut", "anc", "neutrophils abs")),
    Analyte("lymphocytes", "Lymphocytes", "10*9/L", COUNT_PER_L, (0.0, 250.0), (1.0, 4.0),
            ("731-0", "26474-7"), ("lymphocytes", "lymph", "lymphocytes abs")),
    Analyte("monocytes", "Monocytes", "10*9/L", COUNT_PER_L, (0.0, 100.0), (0.2, 1.0),
            ("742-7", "26484-6"), ("monocytes", "mono", "monocytes abs")),
    Analyte("eosinophils", "Eosinophils", "10*9/L", COUNT_PER_L, (0.0, 100.0), (0.0, 0.5),
            ("711-2", "26449-9"), ("eosinophils", "eos", "eosinophils abs")),
    Analyte("neutrophils_pct", "Neutrophils %", "%", {"%": 1.0}, (0.0, 100.0), (40.0, 75.0),
            ("770-8",), ("neutrophils %", "neutrophils pct", "neut %"), percent_of="neutrophils"),
    Analyte("lymphocytes_pct", "Lymphocytes %", "%", {"%": 1.0}, (0.0, 100.0), (20.0, 45.0),
            ("736-9",), ("lymphocytes %", "lymphocytes pct", "lymph %"), percent_of="lymphocytes"),
    Analyte("monocytes_pct", "Monocytes %", "%", {"%": 1.0}, (0.0, 100.0), (2.0, 10.0),
            ("5905-5",), ("monocytes %", "monocytes pct", "mono %"), percent_of="monocytes"),
    Analyte("eosinophils_pct", "Eosinophils %", "%", {"%": 1.0}, (0.0, 100.0), (0.0, 6.0),
            ("713-8",), ("eosinophils %", "eosinophils pct", "eos %"), percent_of="eosinophils"),
    # CMP
    Analyte("sodium", "Sodium", "mmol/L", MMOL_PER_L_ION, (90.0, 200.0), (135.0, 145.0),
            ("2951-2", "2947-0"), ("sodium", "na")),
    Analyte("potassium", "Potassium", "mmol/L", MMOL_PER_L_ION, (1.0, 12.0), (3.5, 5.1),
            ("2823-3", "6298-4"), ("potassium", "k")),
    Analyte("chloride", "Chloride", "mmol/L", MMOL_PER_L_ION, (50.0, 160.0), (98.0, 107.0),
            ("2075-0", "2069-3"), ("chloride", "cl")),
    Analyte("bicarbonate", "Carbon dioxide, total", "mmol/L", MMOL_PER_L_ION, (2.0, 60.0), (22.0, 29.0),
            ("2028-9", "1963-8"), ("co2", "bicarbonate", "hco3", "total co2")),
    Analyte("urea", "Urea", "mmol/L", {"mmol/L": 1.0, "mg/dL": 0.357}, (0.3, 120.0), (2.5, 7.8),
            ("3094-0", "14937-7", "22664-7", "3091-6"), ("bun", "urea nitrogen", "urea"),
            # 3091-6 is urea itself by mass (60.06 g/mol), not urea nitrogen: 0.1665 mmol/L per mg/dL.
            code_units={"3091-6": {"mg/dL": 0.1665}}),
    Analyte("creatinine", "Creatinine", "umol/L", {"umol/L": 1.0, "mg/dL": 88.42, "mmol/L": 1000.0},
            (10.0, 3000.0), (45.0, 110.0), ("2160-0", "14682-9"), ("creatinine", "creat", "cr")),
    Analyte("glucose", "Glucose", "mmol/L", {"mmol/L": 1.0, "mg/dL": 0.0555}, (0.5, 80.0), (3.9, 7.8),
            ("2345-7", "14749-6", "2339-0", "15074-8"), ("glucose", "glu")),
    Analyte("calcium", "Calcium", "mmol/L", {"mmol/L": 1.0, "mg/dL": 0.2495, "meq/L": 0.5, "mEq/L": 0.5},
            (0.8, 5.0), (2.15, 2.6), ("17861-6", "2000-8"), ("calcium", "ca")),
    Analyte("total_protein", "Total protein", "g/L", GRAMS_PER_L, (20.0, 160.0), (60.0, 83.0),
            ("2885-2",), ("total protein", "protein", "tp")),
    Analyte("albumin", "Albumin", "g/L", GRAMS_PER_L, (5.0, 70.0), (35.0, 52.0),
            ("1751-7", "61151-7"), ("albumin", "alb")),
    Analyte("bilirubin", "Bilirubin, total", "umol/L", {"umol/L": 1.0, "mg/dL": 17.1}, (0.5, 1000.0),
            (3.0, 21.0), ("1975-2", "14631-6"), ("total bilirubin", "bilirubin", "tbil")),
    Analyte("alp", "Alkaline phosphatase", "U/L", ENZYME, (5.0, 5000.0), (30.0, 130.0),
            ("6768-6",), ("alp", "alkaline phosphatase")),
    Analyte("ast", "Aspartate aminotransferase", "U/L", ENZYME, (1.0, 20000.0), (5.0, 40.0),
            ("1920-8",), ("ast", "sgot")),
    Analyte("alt", "Alanine aminotransferase", "U/L", ENZYME, (1.0, 20000.0), (5.0, 41.0),
            ("1742-6", "1743-4"), ("alt", "sgpt")),
    # Optional markers
    Analyte("ldh", "Lactate dehydrogenase", "U/L", ENZYME, (20.0, 20000.0), (120.0, 250.0),
            ("2532-0", "14804-9"), ("ldh", "lactate dehydrogenase")),
    Analyte("crp", "C-reactive protein", "mg/L", {"mg/L": 1.0, "mg/dL": 10.0, "ug/mL": 1.0}, (0.0, 600.0),
            (0.0, 5.0), ("1988-5", "30522-7"), ("crp", "c-reactive protein", "hs-crp")),
    Analyte("esr", "Erythrocyte sedimentation rate", "mm/h", {"mm/h": 1.0, "mm/[hr]": 1.0}, (0.0, 160.0),
            (0.0, 30.0), ("4537-7", "30341-2"), ("esr", "sed rate")),
    Analyte("kl6", "KL-6", "U/mL", {"U/mL": 1.0, "[U]/mL": 1.0}, (10.0, 50000.0), (100.0, 500.0),
            (), ("kl-6", "kl6", "krebs von den lungen-6")),
)

BY_KEY: dict[str, Analyte] = {analyte.key: analyte for analyte in ANALYTES}
_BY_CODE = {code: analyte for analyte in ANALYTES for code in analyte.loinc}
_BY_NAME = {name: analyte for analyte in ANALYTES for name in (analyte.key, *analyte.aliases)}

# Analytes a full CBC + CMP reports; the optional markers are not listed as missing.
CORE_ANALYTES = tuple(a.key for a in ANALYTES if a.key not in ("ldh", "crp", "esr", "kl6")
                      and a.percent_of is None)


def find_analyte(name_or_code: str) -> Optional[Analyte]:
    """Look an analyte up by LOINC code or by a known name (case and spacing ignored).

    Examples
    --------
    >>> find_analyte("718-7").key
    'hgb'
    >>> find_analyte("  Hemoglobin ").key
    'hgb'
    >>> find_analyte("unobtainium") is None
    True
    """
    text = " ".join(str(name_or_code).split())
    return _BY_CODE.get(text) or _BY_NAME.get(text.lower())


def si_factor(analyte: Analyte, unit: str, *, code: Optional[str] = None) -> Optional[float]:
    """Factor converting ``unit`` to the analyte's SI unit, or None when the unit is not accepted.

    Examples
    --------
    >>> si_factor(BY_KEY["creatinine"], "mg/dL")
    88.42
    >>> si_factor(BY_KEY["urea"], "mg/dL", code="3091-6")
    0.1665
    >>> si_factor(BY_KEY["hgb"], "mg/dL") is None
    True
    """
    text = unit.strip()
    overrides = analyte.code_units.get(code or "", {})
    if text in overrides:
        return overrides[text]
    if text in analyte.units:
        return analyte.units[text]
    # UCUM is case-sensitive, but lab exports are not: accept a case-insensitive unique match.
    folded = [factor for name, factor in analyte.units.items() if name.lower() == text.lower()]
    return folded[0] if len(set(folded)) == 1 else None
