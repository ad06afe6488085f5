"""Sign-in throttles: per client address (from trusted proxies only) and per account, in keys shared by every host.

The default cache prefixes keys with the schema the request resolved, which would make the "per account" bucket
one per (tenant domain, account): these throttles use the `global` cache, whose keys carry no schema.
"""

from __future__ import annotations

import hashlib

from django.core.cache import caches
from django.http import HttpResponse
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from apps.accounts.client import client_ip


def _field(request, name: str) -> str:
    """A body field as a string, whatever the body was (a JSON array or a number is no account)."""
    data = getattr(request, "data", None)
    if data is None:
        data = request.POST
    if not hasattr(data, "get"):
        return ""
    value = data.get(name, "")
    return value.strip().lower() if isinstance(value, str) else ""


class _GlobalKeys:
    @property
    def cache(self):  # looked up per use: settings may change the caches after import
        return caches["global"]

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"


class ClientScopedThrottle(_GlobalKeys, ScopedRateThrottle):  # type: ignore[override]
    """DRF's per-scope throttle, per client address as the trusted proxies report it."""


class _AccountThrottle(_GlobalKeys, SimpleRateThrottle):  # type: ignore[override]
    """Attempts against one account, whatever the number of source addresses or hosts asked."""

    field = "email"

    def get_cache_key(self, request, view):
        value = _field(request, self.field)
        if not value:
            return None
        ident = hashlib.sha256(value.encode()).hexdigest()  # no email addresses in cache keys
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginEmailThrottle(_AccountThrottle):
    scope = "login_email"


class PasswordResetEmailThrottle(_AccountThrottle):
    """Reset mails to one account: the per-address limit alone lets rotating addresses flood one inbox."""

    scope = "password_reset_email"


class InvitationTokenThrottle(_AccountThrottle):
    """Password guesses against one invitation (accepting with an existing account's password)."""

    scope = "login_email"
    field = "token"


class AdminLoginAddressThrottle(_GlobalKeys, SimpleRateThrottle):  # type: ignore[override]
    scope = "admin_login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class OAuthRegisterThrottle(_GlobalKeys, SimpleRateThrottle):  # type: ignore[override]
    """Dynamic client registration (apps.oauth) is open to anyone: bounded per address."""

    scope = "oauth_register"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AdminLoginAccountThrottle(_AccountThrottle):
    scope = "admin_login_email"
    field = "username"  # the admin form's name for the email address


def admin_login_throttled(login_view):
    """Wraps the console's login view: a sign-in attempt over either limit answers 429 and is not checked."""

    def view(request, *args, **kwargs):
        if request.method == "POST":
            for throttle in (AdminLoginAddressThrottle(), AdminLoginAccountThrottle()):
                if not throttle.allow_request(request, None):  # type: ignore[arg-type]
                    wait = throttle.wait()
                    response = HttpResponse(
                        "Too many sign-in attempts. Please wait before trying again.\n",
                        status=429,
                        content_type="text/plain; charset=utf-8",
                    )
                    if wait is not None:
                        response["Retry-After"] = str(max(1, int(wait)))
                    return response
        return login_view(request, *args, **kwargs)

    return view
