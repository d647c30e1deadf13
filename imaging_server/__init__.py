"""The hospital's reference CT quantification service: referral API, DICOMweb ingestion, lung density metrics."""

ALGORITHM_NAME = "ildscreen-ct-quant"
ALGORITHM_VERSION = "0.1.0"
DISCLAIMER = "Not for clinical use until validated."
