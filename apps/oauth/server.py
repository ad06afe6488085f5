"""The authorization server for MCP clients, built on Authlib's RFC implementations: the authorization code grant
with PKCE (RFC 7636, S256 only, required of every client), refresh tokens rotated on every use with reuse
detection, dynamic client registration (RFC 7591), revocation (RFC 7009) and resource indicators (RFC 8707: every
code and token is bound to the one resource this server protects, the gateway's `/mcp/`).

What Authlib leaves to the application is here: storage (hashes only), which tenant a consent was for, who may
still use it, and the audit trail.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint
from authlib.oauth2.rfc7591.errors import InvalidClientMetadataError, InvalidRedirectURIError
from authlib.oauth2.rfc7636 import CodeChallenge
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.accounts.client import client_ip
from apps.oauth import services
from apps.oauth.models import OAuthAuthorizationCode, OAuthClient, OAuthGrant, OAuthToken, token_hash

SCOPE = "mcp"
ACCESS_PREFIX = "bzo_at_"
REFRESH_PREFIX = "bzo_rt_"
CODE_TTL = timedelta(minutes=10)
PUBLIC_AND_SECRET_METHODS = ["none", "client_secret_post", "client_secret_basic"]


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the resource is not one this server issues tokens for."""

    error = "invalid_target"


def issuer() -> str:
    return settings.GATEWAY_URL.rstrip("/")


def mcp_resource() -> str:
    return f"{issuer()}/mcp/"


def resource_matches(value: str | None) -> bool:
    return bool(value) and value.rstrip("/") == mcp_resource().rstrip("/")  # type: ignore[union-attr]


def metadata() -> dict:
    """The authorization server's metadata (RFC 8414)."""
    base = issuer()
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "registration_endpoint": f"{base}/oauth/register",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": PUBLIC_AND_SECRET_METHODS,
        "revocation_endpoint_auth_methods_supported": PUBLIC_AND_SECRET_METHODS,
        "scopes_supported": [SCOPE],
    }


def protected_resource_metadata() -> dict:
    """The MCP server's protected resource metadata (RFC 9728)."""
    return {
        "resource": mcp_resource(),
        "authorization_servers": [issuer()],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
        "resource_name": "BizOSaaS MCP server",
    }


def _requested_resource(request) -> str | None:
    values = request.payload.datalist.get("resource", [])
    if len(values) > 1:
        raise InvalidTargetError("Only one 'resource' may be requested.")
    return values[0] if values else None


