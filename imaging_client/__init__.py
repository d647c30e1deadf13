"""Edge to hospital: FHIR referral, delivery with retry, result polling."""
