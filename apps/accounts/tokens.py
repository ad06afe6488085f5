"""JWT pairs that carry the active tenant (`tenant` claim = slug). Roles are never in tokens: they are looked up
per request, so a role change or a removal takes effect at once.

Access tokens end with their session too, not up to `ACCESS_TOKEN_LIFETIME` later: every token carries the
user's `token_version` (`tv`, raised by a password change or reset: all sessions end) and a session id (`sid`,
the first refresh token's jti, kept through rotations; logout puts it on a denylist in the global cache for as
long as an access token of it can live). Both are checked on every request; the user row is read per request
anyway.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import caches
from django.db.models import F
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts import access_cache, quotas
from apps.accounts.models import Tenant, User

_ENDED = "jwt-session-ended:{sid}"


def token_pair(*, user: User, tenant: Tenant | None) -> dict:
    refresh = RefreshToken.for_user(user)
    refresh["tenant"] = tenant.slug if tenant else None
    refresh["tv"] = user.token_version
    refresh["sid"] = refresh["jti"]
    return {"access": str(refresh.access_token), "refresh": str(refresh), "tenant": tenant.slug if tenant else None}


def tokens_revoke_all(*, user: User) -> int:
    """Ends every session of the user: access tokens at once (a new token version), refresh tokens blacklisted."""
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    access_cache.access_changed()  # an update bypasses the signals
    user.token_version = User.objects.values_list("token_version", flat=True).get(pk=user.pk)
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(outstanding)


def session_ended_key(sid: str) -> str:
    """The global cache's key that marks the session ended."""
    return _ENDED.format(sid=sid)


def session_end(*, refresh: RefreshToken) -> None:
    """Logout: the refresh token is blacklisted and the access tokens of its session stop working now."""
    refresh.blacklist()
    sid = refresh.get("sid")
    if sid:
        lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
        caches["global"].set(session_ended_key(sid), 1, timeout=int(lifetime.total_seconds()) + 60)  # type: ignore[attr-defined]
        access_cache.session_ended(sid)  # every process's cached answer for it goes


class TenantJWTAuthentication(JWTAuthentication):
    """simplejwt's Bearer JWT, leaving `bzs_` API keys to their own authentication class, refusing the tokens of
    sessions that ended (logout, password change or reset)."""

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None or raw.startswith(b"bzs_"):
            return None
        # the tenant middleware validated this very token a moment ago (apps.accounts.access): not twice
        seen = getattr(getattr(request, "_request", request), "_access_token", None)
        validated = seen[1] if seen is not None and seen[0] == raw.decode() else self.get_validated_token(raw)
        return self.get_user(validated), validated

    def get_user(self, validated_token):
        user_id = validated_token.get(jwt_settings.USER_ID_CLAIM)
        if user_id is None or not isinstance(user_id, str | int):
            return super().get_user(validated_token)  # its error for a token without a user
        user = access_cache.lookup(
            ("user", user_id), lambda: User.objects.filter(**{jwt_settings.USER_ID_FIELD: user_id}).first()
        )
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if validated_token.get("tv", 0) != user.token_version:
            raise AuthenticationFailed("This session has ended. Please log in again.", code="token_revoked")
        sid = validated_token.get("sid")
        if sid and _session_ended(sid):
            raise AuthenticationFailed("This session has ended. Please log in again.", code="token_revoked")
        return user


def _session_ended(sid: str) -> bool:
    """Whether logout ended the session. Redis being unreachable fails open (the token's own expiry still holds)
    and pauses these reads as the quota counters do, so that requests do not each wait for a connect timeout."""
    return access_cache.lookup(("session_ended", sid), lambda: _session_mark(sid))


def _session_mark(sid: str) -> bool:
    if time.monotonic() < quotas._redis_down_until:
        access_cache.keep_nothing()  # failing open: this answer is for this request only
        return False
    try:
        cache = caches["global"]
        return bool(cache.client.get_client(write=False).exists(cache.make_key(session_ended_key(sid))))  # type: ignore[attr-defined]
    except Exception as exc:  # any cache failure: a configuration without it, a dead Redis
        quotas._redis_failed(exc)
        access_cache.keep_nothing()
        return False
