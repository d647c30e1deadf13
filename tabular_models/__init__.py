"""Lab panels (LOINC, units, plausibility), e-nose signal processing and their models."""
