"""The referral client's errors, sorted into the two kinds the outbox needs: ``DeliveryUnavailable`` (try
again later: no connection, timeout, HTTP 5xx or 429) and ``ReferralRejected`` (the server refused the
referral itself: fixing it needs a person).

Standard library only: the outbox sorts delivery errors with them, and a command that only reads the
outbox (``ildscreen outbox status``) imports no HTTP library (``imaging_client.client`` does).
"""


class ReferralDeliveryError(Exception):
    """Base of the referral client's errors."""


class DeliveryUnavailable(ReferralDeliveryError):
    """The server could not be reached or could not answer now; retrying later may succeed."""


class ReferralRejected(ReferralDeliveryError):
    """The server answered that this referral (or our credentials) is not acceptable."""
