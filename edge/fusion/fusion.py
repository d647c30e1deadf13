"""Fusing the modalities' likelihood ratios with the clinical prior into one ILD probability,
and saying how uncertain it is.

Post-test log-odds = prior log-odds + the combined log LR of the measured modalities. Naive
Bayes (adding every log LR) assumes the modalities are independent given ILD; they are not
known to be (labs, breath and crackles all grow with the extent of fibrosis), so
:func:`combined_log_lr` counts the strongest evidence in each direction in full and every other
one at ``EvidenceOptions.dependence_weight``, after holding each LR within ``lr_cap``. A missing
modality has log LR 0 and so changes nothing; raising any log LR never lowers the result.

Two uncertainties are reported, separately:

- ``interval``: a 90% interval from the numbers the estimate rests on: the prior's base-rate
  range, each measured modality's 95% log-LR range (validation CIs; taken *before* the LR cap,
  so a capped LR does not hide its spread), and the programme assumptions (each odds-ratio
  magnitude of the prior and the dependence weight, see :func:`assumption_terms`), combined as
  independent normal errors on the log-odds scale, each weighted as in the combination. An
  unvalidated modality adds nothing and is named instead (``not_counted``).
- ``if_missing_measured``: the range the risk could still take if the missing modalities were
  measured (each at the low and at the high end of what it would plausibly give).
"""
from __future__ import annotations

import math
from typing import Mapping, Optional

from edge.errors import ValidationError
from edge.fusion.clinical_prior import ClinicalPrior
from edge.fusion.evidence import MODALITIES, Z90, Z95, EvidenceOptions, ModalityEvidence


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def combined_log_lr(log_lrs: Mapping[str, float], options: EvidenceOptions) -> tuple[float, dict[str, float]]:
    """The modalities' joint log LR and the weight each one got.

    Examples
    --------
    >>> combined_log_lr({"labs": 1.0, "breath": 0.5}, EvidenceOptions(dependence_weight=0.5))
    (1.25, {'labs': 1.0, 'breath': 0.5})
    """
    cap = math.log(options.lr_cap)
    capped = {name: min(max(value, -cap), cap) for name, value in log_lrs.items()}
    weights = {}
    for sign in (1, -1):
        ranked = sorted((name for name, value in capped.items() if sign * value > 0), key=lambda n: -sign * capped[n])
        for rank, name in enumerate(ranked):
            weights[name] = 1.0 if rank == 0 else options.dependence_weight
    weights.update({name: 1.0 for name, value in capped.items() if value == 0})
    return sum(weights[name] * capped[name] for name in capped), weights


def fused_probability(prior_log_odds: float, log_lrs: Mapping[str, float], options: EvidenceOptions) -> float:
    """The one place the post-test probability is computed (site recalibration wraps this)."""
    return sigmoid(prior_log_odds + combined_log_lr(log_lrs, options)[0])


def _sd(low: float, high: float, z: float) -> float:
    return (high - low) / (2 * z)


def assumption_terms(prior: ClinicalPrior, log_lrs: Mapping[str, float], options: EvidenceOptions) -> dict[str, float]:
    """The standard deviation (log-odds) each programme assumption adds to the interval.

    - each odds ratio of the prior whose size is a programme assumption: its log OR is read as
      uncertain by +/- ``options.assumption_spread`` of itself (95%);
    - the dependence weight: the combined log LR anywhere between weight 0 (only the strongest
      evidence in each direction) and 1 (naive Bayes), read as a 95% range.
    """
    terms = {}
    for name, ratio in prior.factors.items():
        if ratio > 0 and ratio != 1 and prior.sources.get(name, "").startswith("programme assumption"):
            terms[f"odds_ratio:{name}"] = abs(math.log(ratio)) * options.assumption_spread / Z95
    weights = [combined_log_lr(log_lrs, options.model_copy(update={"dependence_weight": w}))[0] for w in (0.0, 1.0)]
    if weights[0] != weights[1]:
        terms["dependence_weight"] = _sd(min(weights), max(weights), Z95)
    return terms


