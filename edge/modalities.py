"""What each modality contributes to an assessment: the evidence stored for a visit, turned
into a ``ModalityEvidence`` (a likelihood ratio for ILD) by the evidence model
(``edge.fusion.evidence``, written down in docs/evidence.md) with the manifest entry of the
model that produced it.

A modality with nothing usable recorded (no lab results, no breath reading that passed its
quality checks, no lung-site recording of acceptable quality) returns None and is reported
missing.
"""
from __future__ import annotations

import json
from typing import Callable, Optional

import sqlite_utils

from audio_models.errors import ModelError
from edge.breath import list_breath_readings
from edge.fusion.clinical_prior import ClinicalPicture
from edge.fusion.evidence import (EvidenceOptions, ModalityEvidence, crackle_evidence, crackle_potential_range,
                                  tabular_evidence, tabular_potential_range)
from edge.inference.bundles import selected_registry
from edge.labs import ModelUnavailable, list_lab_results, score_stored_results

ModalityScorer = Callable[[sqlite_utils.Database, int, ClinicalPicture, EvidenceOptions], Optional[ModalityEvidence]]


def manifest_entry(name: str) -> dict:
    """A model's manifest entry in the bundle this process serves (its manifest was read once, at
    selection: assessments are a hot path)."""
    try:
        return selected_registry().entry(name)
    except ModelError as exc:
        raise ModelUnavailable(f"the {name} model is not available: {exc}") from exc


def scored_evidence(modality: str, probability: float, model: dict) -> ModalityEvidence:
    """Evidence from a fresh tabular score (``model`` is the stamp of the score's result)."""
    return tabular_evidence(modality, probability, manifest_entry(modality),
                            model_version=f"{model['name']}-{model['version']}")


def labs_evidence(db: sqlite_utils.Database, visit_id: int, picture: ClinicalPicture,
                  options: EvidenceOptions) -> Optional[ModalityEvidence]:
    """The visit's lab results scored together (newest value of each analyte)."""
    results = list_lab_results(db, visit_id)
    if not results:
        return None
    # Raises ModelUnavailable without a usable model: the assessment is refused rather than
    # computed as if the entered results did not exist.
    score = score_stored_results(results)
    return scored_evidence("labs", score["probability"], score["model"])


def breath_evidence(db: sqlite_utils.Database, visit_id: int, picture: ClinicalPicture,
                    options: EvidenceOptions) -> Optional[ModalityEvidence]:
    """The newest breath reading of the visit that passed its quality checks."""
    usable = [reading for reading in list_breath_readings(db, visit_id) if reading["probability"] is not None]
    if not usable:
        return None
    latest = usable[-1]
    return tabular_evidence("breath", latest["probability"], manifest_entry("breath"),
                            model_version=latest["model_version"])


def site_probabilities(results: list[dict]) -> dict[str, Optional[float]]:
    """Mean crackle probability per chest site over its recordings that passed the quality gate;
    None for a site with none."""
    by_site: dict[str, list[float]] = {}
    for result in results:
        site = result.get("chest_site") or "unknown"
        values = by_site.setdefault(site, [])
        if result["quality"]["ok"] and result["crackle_probability"] is not None:
            values.append(float(result["crackle_probability"]))
    return {site: (sum(values) / len(values) if values else None) for site, values in by_site.items()}


def auscultation_evidence_from_results(results: list[dict], picture: ClinicalPicture,
                                       options: EvidenceOptions) -> Optional[ModalityEvidence]:
    """The visit's crackle finding from scored recordings (quality-failed ones left out)."""
    if not results:
        return None
    stamp = results[0]["model"]
    return crackle_evidence(site_probabilities(results), manifest_entry("auscultation"),
                            ctd_diagnosis=picture.ctd_diagnosis, options=options,
                            model_version=f"{stamp['name']}-{stamp['version']}-{stamp['variant']}")


def auscultation_evidence(db: sqlite_utils.Database, visit_id: int, picture: ClinicalPicture,
                          options: EvidenceOptions) -> Optional[ModalityEvidence]:
    """Scored recordings of the visit, per chest site, as one patient-level crackle finding."""
    rows = db.execute_returning_dicts(
        "SELECT chest_site, quality, crackle_probability, result FROM recordings "
        "WHERE visit_id = ? AND result IS NOT NULL ORDER BY id", [visit_id])
    results = [{"chest_site": row["chest_site"], "quality": json.loads(row["quality"]),
                "crackle_probability": row["crackle_probability"], "model": json.loads(row["result"])["model"]}
               for row in rows]
    return auscultation_evidence_from_results(results, picture, options)


def potential_ranges(picture: ClinicalPicture) -> dict[str, Optional[tuple[float, float]]]:
    """Per modality, the log-LR range it would plausibly give if measured (None when its model
    or its validation numbers are not available)."""
    ranges: dict[str, Optional[tuple[float, float]]] = {}
    for name in ("auscultation", "breath", "labs"):
        try:
            entry = manifest_entry(name)
        except ModelUnavailable:
            ranges[name] = None
            continue
        ranges[name] = (crackle_potential_range(entry, ctd_diagnosis=picture.ctd_diagnosis) if name == "auscultation"
                        else tabular_potential_range(entry))
    return ranges


SCORERS: dict[str, ModalityScorer] = {"auscultation": auscultation_evidence, "breath": breath_evidence,
                                      "labs": labs_evidence}
