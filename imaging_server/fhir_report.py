"""The FHIR R4 DiagnosticReport sent back to the clinic: one contained Observation per metric.

The report names the referral by its code only. Nothing from the DICOM headers (patient name,
ID, birth date, institution, dates, UIDs) is copied into it: the clinic knows its patient by
the referral code, and the hospital's identifiers stay in the hospital.

No LOINC or SNOMED CT code exists for these densitometry measures, so each Observation uses a
local code from ``urn:ildscreen:ct-metric``; the report's own code is SNOMED CT 241541005
(high resolution computed tomography of lungs), the procedure the clinic ordered.
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
EXTENT = ("fibrosis-extent-estimate", "Fibrosis extent estimate, unvalidated (CT)", "%", "%")


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
    code, display, ucum, unit = EXTENT
    observations.append({
        "resourceType": "Observation", "id": code, "status": "preliminary", "category": [IMAGING_CATEGORY],
        "code": {"coding": [{"system": METRIC_SYSTEM, "code": code, "display": display}], "text": display},
        "valueQuantity": _quantity(extent_percent, ucum, unit),
        "note": [{"text": "Percentage of lung volume between -600 and -100 HU outside vessels. Not validated."}],
    })
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
        "conclusion": f"Automated CT lung densitometry by {ALGORITHM_NAME} {ALGORITHM_VERSION}. {DISCLAIMER}",
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
