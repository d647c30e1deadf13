"""Manifest entries the evidence tests run on: fixtures, never the shipped numbers.

``DETECTOR`` has the shape of the ``validation`` block the retrained crackle model will carry
(issue 13); the shipped v0.1.0 entry has none.
"""
STATUS = {"synthetic": True, "clinically_validated": False, "training_population": "test fixture",
          "statement": "Test fixture; not for clinical use."}
DETECTOR = {"dataset": "fixture recordings", "patients": 80, "recordings": 400,
            "positive": "recording contains expert-annotated fine crackles", "auc": 0.9, "auc_ci95": [0.86, 0.94],
            "threshold": 0.5, "sensitivity": 0.8, "sensitivity_ci95": [0.72, 0.87], "specificity": 0.9,
            "specificity_ci95": [0.85, 0.94]}
CRACKLE_ENTRY = {"name": "auscultation", "threshold": 0.5, "validation": DETECTOR, "validation_status": STATUS}
UNVALIDATED_ENTRY = {"name": "auscultation", "threshold": 0.5, "validation_status": STATUS}
LABS_ENTRY = {"name": "labs", "training_data": {"prevalence": 0.29},
              "metrics": {"xgboost": {"auc": 0.88, "auc_95ci": [0.87, 0.89]}}, "validation_status": STATUS}
