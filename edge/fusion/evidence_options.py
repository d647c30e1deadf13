"""The evidence model's programme assumptions (:class:`EvidenceOptions`) and the rule table deciding
when a modality's evidence counts (:class:`ValidationRule`): what the clinic service's settings
(``edge.config``, ``ILDSCREEN_EVIDENCE_*``) declare theirs from, and what ``edge.fusion.evidence`` applies.

Pydantic and the standard library only at import, so the settings (every command that reads them)
load no numpy, models or audio code (``ildscreen bench cli-start``); the one numerical helper the rule
uses is imported when it runs.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from edge.fusion.clinical_prior import PRIOR_AGE_FROM, OddsRatios, PriorBounds, UndeterminedPrior
from edge.vocabulary import ChestPiece


class ValidationRule(BaseModel):
    """The one table deciding when a modality's evidence counts (its status: validated or not).

    Every number is a programme assumption (a setting) or names its source in its description.
    A modality counts when its manifest carries an adult, patient-level validation that passes
    the first four rows, or when the clinic's own confirmed outcomes pass the ``site_`` rows
    (``ildscreen calibrate``), or when the region's outcomes (a federated validation installed
    with ``ildscreen regional-validation install``) pass the ``site_`` rows and ``region_min_clinics``.
    Otherwise it gives LR 1: "measured, not yet counted".
    """

    model_config = ConfigDict(extra="forbid", title="When a modality's evidence counts")

    min_patients: int = Field(20, ge=1, title="Fewest validation patients",
                              description="Programme assumption: a patient-level validation needs at least this "
                                          "many patients of the screened population.")
    min_positive_patients: int = Field(5, ge=1, title="Fewest validation patients with the finding",
                                       description="Programme assumption: and at least this many with the finding "
                                                   "(a sensitivity from fewer is a guess).")
    min_youden_lower: float = Field(0.0, ge=0, lt=1, title="Lowest Youden index at the CI bounds",
                                    description="Programme assumption: lower 95% bound of sensitivity + lower 95% "
                                                "bound of specificity - 1 must exceed this (better than chance "
                                                "even at its worst plausible accuracy).")
    allow_child_transfer: bool = Field(False, title="Let children's figures stand in for adults",
                                       description="Programme assumption, off by default: a detector validated only "
                                                   "in children counts for adults, with a range widened to include "
                                                   "no effect.")
    child_population: str = Field("children_sprsound2022_test", title="Children's population used when allowed")
    site_min_patients: int = Field(50, ge=1, title="Fewest verified patients at the clinic",
                                   description="Programme assumption: verified patients with the modality measured "
                                               "before the clinic's outcomes can validate it.")
    site_min_events: int = Field(10, ge=1, title="Fewest verified patients with ILD at the clinic",
                                 description="About 10 events per estimated quantity (Peduzzi P et al. J Clin "
                                             "Epidemiol 1996;49:1373-1379).")
    site_min_auc_lower: float = Field(0.70, gt=0.5, lt=1, title="Lowest AUC lower 95% bound",
                                      description="AUC 0.7-0.8 is 'acceptable' discrimination (Hosmer DW, "
                                                  "Lemeshow S. Applied Logistic Regression, 3rd ed. 2013, p177); the "
                                                  "lower 95% bound must reach it: the reported bound or, when lower, "
                                                  "Newcombe's score bound from the numbers with and without ILD "
                                                  "(Stat Med 2006;25:559-573), so a CI that collapsed to a point "
                                                  "cannot pass on a few patients.")
    region_min_clinics: int = Field(3, ge=1, title="Fewest clinics behind a regional validation",
                                    description="Programme assumption: a regional validation (the federation's "
                                                "validation round, edge.regional_validation) counts only when at "
                                                "least this many clinics answered; its patients, patients with ILD "
                                                "and AUC lower bound must pass the site_ rows above.")

    def auc_lower_bound(self, auc: float, low: float, *, with_ild: float, without_ild: float) -> float:
        """The lower 95% bound the AUC row judges: the lower of the reported bound ``low`` and
        Newcombe's score-type bound from the AUC and the numbers of patients with and without ILD
        (:func:`evaluation.proportions.auc_score_interval`).

        A percentile bootstrap, DeLong or Hanley-McNeil interval collapses to a point when every
        patient with ILD outranks every one without (AUC 1.00, CI 1.00-1.00 from 3 patients); the
        score bound does not, and rises with the numbers. Taking the lower of the two never
        narrows a wide honest interval. With nobody in one group there is no AUC to judge: 0.
        """
        from evaluation.proportions import auc_score_interval  # imported here: it loads numpy

        if not (with_ild > 0 and without_ild > 0):
            return 0.0
        return min(float(low), auc_score_interval(float(auc), with_ild, without_ild)[0])

    def beats_chance(self, figures: dict) -> bool:
        """The Youden row: the lower 95% bounds of ``figures``' sensitivity and specificity add up to
        more than chance (by ``min_youden_lower``); False when either interval is missing."""
        if figures.get("sensitivity_ci95") is None or figures.get("specificity_ci95") is None:
            return False
        return figures["sensitivity_ci95"][0] + figures["specificity_ci95"][0] - 1 > self.min_youden_lower


class EvidenceOptions(BaseModel):
    """Programme assumptions of the evidence model; each is a setting (see docs/evidence.md).

    The one declaration of these settings: the clinic service's settings (``edge.config``,
    ``ILDSCREEN_EVIDENCE_*``) take each field's default, limits, title and description from here.
    Stored with every assessment (``model_dump``)."""

    model_config = ConfigDict(extra="forbid", title="Evidence model options")

    dependence_weight: float = Field(
        0.5, ge=0, le=1, title="Weight of non-strongest evidence",
        description="Programme assumption (docs/evidence.md): modalities are not independent given ILD, so the "
                    "strongest evidence in each direction counts in full and every other at this weight on the "
                    "log-LR scale (1 = naive Bayes).")
    lr_cap: float = Field(
        10.0, gt=1, le=1000, title="Largest likelihood ratio of one modality",
        description="Programme assumption (docs/evidence.md): each modality's LR is held within [1/cap, cap].")
    other_site_weight: float = Field(
        0.5, ge=0, le=1, title="Weight of non-basal crackles",
        description="Programme assumption (docs/evidence.md): crackles heard only away from the lung bases count "
                    "at this fraction of the basal finding's log LR.")
    # Tuples here (the options are immutable); the settings hold the same values as lists.
    protocol_basal_sites: tuple[str, ...] = Field(
        ("posterior_left_base", "posterior_right_base"), min_length=1,
        title="Basal sites of a complete lung-sound exam",
        description="Programme assumption (docs/evidence.md): a clear chest counts fully only when each of these "
                    "sites has an accepted recording, otherwise by the share that has.")
    chest_pieces_cannot_clear: tuple[ChestPiece, ...] = Field(
        ("bell",), title="Chest pieces whose clear recording does not count",
        description="Programme assumption (docs/evidence.md): a recording through one of these chest pieces that "
                    "finds no crackles does not make its site heard (a clear chest counts only by the sites heard "
                    "otherwise); one that finds crackles still counts. The bell, because through the Littmann "
                    "3200's bell filter the crackle detector found 1 of 9 KAUH adults with crackles, against 6 of 8 "
                    "through its diaphragm filter, over all 37 KAUH adults (22 of whom chose its threshold; on the "
                    "15 test adults alone 0 of 3 against 3 of 3: docs/evidence.md, model 0.6.0).")
    require_validated_stethoscope: bool = Field(
        False, title="Only takes through a named, validated stethoscope count",
        description="Programme assumption (docs/evidence.md): a take through a stethoscope (or stated chest piece) "
                    "the crackle model was not validated on in adults never counts, by the manifest's patient-level "
                    "validation (edge.auscultation.stethoscope_validation). On: a take that names no stethoscope, "
                    "or names a validated one but not its chest piece, does not count either. Off (default): those "
                    "count as before, since every take stored before the stethoscope was asked for names none and "
                    "counting none of them would undo every earlier exam.")
    kl6_cutoff: float = Field(
        500.0, gt=0, title="KL-6 positive from (U/mL)",
        description="Programme assumption (docs/evidence.md): the cut-off of the laboratory's KL-6 assay; 500 U/mL "
                    "is the commercial latex assay's, used by most studies of the KL-6 meta-analysis.")
    assumption_spread: float = Field(
        0.5, ge=0, le=2, title="Uncertainty of an assumed effect size",
        description="Programme assumption (docs/evidence.md): every assumed odds-ratio magnitude may be off by this "
                    "fraction of its log (95%); it widens the interval.")
    prior_age_from: int = Field(
        PRIOR_AGE_FROM, ge=16, le=100, title="Age the prior's age factor counts from (years)",
        description="Programme assumption (docs/evidence.md, section 1): the clinical prior's age factor multiplies "
                    "the odds by its odds ratio for each decade of age over this (the sources say older age raises "
                    "the risk, Kelly 2014 for RA, without this cut-off); 50 by default.")
    # A table of its own is set by overrides of its rows (edge.config.evidence_setting), so its
    # description speaks of the setting; each row is declared, with its source, on the table.
    validation_rule: ValidationRule = Field(
        default_factory=ValidationRule, title="When a modality counts",
        description="Overrides of the evidence model's validation rule table (docs/evidence.md, section 2a), e.g. "
                    '{"min_patients": 30, "site_min_auc_lower": 0.75}; unset keys keep their defaults.')
    undetermined_prior: UndeterminedPrior = Field(
        default_factory=UndeterminedPrior, title="Prior when the diagnosis is not yet established",
        description="Programme assumption (docs/evidence.md, section 1a): overrides of the ILD base rate and its "
                    'range for a patient whose CTD is suspected but not yet diagnosed, e.g. {"base": 0.2, "low": '
                    '0.05, "high": 0.5}; unset keys keep their defaults (median and span of the pooled CTD '
                    "prevalences, Joy 2023).")
    odds_ratios: OddsRatios = Field(
        default_factory=OddsRatios, title="Odds ratio of each risk factor of the prior",
        description="Programme assumption (docs/evidence.md, section 1): overrides of the odds ratio (> 0) of "
                    'risk factors of the clinical prior, keyed by factor, e.g. {"anti-Scl-70": 4.0, "male": 1.4}; '
                    "unset factors keep their defaults. Each factor's direction comes from the sources in "
                    "edge/fusion/clinical_prior.py (ODDS_RATIOS); its magnitude is the programme's.")
    prior_bounds: PriorBounds = Field(
        default_factory=PriorBounds, title="Bounds of the clinical prior",
        description="Programme assumption (docs/evidence.md, section 9): overrides of the lowest and highest "
                    'clinical prior, e.g. {"low": 0.02, "high": 0.9} (0 < low < high < 1); unset keys keep '
                    "their defaults (0.01 and 0.95).")
