"""Manifest entries the evidence tests run on: fixtures, never the shipped numbers.

``detector_block`` has the shape of the patient-level ``validation`` block the crackle detector
carries since issue 24 (docs/evidence.md); a manifest may still hold the old recording-level block,
which must read as "unvalidated".
"""
STATUS = {"synthetic": True, "clinically_validated": False, "training_population": "test fixture",
          "statement": "Test fixture; not for clinical use."}
REAL_STATUS = {**STATUS, "synthetic": False, "training_population": "test fixture of real patients"}
# The adult population's patient-level figures of a detector that passes the validation rule.
DETECTOR = {"dataset": "fixture adults", "age_range": [18, 90], "devices": ["fixture stethoscope"],
            "patients": 80, "positive_patients": 30, "assessable_patients": 80, "refused_recordings": 2,
            "recordings": 320, "auc": 0.9, "auc_ci95": [0.86, 0.94], "sensitivity": 0.8,
            "sensitivity_ci95": [0.72, 0.87], "specificity": 0.9, "specificity_ci95": [0.85, 0.94]}
# Too few patients to count (as the first adult validation may be).
SMALL_ADULTS = {**DETECTOR, "patients": 11, "positive_patients": 3, "sensitivity": 0.67,
                "sensitivity_ci95": [0.2, 1.0], "specificity": 0.88, "specificity_ci95": [0.6, 1.0]}
CHILDREN = {**DETECTOR, "dataset": "fixture children", "age_range": [0, 16], "patients": 38,
            "positive_patients": 12, "sensitivity": 0.94, "sensitivity_ci95": [0.83, 0.98], "specificity": 0.91,
            "specificity_ci95": [0.86, 0.95]}


def detector_block(adults=DETECTOR, **populations):
    """A patient-level validation block in the issue-24 shape."""
    block = {"unit": "patient", "ci_method": "patient_cluster_bootstrap", "bootstrap": {"replicates": 200, "seed": 0},
             "patient_rule": "a site's finding is the maximum over its accepted recordings", "threshold": 0.5,
             "populations": {**populations}}
    if adults is not None:
        block["populations"]["adults"] = adults
    return block


# The old, recording-level block (no ``unit``): read without error, never counted.
RECORDING_LEVEL = {"dataset": "fixture recordings", "patients": 80, "recordings": 400, "auc": 0.9,
                   "auc_ci95": [0.86, 0.94], "threshold": 0.5, "sensitivity": 0.8, "sensitivity_ci95": [0.72, 0.87],
                   "specificity": 0.9, "specificity_ci95": [0.85, 0.94]}
CRACKLE_ENTRY = {"name": "auscultation", "threshold": 0.5, "validation": detector_block(),
                 "validation_status": REAL_STATUS}
UNVALIDATED_ENTRY = {"name": "auscultation", "threshold": 0.5, "validation_status": STATUS}
RECORDING_LEVEL_ENTRY = {**UNVALIDATED_ENTRY, "validation": RECORDING_LEVEL}
# A lab model validated per patient in adults (counts) and the synthetic one (never counts).
LABS_ENTRY = {"name": "labs", "training_data": {"kind": "real", "prevalence": 0.29},
              "metrics": {"xgboost": {"auc": 0.88, "auc_95ci": [0.87, 0.89]}}, "validation_status": REAL_STATUS,
              "validation": {"unit": "patient", "ci_method": "patient_cluster_bootstrap",
                             "populations": {"adults": {"patients": 400, "positive_patients": 120, "auc": 0.88,
                                                        "auc_ci95": [0.87, 0.89]}}}}
SYNTHETIC_LABS_ENTRY = {"name": "labs", "training_data": {"kind": "synthetic", "prevalence": 0.29},
                        "metrics": {"xgboost": {"auc": 0.88, "auc_95ci": [0.87, 0.89]}}, "validation_status": STATUS}
