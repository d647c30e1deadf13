"""The FHIR R4 DiagnosticReport sent back to the clinic: one contained Observation per metric.

The report names the referral by its code only. Nothing from the DICOM headers (patient name,
ID, birth date, institution, dates, UIDs) is copied into it: the clinic knows its patient by
the referral code, and the hospital's identifiers stay in the hospital.

No LOINC or SNOMED CT code exists for these densitometry measures, so each Observation uses a
local code from ``urn:ildscreen:ct-metric``; the report's own code is SNOMED CT 241541005
(high resolution computed tomography of lungs), the procedure the clinic ordered.

The findings (ILD extent and its change, each nodule with its Lung-RADS v2022 category and
Fleischner 2017 advice, consolidation, vertebral trabecular attenuation) are Observations too,
each in numbers and in words, with the method of the line and "not for clinical use" in its
note; the conclusion repeats every statement.
"""
from __future__ import annotations

from typing import Optional

from imaging_server import ALGORITHM_NAME, ALGORITHM_VERSION, DISCLAIMER

METRIC_SYSTEM = "urn:ildscreen:ct-metric"
UCUM = "http://unitsofmeasure.org"
REFERRAL_SYSTEM = "urn:ildscreen:referral"
IMAGING_CATEGORY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "imaging", "display": "Imaging"}]}
# metric key -> (local code, display, UCUM unit code, unit shown)
METRICS = {
    "lung_volume_ml": ("lung-volume", "Lung volume (CT)", "mL", "mL"),
    "mean_lung_density_hu": ("mean-lung-density", "Mean lung density (CT)", "[hnsf'U]", "HU"),
    "haa_percent": ("high-attenuation-area", "High-attenuation area -600 to -250 HU (CT)", "%", "%"),
    "laa_percent": ("low-attenuation-area", "Low-attenuation area below -950 HU (CT)", "%", "%"),
    "skewness": ("histogram-skewness", "Lung attenuation histogram skewness (CT)", "1", "1"),
    "kurtosis": ("histogram-kurtosis", "Lung attenuation histogram excess kurtosis (CT)", "1", "1"),
}
EXTENT = ("fibrosis-extent-estimate", "ILD extent index -700 to -250 HU outside vessels, unvalidated (CT)", "%", "%")
NOT_FOR_CLINICAL_USE = "Not for clinical use."


def build_diagnostic_report(referral_code: str, metrics: dict, extent_percent: float, *, issued: str,
                            segmenter: str) -> dict:
    """A FHIR R4 DiagnosticReport (status preliminary) with the metrics as contained Observations.

    Parameters
    ----------
    referral_code
        The only identifier in the report.
    metrics
        The ``ct quantify`` JSON; zone values become Observation components.
    extent_percent
        The unvalidated fibrosis extent estimate.
    issued
        ISO 8601 instant of the report.
    segmenter
        Name of the lung mask used (classical or the ONNX model file).
    """
    observations = [_observation(key, metrics, *METRICS[key]) for key in METRICS]
    observations.extend(finding_observations(metrics, extent_percent))
    return {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": REFERRAL_SYSTEM, "value": referral_code}],
        "basedOn": [{"identifier": {"system": REFERRAL_SYSTEM, "value": referral_code}}],
        "status": "preliminary",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD",
                                  "display": "Radiology"}]}],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "241541005",
                             "display": "High resolution computed tomography of lungs"}],
                 "text": "Quantitative lung densitometry of HRCT"},
        "issued": issued,
        "performer": [{"display": f"{ALGORITHM_NAME} {ALGORITHM_VERSION} (lung mask: {segmenter})"}],
        "contained": observations,
        "result": [{"reference": f"#{observation['id']}"} for observation in observations],
        "conclusion": " ".join([f"Automated CT lung densitometry by {ALGORITHM_NAME} {ALGORITHM_VERSION}.",
                                *finding_statements(metrics), DISCLAIMER]),
    }


def _observation(key: str, metrics: dict, code: str, display: str, ucum: str, unit: str) -> dict:
    observation = {
        "resourceType": "Observation", "id": code, "status": "preliminary", "category": [IMAGING_CATEGORY],
        "code": {"coding": [{"system": METRIC_SYSTEM, "code": code, "display": display}], "text": display},
        **_value(metrics[key], ucum, unit, "valueQuantity"),
        "component": [
            {"code": {"coding": [{"system": METRIC_SYSTEM, "code": f"{code}-{zone}-zone",
                                  "display": f"{display}, {zone} zone"}]},
             **_value(values[key], ucum, unit, "valueQuantity")}
            for zone, values in metrics["zones"].items()
        ],
    }
    return observation


