"""The hospital's reference CT quantification service: referral API, DICOMweb ingestion, lung density metrics."""
