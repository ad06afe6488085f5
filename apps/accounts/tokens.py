"""JWT pairs that carry the active tenant (`tenant` claim = slug). Roles are never in tokens: they are looked up
per request, so a role change or a removal takes effect at once."""

from __future__ import annotations

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.models import Tenant, User


def token_pair(*, user: User, tenant: Tenant | None) -> dict:
    refresh = RefreshToken.for_user(user)
    refresh["tenant"] = tenant.slug if tenant else None
    return {"access": str(refresh.access_token), "refresh": str(refresh), "tenant": tenant.slug if tenant else None}


def tokens_revoke_all(*, user: User) -> int:
    """Blacklists every outstanding refresh token of the user (password change/reset: all sessions end)."""
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(outstanding)


class TenantJWTAuthentication(JWTAuthentication):
    """simplejwt's Bearer JWT, leaving `bzs_` API keys to their own authentication class."""

    def authenticate(self, request):
        header = self.get_header(request)
        if header is not None:
            parts = header.split()
            if len(parts) == 2 and parts[1].startswith(b"bzs_"):
                return None
        return super().authenticate(request)