def fuse(prior: ClinicalPrior, evidence: list[ModalityEvidence], *, options: EvidenceOptions,
         potential: Optional[Mapping[str, Optional[tuple[float, float]]]] = None) -> dict:
    """Post-test ILD probability, 0-100 score, both uncertainties and each contribution.

    ``potential`` maps each modality to the log-LR range it would plausibly give if measured
    (None: unknown, e.g. its model is not installed); only missing modalities are read from it.
    """
    seen = [item.modality for item in evidence]
    if len(set(seen)) != len(seen):
        raise ValidationError(f"each modality may be given once, got {seen}")
    log_lrs = {item.modality: item.log_likelihood_ratio for item in evidence}
    combined, weights = combined_log_lr(log_lrs, options)
    probability = fused_probability(prior.log_odds, log_lrs, options)
    missing = [name for name in MODALITIES if name not in seen]

    cap = math.log(options.lr_cap)
    sds = {"clinical_prior": _sd(*prior.log_odds_range, Z95)}
    for item in evidence:
        # The spread of the evidence itself, before the cap: capping both ends would collapse it.
        sds[item.modality] = weights[item.modality] * _sd(*item.log_lr_range, Z95)
    assumptions = assumption_terms(prior, log_lrs, options)
    variance = sum(sd ** 2 for sd in sds.values()) + sum(sd ** 2 for sd in assumptions.values())
    centre = prior.log_odds + combined
    spread = Z90 * math.sqrt(variance)
    interval = [sigmoid(centre - spread), sigmoid(centre + spread)]

    potential = potential or {}
    known = {name: potential[name] for name in missing if potential.get(name) is not None}
    informative = {name: r for name, r in known.items() if r[0] != r[1]}
    if_missing = None
    if informative:
        low = fused_probability(prior.log_odds, {**log_lrs, **{n: r[0] for n, r in informative.items()}}, options)
        high = fused_probability(prior.log_odds, {**log_lrs, **{n: r[1] for n, r in informative.items()}}, options)
        if_missing = {"low": low, "high": high, "modalities": sorted(informative),
                      "not_informative": sorted(set(known) - set(informative)),
                      "unknown": sorted(set(missing) - set(known))}

    contributions = {
        item.modality: {
            "likelihood_ratio": item.likelihood_ratio,
            "log_likelihood_ratio": item.log_likelihood_ratio,
            "log_lr_range95": list(item.log_lr_range),
            "weight": weights[item.modality],
            # What the risk actually used: capped at lr_cap, then weighted for dependence.
            "applied_likelihood_ratio": math.exp(weights[item.modality]
                                                 * min(max(item.log_likelihood_ratio, -cap), cap)),
            "model_version": item.model_version,
            "synthetic": item.validation["synthetic"],
            "clinically_validated": item.validation["clinically_validated"],
            # Whether the evidence model let it count ("measured, not yet counted" otherwise) and why.
            "counted": item.finding.get("counted", True),
            "status": item.finding.get("status", "validated"),
            "reason": item.finding.get("reason"),
            "reason_code": item.finding.get("reason_code"),
            "finding": item.finding,
        }
        for item in evidence
    }
    contributions["clinical_prior"] = {"probability": prior.probability, "base_prevalence": prior.base_prevalence,
                                       "base_prevalence_range": list(prior.base_prevalence_range),
                                       "odds_ratios": prior.factors, "odds_ratio_sources": prior.sources}
    return {
        "probability": probability,
        "score": int(round(probability * 100)),
        "interval": interval,
        # What the interval's width is made of (SD on the log-odds scale, each term).
        "interval_sources": {"measured": sds, "programme_assumptions": assumptions},
        "if_missing_measured": if_missing,
        "pretest_probability": prior.probability,
        "contributions": contributions,
        "missing": missing,
        "model_versions": {item.modality: item.model_version for item in evidence},
        "synthetic_models": sorted(item.modality for item in evidence if item.validation["synthetic"]),
        "not_counted": {item.modality: item.finding.get("reason") for item in evidence
                        if item.finding.get("counted") is False},
        "models": {item.modality: {"version": item.model_version, **item.validation} for item in evidence},
        "evidence_options": options.model_dump(),
    }