def _value(value: Optional[float], ucum: str, unit: str, field: str) -> dict:
    if value is None:  # e.g. skewness of an empty zone
        return {"dataAbsentReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                                 "code": "not-applicable"}]}}
    return {field: _quantity(value, ucum, unit)}


def _quantity(value: float, ucum: str, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": ucum}


def finding_statements(metrics: dict) -> list[str]:
    """One sentence per finding, in the order of the report (empty for metrics without findings)."""
    if "ild_extent" not in metrics:
        return []
    lines = [f"ILD extent index {metrics['ild_extent']['percent']:.1f}% of lung volume (unvalidated)."]
    if metrics.get("progression"):
        lines.append(metrics["progression"]["statement"])
    guideline = metrics["nodule_guideline"]
    if not guideline["assessed"]:
        # Thick sections (findings.MAX_MASS_SLICE_MM) still report masses: the statement says which.
        masses_only = f"; {guideline['masses_only']}" if guideline.get("masses_only") else ""
        lines.append(f"Nodules {guideline['method']}{masses_only}.")
    elif not metrics["nodules"]:
        lines.append("No nodule of 4 mm or more detected.")
    for number, nodule in enumerate(metrics["nodules"], start=1):
        lines.append(nodule_sentence(number, nodule, guideline["applies"]))
    lines.append(metrics["consolidation"]["statement"])
    lines.append(metrics["bone"]["statement"])
    return lines


def nodule_sentence(number: int, nodule: dict, applies: str) -> str:
    """'Nodule 1: part-solid, 12.0 mm (solid component 6.0 mm), baseline; Lung-RADS 4A: ...; Fleischner: ...'."""
    kind = nodule["type"].replace("_", "-")
    solid = f" (solid component {nodule['solid_component_mm']:.1f} mm)" if nodule["type"] == "part_solid" else ""
    fleischner = nodule["fleischner"]
    advice = (f"Fleischner 2017: {fleischner['low_risk']} (low risk) / {fleischner['high_risk']} (high risk)")
    probability = nodule["lung_rads"].get("malignancy_probability")
    lung_rads = (f"Lung-RADS v2022 {nodule['lung_rads']['category']}"
                 f"{f' (malignancy probability {probability})' if probability else ''}: "
                 f"{nodule['lung_rads']['management']}")
    ordered = [lung_rads, advice] if applies.startswith("Lung-RADS") else [advice, lung_rads]
    # A lesion of 30 mm or more is a mass (nodule_guidelines.lesion_kind), or consolidation when the
    # consolidation volume counts it (findings.nodule_line); reports before masses had no key.
    name = nodule.get("lesion", "nodule").capitalize()
    # A lesion measured on thick sections carries its caveat (findings: masses only on thick slices).
    thick = f" {nodule['thick_sections']['caveat']}" if nodule.get("thick_sections") else ""
    return (f"{name} {number}: {kind}, {nodule['mean_diameter_mm']:.1f} mm{solid}, {nodule['status']}; "
            f"{ordered[0]} (applies); {ordered[1]}.{thick}")


def finding_observations(metrics: dict, extent_percent: float) -> list[dict]:
    """The ILD extent (always) and, for metrics that have them, the other findings as Observations."""
    code, display, ucum, unit = EXTENT
    extent = metrics.get("ild_extent")
    observations = [_local_observation(
        code, display, {"valueQuantity": _quantity(extent_percent, ucum, unit)},
        extent["method"] if extent else "percentage of lung volume in the ILD band outside vessels",
        components=[_component(f"{code}-{zone}-zone", f"{display}, {zone} zone", _quantity(value, ucum, unit))
                    for zone, value in (extent or {}).get("zones", {}).items()])]
    if extent is None:
        return observations
    change = metrics.get("progression")
    if change:
        observations.append(_local_observation(
            "ild-extent-change", "Change of ILD extent index since the prior CT (CT)",
            {"valueQuantity": _quantity(change["change_points"], "%", "percentage points")},
            f"{change['statement']} Threshold: {change['threshold_source']}.",
            components=[_component(f"ild-extent-change-{zone}-zone", f"ILD extent change, {zone} zone",
                                   _quantity(value, "%", "percentage points"))
                        for zone, value in change["zones_change_points"].items()]))
    applies = metrics["nodule_guideline"]["applies"]
    for number, nodule in enumerate(metrics["nodules"], start=1):
        observations.append(_nodule_observation(number, nodule, applies))
    consolidation = metrics["consolidation"]
    observations.append(_local_observation(
        "consolidation-volume", "Consolidation volume (CT)", {"valueQuantity": _quantity(consolidation["volume_ml"],
                                                                                         "mL", "mL")},
        f"{consolidation['statement']} Method: {consolidation['method']}. Reporting threshold: "
        f"{consolidation['threshold_source']}.{_review_note(consolidation)}",
        components=[_component("consolidation-percent", "Consolidation, % of lung volume",
                               _quantity(consolidation["percent"], "%", "%"))]
        + [_component(f"consolidation-volume-{zone}-zone", f"Consolidation volume, {zone} zone",
                      _quantity(values["volume_ml"], "mL", "mL")) for zone, values in consolidation["zones"].items()]))
    bone = metrics["bone"]
    bone_value = ({"valueQuantity": _quantity(bone["trabecular_hu"], "[hnsf'U]", "HU")}
                  if bone["trabecular_hu"] is not None else _value(None, "", "", "valueQuantity"))
    observations.append(_local_observation(
        "vertebral-trabecular-attenuation", "Lowest vertebral trabecular attenuation (CT)", bone_value,
        f"{bone['statement']} {bone['caveat']} Method: {bone['method']}.",
        components=[_component(f"vertebral-trabecular-attenuation-{vertebra['index']}",
                               f"Vertebral body {vertebra['index']} from the top of the scan"
                               + (f" (level {vertebra['level']}, estimated)" if vertebra.get("level") else ""),
                               _quantity(vertebra["trabecular_hu"], "[hnsf'U]", "HU"))
                    for vertebra in bone["vertebrae"]]))
    return observations


def _review_note(finding: dict) -> str:
    """' Reviewed by a radiologist: edited (method: 12.0 ml).' for a reviewed finding, else ''."""
    review = finding.get("review")
    if not review:
        return ""
    method = f" (method: {review['method_volume_ml']:.1f} ml)" if "method_volume_ml" in review else ""
    return f" Reviewed by a radiologist: {review['state']}{method}."


def _nodule_observation(number: int, nodule: dict, applies: str) -> dict:
    components = [
        _component("nodule-type", "Nodule type", None, value_string=nodule["type"]),
        _component("lesion-kind", "Nodule (< 30 mm), mass (>= 30 mm) or consolidation (>= 30 mm, in its volume)", None,
                   value_string=nodule.get("lesion", "nodule")),
        _component("nodule-mean-diameter", "Mean diameter", _quantity(nodule["mean_diameter_mm"], "mm", "mm")),
        _component("nodule-solid-component", "Solid component mean diameter",
                   _quantity(nodule["solid_component_mm"], "mm", "mm")),
        _component("nodule-volume", "Volume", _quantity(nodule["volume_mm3"], "mm3", "mm3")),
        _component("nodule-center", "Centre in the series' patient coordinates (mm)", None,
                   value_string=", ".join(f"{value:.1f}" for value in nodule["center_mm"])),
        _component("nodule-status", "Status against the prior CT", None, value_string=nodule["status"]),
        _component("lung-rads-v2022", "Lung-RADS v2022 category", None,
                   value_string=f"{nodule['lung_rads']['category']}: {nodule['lung_rads']['management']}"),
        _component("fleischner-2017", "Fleischner 2017 recommendation", None,
                   value_string=f"low risk: {nodule['fleischner']['low_risk']}; high risk: "
                                f"{nodule['fleischner']['high_risk']}"),
    ]
    note = (f"{nodule_sentence(number, nodule, applies)} Lung-RADS row: {nodule['lung_rads']['rule']} "
            f"({nodule['lung_rads']['source']}). Fleischner row: {nodule['fleischner']['rule']} "
            f"({nodule['fleischner']['source']}); {nodule['fleischner']['applies_to']}. Method: {nodule['method']}."
            f"{' ' + nodule['note'] if nodule.get('note') else ''}{_review_note(nodule)}")
    kind = nodule.get("lesion", "nodule")
    return _local_observation(f"pulmonary-nodule-{number}", f"Pulmonary {kind} {number} (CT)",
                              {"valueQuantity": _quantity(nodule["mean_diameter_mm"], "mm", "mm")}, note,
                              components=components, code="pulmonary-nodule")


def _local_observation(observation_id: str, display: str, value: dict, method_note: str, *,
                       components: list[dict] = (), code: str | None = None) -> dict:
    code = code or observation_id
    observation = {
        "resourceType": "Observation", "id": observation_id, "status": "preliminary", "category": [IMAGING_CATEGORY],
        "code": {"coding": [{"system": METRIC_SYSTEM, "code": code, "display": display}], "text": display},
        **value,
        "note": [{"text": f"{method_note} {NOT_FOR_CLINICAL_USE}"}],
    }
    if components:
        observation["component"] = list(components)
    return observation


def _component(code: str, display: str, quantity: dict | None, *, value_string: str | None = None) -> dict:
    component = {"code": {"coding": [{"system": METRIC_SYSTEM, "code": code, "display": display}]}}
    if value_string is not None:
        component["valueString"] = value_string
    else:
        component["valueQuantity"] = quantity
    return component


# A radiologist's ILD read, as conclusion codes the clinic reads (``edge/outcomes.py``,
# ``ct_report_outcome``): local systems for the status and the pattern, SNOMED CT 233703007
# |Interstitial lung disease (disorder)| beside "present", the extent as an extension.
ILD_STATUS_SYSTEM = "urn:ildscreen:ild-status"
ILD_PATTERN_SYSTEM = "urn:ildscreen:ild-pattern"
ILD_EXTENT_EXTENSION = "urn:ildscreen:radiologist-extent-percent"
SNOMED_ILD = ("http://snomed.info/sct", "233703007", "Interstitial lung disease")
ILD_STATUSES = ("present", "absent", "indeterminate")
# HRCT patterns: ATS/ERS classification of the idiopathic interstitial pneumonias (Travis WD et
# al., Am J Respir Crit Care Med 2013;188:733-748) and the UIP categories of the ATS/ERS/JRS/ALAT
# guideline (Raghu G et al., Am J Respir Crit Care Med 2022;205:e18-e47); the clinic's list
# (edge.outcomes.PATTERNS) is the same, and a test holds them equal.
ILD_PATTERNS = ("UIP", "probable_UIP", "indeterminate_UIP", "NSIP", "OP", "LIP", "DIP", "mixed", "unclassifiable")


def with_ild_read(report: dict, read: dict, *, amended: bool) -> dict:
    """The automated (stored, preliminary) report turned into the radiologist's: ``final`` (``amended`` once a read or
    the report changed after the first final one), the read as conclusion codes and first in the
    conclusion. The contained Observations stay as measured, ``preliminary`` (automated).

    ``read``: ``{"ild", "pattern", "extent_percent", "comment", "reader", "read_at"}``.
    """
    report = dict(report)
    codings = [{"system": ILD_STATUS_SYSTEM, "code": read["ild"], "display": f"ILD {read['ild']}"}]
    if read["ild"] == "present":
        codings.append({"system": SNOMED_ILD[0], "code": SNOMED_ILD[1], "display": SNOMED_ILD[2]})
    conclusion_codes = [{"coding": codings, "text": f"Interstitial lung disease {read['ild']} (radiologist)"}]
    words = [f"Radiologist's read ({read['reader']}, {read['read_at'][:10]}): ILD {read['ild']}"]
    if read.get("pattern"):
        conclusion_codes.append({"coding": [{"system": ILD_PATTERN_SYSTEM, "code": read["pattern"]}],
                                 "text": f"HRCT pattern {read['pattern']}"})
        words.append(f"pattern {read['pattern']}")
    extensions = [ext for ext in report.get("extension") or [] if ext.get("url") != ILD_EXTENT_EXTENSION]
    if read.get("extent_percent") is not None:
        extensions.append({"url": ILD_EXTENT_EXTENSION, "valueDecimal": read["extent_percent"]})
        words.append(f"extent {read['extent_percent']:g}% of lung")
    if extensions:
        report["extension"] = extensions
    else:
        report.pop("extension", None)
    comment = f" {read['comment'].strip()}" if read.get("comment", "").strip() else ""
    report.update(
        status="amended" if amended else "final",
        issued=max(report["issued"], read["read_at"]),
        conclusionCode=conclusion_codes,
        resultsInterpreter=[{"display": f"Radiologist {read['reader']}"}],
        conclusion=(f"{', '.join(words)}.{comment} Automated measurements below (preliminary, unchanged by the "
                    f"read): {report['conclusion']}"),
    )
    return report
