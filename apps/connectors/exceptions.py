"""Typed failures of provider calls. The API maps them: bad credentials -> 400, provider down -> 502."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class; `message` is safe to show a user (it never contains credentials)."""

    status_code = 502
    code = "connector_error"

    def __init__(self, message: str, *, provider_status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.provider_status = provider_status
        self.retry_after = retry_after


class ConfigurationError(ConnectorError):
    status_code = 400
    code = "invalid_configuration"


class BlockedHostError(ConfigurationError):
    code = "blocked_host"


class AuthenticationError(ConnectorError):
    """The provider rejected the credentials (401/403)."""

    status_code = 400
    code = "bad_credentials"


class NeedsReauthError(AuthenticationError):
    code = "needs_reauth"


class NotFoundError(ConnectorError):
    status_code = 404
    code = "provider_not_found"


class ProviderRequestError(ConnectorError):
    """The provider refused the request as invalid (4xx other than auth and rate limits)."""

    status_code = 400
    code = "provider_rejected"


class RateLimitedError(ConnectorError):
    status_code = 503
    code = "rate_limited"


class ProviderUnavailableError(ConnectorError):
    """5xx, timeouts or connection failures after the retries."""

    status_code = 502
    code = "provider_unavailable"


class BadResponseError(ConnectorError):
    """The provider answered with something that is not what its contract promises (e.g. malformed JSON)."""

    status_code = 502
    code = "bad_provider_response"