class S256CodeChallenge(CodeChallenge):
    """PKCE as OAuth 2.1 has it: a challenge on every authorization request, S256 only."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        payload = grant.request.payload.data
        if not payload.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE (S256) is required.")
        if payload.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        return super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        return super().validate_code_verifier(grant, result)


def _validate_authorization_resource(grant, redirect_uri):
    if not resource_matches(_requested_resource(grant.request)):
        raise InvalidTargetError(f"'resource' must be {mcp_resource()}.")


def _validate_token_resource(grant, result=None):
    requested = _requested_resource(grant.request)
    if requested is not None and not resource_matches(requested):
        raise InvalidTargetError(f"'resource' must be {mcp_resource()}.")


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = PUBLIC_AND_SECRET_METHODS

    def __init__(self, request, server):
        super().__init__(request, server)
        self.register_hook("after_validate_authorization_request_payload", _validate_authorization_resource)
        self.register_hook("after_validate_token_request", _validate_token_resource)

    def save_authorization_code(self, code, request):
        tenant = request.bzs_tenant
        grant = services.grant_for_consent(client=request.client, user=request.user, tenant=tenant, scope=request.scope)
        OAuthAuthorizationCode.objects.create(
            code_hash=token_hash(code),
            client=request.client,
            user=request.user,
            tenant=tenant,
            grant=grant,
            scope=request.scope,
            resource=mcp_resource(),
            redirect_uri=request.payload.redirect_uri or request.client.get_default_redirect_uri(),
            code_challenge=request.payload.data["code_challenge"],
            code_challenge_method="S256",
            expires_at=timezone.now() + CODE_TTL,
        )

    def query_authorization_code(self, code, client):
        item = (
            OAuthAuthorizationCode.objects.select_for_update()
            .select_related("user", "tenant", "grant")
            .filter(code_hash=token_hash(code), client=client)
            .first()
        )
        if item is None:
            return None
        if item.used_at is not None:
            # RFC 6749 §4.1.2: a code presented twice is refused, and what was issued from it is revoked
            services.tokens_revoke_for_code(code=item, reason="authorization code reused")
            return None
        if item.expires_at <= timezone.now() or item.grant.revoked_at is not None:
            return None
        return item

    def delete_authorization_code(self, authorization_code):
        authorization_code.used_at = timezone.now()
        authorization_code.save(update_fields=["used_at"])

    def authenticate_user(self, authorization_code):
        if not services.may_use(user=authorization_code.user, tenant=authorization_code.tenant):
            return None
        return authorization_code.user


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = PUBLIC_AND_SECRET_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: each refresh token works once

    def validate_token_request(self):
        super().validate_token_request()
        _validate_token_resource(self)

    def authenticate_refresh_token(self, refresh_token):
        item = (
            OAuthToken.objects.select_for_update()
            .select_related("user", "tenant", "grant", "client")
            .filter(refresh_token_hash=token_hash(refresh_token))
            .first()
        )
        if item is None:
            return None
        if item.rotated_at is not None:
            # RFC 9700 §4.14.2: a refresh token used twice was stolen or replayed; end the whole family
            services.family_revoke(family_id=item.family_id, reason="refresh token reused")
            return None
        if item.revoked_at is not None or item.grant.revoked_at is not None:
            return None
        if item.refresh_expires_at is None or item.refresh_expires_at <= timezone.now():
            return None
        if not services.may_use(user=item.user, tenant=item.tenant):
            return None
        return item

    def authenticate_user(self, refresh_token):
        return refresh_token.user

    def revoke_old_credential(self, refresh_token):
        refresh_token.rotated_at = timezone.now()
        refresh_token.revoked_at = refresh_token.revoked_at or refresh_token.rotated_at
        refresh_token.save(update_fields=["rotated_at", "revoked_at"])


class TokenRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = PUBLIC_AND_SECRET_METHODS

    def query_token(self, token_string, token_type_hint):
        digest = token_hash(token_string)
        return (
            OAuthToken.objects.select_related("grant", "tenant", "client")
            .filter(Q(access_token_hash=digest) | Q(refresh_token_hash=digest))
            .first()
        )

    def revoke_token(self, token, request):
        services.token_revoke(token=token)


def _redirect_uri_allowed(uri: str) -> bool:
    """https anywhere, or plain http to this machine (a desktop client's loopback listener, RFC 8252 §7.3)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.fragment or not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class RegistrationEndpoint(ClientRegistrationEndpoint):
    """Open registration (the MCP authorization specification expects clients to register themselves): anyone may
    register, throttled per address by the view; a client is only a name and its redirect URIs until a person
    consents."""

    def authenticate_token(self, request):
        return True  # no initial access token (RFC 7591 §3)

    def get_server_metadata(self):
        return metadata()

    def extract_client_metadata(self, request):
        data = request.payload.data
        if not isinstance(data, dict):
            raise InvalidClientMetadataError("The body must be a JSON object of client metadata.")
        uris = data.get("redirect_uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(uri, str) for uri in uris):
            raise InvalidRedirectURIError("'redirect_uris' must be a non-empty list of URIs.")
        if len(uris) > 10 or any(len(uri) > 2000 for uri in uris):
            raise InvalidRedirectURIError("At most 10 redirect URIs of at most 2000 characters each.")
        for uri in uris:
            if not _redirect_uri_allowed(uri):
                raise InvalidRedirectURIError(f"{uri!r}: a redirect URI must use https, or http to a loopback address.")
        for field in ("client_name", "client_uri", "scope", "token_endpoint_auth_method"):
            if field in data and not isinstance(data[field], str):
                raise InvalidClientMetadataError(f"'{field}' must be a string.")
        if len(data.get("client_name") or "") > 200:
            raise InvalidClientMetadataError("'client_name' is at most 200 characters.")
        if len(data.get("client_uri") or "") > 500:
            raise InvalidClientMetadataError("'client_uri' is at most 500 characters.")
        client_metadata = super().extract_client_metadata(request)
        grant_types = client_metadata.get("grant_types") or ["authorization_code"]
        if "authorization_code" not in grant_types:
            raise InvalidClientMetadataError("'grant_types' must include 'authorization_code'.")
        client_metadata["grant_types"] = grant_types
        client_metadata["response_types"] = client_metadata.get("response_types") or ["code"]
        client_metadata["scope"] = client_metadata.get("scope") or SCOPE
        return client_metadata

    def generate_client_secret(self, request):
        auth_method = (request.payload.data or {}).get("token_endpoint_auth_method", "client_secret_basic")
        return None if auth_method == "none" else generate_token(48)

    def save_client(self, client_info, client_metadata, request):
        return OAuthClient.objects.create(
            client_id=client_info["client_id"],
            client_secret_hash=token_hash(client_info["client_secret"]) if client_info["client_secret"] else "",
            client_name=client_metadata.get("client_name", ""),
            client_uri=client_metadata.get("client_uri", ""),
            redirect_uris=client_metadata["redirect_uris"],
            grant_types=client_metadata["grant_types"],
            response_types=client_metadata["response_types"],
            token_endpoint_auth_method=client_metadata["token_endpoint_auth_method"],
            scope=client_metadata["scope"],
            registered_ip=client_ip(request.bzs_django_request),
        )

    def create_endpoint_request(self, request):
        json_request = super().create_endpoint_request(request)
        json_request.bzs_django_request = request
        return json_request

    def create_registration_response(self, request):
        status, body, headers = super().create_registration_response(request)
        if body.get("client_secret") is None:
            body.pop("client_secret", None)
            body.pop("client_secret_expires_at", None)
        return status, body, headers


class Server(AuthorizationServer):
    def __init__(self):
        super().__init__(OAuthClient, OAuthToken)
        self.scopes_supported = [SCOPE]

    def query_client(self, client_id):
        if not isinstance(client_id, str) or len(client_id) > 64:
            return None
        return OAuthClient.objects.filter(client_id=client_id, disabled_at__isnull=True).first()

    def create_bearer_token_generator(self):
        def access(**_kwargs):
            return ACCESS_PREFIX + generate_token(43)

        def refresh(**_kwargs):
            return REFRESH_PREFIX + generate_token(48)

        return BearerTokenGenerator(
            access_token_generator=access,
            refresh_token_generator=refresh,
            expires_generator=lambda client, grant_type: settings.OAUTH_ACCESS_TOKEN_SECONDS,
        )

    def save_token(self, token, request):
        now = timezone.now()
        code = getattr(request, "authorization_code", None)
        previous = getattr(request, "refresh_token", None)
        source = code or previous
        grant: OAuthGrant = source.grant  # type: ignore[union-attr]
        item = OAuthToken.objects.create(
            grant=grant,
            client=request.client,
            user=source.user,  # type: ignore[union-attr]
            tenant=source.tenant,  # type: ignore[union-attr]
            authorization_code=code if code is not None else previous.authorization_code,  # type: ignore[union-attr]
            family_id=previous.family_id if previous is not None else uuid.uuid4(),
            access_token_hash=token_hash(token["access_token"]),
            refresh_token_hash=token_hash(token["refresh_token"]) if token.get("refresh_token") else None,
            scope=token.get("scope", ""),
            resource=mcp_resource(),
            expires_at=now + timedelta(seconds=token["expires_in"]),
            refresh_expires_at=now + timedelta(days=settings.OAUTH_REFRESH_TOKEN_DAYS)
            if token.get("refresh_token")
            else None,
        )
        if code is not None:
            services.token_issued(token=item)
        return item


server = Server()
server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
server.register_grant(RefreshTokenGrant)
server.register_endpoint(RegistrationEndpoint())  # type: ignore[arg-type]
server.register_endpoint(TokenRevocationEndpoint())
