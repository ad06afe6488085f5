"""Writes and live calls on connections: create/update/delete, test, read through, act, OAuth, health.

Every call runs in the caller's tenant schema (set by the request middleware, or by schema_context in jobs).
Credentials are decrypted only inside these functions and never leave them except to the provider.
"""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts import quotas
from apps.accounts.audit.services import Actor, audit_record, diff
from apps.accounts.models import Tenant
from apps.connectors.base import ConnectionContext, Page, Provider, url_origin, window_date
from apps.connectors.exceptions import ConnectorError, NeedsReauthError
from apps.connectors.http import ProviderHTTP
from apps.connectors.models import Connection, ConnectionCheck, OAuthState
from apps.connectors.registry import registry
from apps.connectors.runtime import open_context
from bizosaas.metrics import OAUTH_REFRESH_FAILURES
from bizosaas.tenancy import current_schema

OAUTH_STATE_TTL = timedelta(minutes=10)
OAUTH_SALT = "bizosaas.connectors.oauth"
TOKEN_KEYS = ("access_token", "refresh_token", "expires_at", "token_type", "scope")
REFRESH_AHEAD_SECONDS = 120


def provider_for(key: str) -> type[Provider]:
    provider = registry.get(key)
    if provider is None:
        raise ValidationError({"provider": [f"Unknown connector {key!r}."]})
    return provider


def _secret_names(provider: type[Provider]) -> frozenset[str]:
    return frozenset(f.name for f in provider.config_fields if f.secret)


# --- configuration -------------------------------------------------------------------------------------------


@transaction.atomic
def connection_create(
    *, tenant: Tenant, actor: Actor, user_id: int | None, provider: str, name: str, config: dict
) -> Connection:
    spec = provider_for(provider)
    errors: dict = {}
    if not name or not name.strip():
        errors["name"] = ["This field may not be blank."]
    try:
        clean, secret_values = spec.clean_config(config)
    except ValidationError as exc:
        errors.update({f"config.{key}": value for key, value in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    quotas.check_capacity(tenant, "connections")
    connection = Connection.objects.create(
        provider=provider, name=name.strip(), config=clean, credentials=secret_values, created_by_id=user_id
    )
    audit_record(
        tenant=tenant,
        actor=actor,
        action="connection.created",
        obj=connection,
        changes={"provider": provider, "config": clean, "secrets_set": sorted(secret_values)},
    )
    return connection


@transaction.atomic
def connection_update(
    *, tenant: Tenant, actor: Actor, connection: Connection, name: str | None = None, config: dict | None = None
) -> Connection:
    spec = provider_for(connection.provider)
    before = {"name": connection.name, **connection.config}
    changed_secrets: list[str] = []
    if name is not None:
        if not name.strip():
            raise ValidationError({"name": ["This field may not be blank."]})
        connection.name = name.strip()
    if config is not None:
        try:
            clean, secret_values = spec.clean_config(config, partial=True)
        except ValidationError as exc:
            raise ValidationError({f"config.{key}": value for key, value in exc.message_dict.items()}) from None
        merged = {**connection.config, **clean}
        credentials = {**connection.credentials, **secret_values}
        if _destinations(spec, connection.config) != _destinations(spec, merged):
            credentials = _secrets_for_new_destination(spec, connection, credentials, supplied=secret_values)
        connection.config = merged
        changed_secrets = sorted(secret_values)
        connection.credentials = credentials
        if clean or secret_values:
            connection.status = Connection.Status.PENDING  # what was tested is no longer what is configured
    connection.save()
    _invalidate(connection)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="connection.updated",
        obj=connection,
        changes={
            **diff(before, {"name": connection.name, **connection.config}),
            **({"secrets_changed": changed_secrets} if changed_secrets else {}),
        },
    )
    return connection


def _destinations(spec: type[Provider], config: dict) -> frozenset:
    """The origins (scheme, host, port) a connection's credentials are sent to with this configuration: its API's
    base URL and, for OAuth, the token endpoint. A configuration the provider cannot place yet counts as itself,
    so any change of it is a change of destination."""
    urls = []
    try:
        urls.append(spec().base_url(config))
        if spec.auth.type == "oauth2" and spec.auth.oauth2 is not None:
            urls.append(_oauth_endpoints(spec, config)[1])
    except Exception:  # an incomplete or invalid configuration: compare it whole
        return frozenset({("config", json.dumps(config, sort_keys=True, default=str))})
    return frozenset(url_origin(url) for url in urls)


def _inbound_only(spec: type[Provider]) -> frozenset[str]:
    """Secrets that only check what the platform sends us (webhook signing secrets, a webhook user's password):
    they are never sent anywhere, so a new address does not ask for them."""
    return frozenset(name for name in _secret_names(spec) if name.startswith("webhook_"))


def _secrets_for_new_destination(
    spec: type[Provider], connection: Connection, credentials: dict, *, supplied: dict
) -> dict:
    """The credentials to keep when a connection now points elsewhere: a stored secret is never sent to a new
    address, so each one set must come again with the change (400 naming each field otherwise); OAuth tokens,
    issued for the old address, are dropped (the connection is authorised again)."""
    missing = sorted(
        name
        for name in _secret_names(spec) - _inbound_only(spec)
        if connection.credentials.get(name) and name not in supplied
    )
    if missing:
        raise ValidationError(
            {
                f"config.{name}": [
                    "Enter it again: the connection now points at another address, and a stored secret is never "
                    "sent to a new one."
                ]
                for name in missing
            }
        )
    return {key: value for key, value in credentials.items() if key not in TOKEN_KEYS}


@transaction.atomic
def connection_delete(*, tenant: Tenant, actor: Actor, connection: Connection) -> None:
    audit_record(
        tenant=tenant,
        actor=actor,
        action="connection.deleted",
        obj=connection,
        changes={"provider": connection.provider, "name": connection.name},
    )
    _invalidate(connection)
    connection.delete()


# --- live calls ----------------------------------------------------------------------------------------------


@contextmanager
def connection_context(connection: Connection, *, tenant: Tenant | None = None):
    """The provider and its authenticated client; OAuth tokens are refreshed ahead of expiry and once on 401."""
    spec = provider_for(connection.provider)
    provider = spec()
    if spec.auth.type == "oauth2" and connection.credentials.get("refresh_token"):
        expires_at = connection.credentials.get("expires_at")
        if expires_at and float(expires_at) - time.time() < REFRESH_AHEAD_SECONDS:
            _oauth_refresh(connection, tenant=tenant)

    def on_unauthorized(ctx: ConnectionContext) -> bool:
        if spec.auth.type != "oauth2" or not connection.credentials.get("refresh_token"):
            return False
        _oauth_refresh(connection, tenant=tenant)
        ctx.credentials = dict(connection.credentials)
        return True

    ctx = open_context(
        provider,
        config=dict(connection.config),
        credentials=dict(connection.credentials),
        connection_key=f"{current_schema()}:{connection._meta.db_table}:{connection.pk}",
        on_unauthorized=on_unauthorized,
    )
    try:
        yield ctx
    finally:
        ctx.http.close()


def connection_test(
    *, connection: Connection, tenant: Tenant | None = None, trigger: str = "manual"
) -> ConnectionCheck:
    """Runs the provider's cheap authenticated call and records the outcome (status, latency, error)."""
    started = time.perf_counter()
    error = ""
    status = Connection.Status.ACTIVE
    try:
        with connection_context(connection, tenant=tenant) as ctx:
            ctx.provider.check(ctx)
    except NeedsReauthError as exc:
        error, status = exc.message, Connection.Status.NEEDS_REAUTH
    except ConnectorError as exc:
        error, status = exc.message, Connection.Status.ERROR
    latency = int((time.perf_counter() - started) * 1000)
    check = ConnectionCheck.objects.create(
        connection=connection, ok=not error, latency_ms=latency, error=error, trigger=trigger
    )
    Connection.objects.filter(pk=connection.pk).update(
        status=status, last_checked_at=check.checked_at, last_latency_ms=latency, last_error=error
    )
    connection.refresh_from_db()
    return check


def _cache_version(connection: Connection) -> int:
    return cache.get_or_set(f"connector:v:{connection.pk}", 1, timeout=None) or 1


def _invalidate(connection: Connection) -> None:
    try:
        cache.incr(f"connector:v:{connection.pk}")
    except ValueError:
        cache.set(f"connector:v:{connection.pk}", 2, timeout=None)


def connection_read(
    *,
    connection: Connection,
    resource: str,
    cursor: str | None,
    limit: int,
    fresh: bool = False,
    tenant: Tenant | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> tuple[Page, bool]:
    """A page of normalised records, live; cached per tenant (the cache key carries the schema) and connection
    for CONNECTOR_CACHE_TTL seconds. Returns (page, served_from_cache). `since`/`until` (whole days, inclusive)
    filter by date through the provider's API, and only on a resource that declares a window."""
    spec = provider_for(connection.provider)
    resource_spec = spec.resource(resource)
    if resource_spec is None:
        raise ValidationError(
            {"resource": [f"{spec.name} has no resource {resource!r}: {', '.join(r.name for r in spec.resources)}."]}
        )
    if not 1 <= limit <= 500:
        raise ValidationError({"limit": ["Between 1 and 500."]})
    since, until = window_date(since), window_date(until)
    window: dict[str, date] = {}
    if since is not None or until is not None:
        if not resource_spec.window:
            message = f"{spec.name} cannot filter {resource} by date."
            raise ValidationError({name: [message] for name, value in (("since", since), ("until", until)) if value})
        if since is not None and until is not None and since > until:
            raise ValidationError({"until": ["Must not be before since."]})
        window = {name: value for name, value in (("since", since), ("until", until)) if value is not None}
    key = (
        f"connector:read:{connection.pk}:{_cache_version(connection)}:{resource}:{cursor or ''}:{limit}"
        f":{since or ''}:{until or ''}"
    )
    if not fresh:
        cached = cache.get(key)
        if cached is not None:
            return cached, True
    with connection_context(connection, tenant=tenant) as ctx:
        # the window goes only to resources that declare one, so providers without windows keep their signature
        page = ctx.provider.read(ctx, resource, cursor=cursor, limit=limit, **window)
    cache.set(key, page, timeout=settings.CONNECTOR_CACHE_TTL)
    return page, False


def connection_perform(*, tenant: Tenant, actor: Actor, connection: Connection, action: str, payload: dict) -> dict:
    spec = provider_for(connection.provider)
    action_spec = spec.action(action)
    if action_spec is None:
        raise ValidationError(
            {"action": [f"{spec.name} has no action {action!r}: {', '.join(a.name for a in spec.actions)}."]}
        )
    try:
        clean = action_spec.clean(payload)
    except ValidationError as exc:
        raise ValidationError({f"input.{key}": value for key, value in exc.message_dict.items()}) from None
    with connection_context(connection, tenant=tenant) as ctx:
        before = (dict(ctx.config), dict(ctx.credentials))
        result = ctx.provider.perform(ctx, action, clean)
        connection_state_keep(connection=connection, ctx=ctx, before=before)
    _invalidate(connection)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="connection.action",
        obj=connection,
        changes={"action": action, "fields": sorted(clean), "result_id": (result or {}).get("id")},
    )
    return result


def connection_state_keep(*, connection: Connection, ctx: ConnectionContext, before: tuple[dict, dict]) -> None:
    """Keeps what a provider call set on the context (a notification channel it enabled in the config, the channel
    token it made up in the credentials): only the keys it changed, merged into the row as it is now (locked), so a
    concurrent settings change or token refresh is not overwritten."""
    config = {key: value for key, value in ctx.config.items() if before[0].get(key) != value}
    credentials = {key: value for key, value in ctx.credentials.items() if before[1].get(key) != value}
    if not config and not credentials:
        return
    with transaction.atomic():
        row = Connection.objects.select_for_update().get(pk=connection.pk)
        row.config = {**row.config, **config}
        row.credentials = {**row.credentials, **credentials}
        row.save(update_fields=["config", "credentials", "updated_at"])
    connection.config, connection.credentials = row.config, row.credentials


# --- OAuth2 --------------------------------------------------------------------------------------------------


def _oauth_endpoints(spec: type[Provider], config: dict) -> tuple[str, str]:
    oauth = spec.auth.oauth2
    assert oauth is not None  # the registry refuses an oauth2 provider without its OAuth2Spec
    overrides = settings.OAUTH_ENDPOINT_OVERRIDES.get(spec.key, {})
    authorize = overrides.get("authorize_url") or oauth.resolve(oauth.authorize_url, config)
    token = overrides.get("token_url") or oauth.resolve(oauth.token_url, config)
    return authorize, token


def oauth_redirect_uri() -> str:
    return f"{settings.GATEWAY_URL.rstrip('/')}/api/v1/oauth/callback/"


@transaction.atomic
def oauth_start(*, tenant: Tenant, connection: Connection, user_id: int) -> str:
    """The provider's authorisation URL. Its state is signed, names tenant + connection, and is single use."""
    spec = provider_for(connection.provider)
    if spec.auth.type != "oauth2":
        raise ValidationError({"connection": [f"{spec.name} does not use OAuth."]})
    client_id = connection.config.get("client_id")
    if not client_id or not connection.credentials.get("client_secret"):
        raise ValidationError({"config": ["Set client_id and client_secret first."]})
    oauth = spec.auth.oauth2
    assert oauth is not None  # auth.type is oauth2, so the registry made sure of its OAuth2Spec
    nonce = pysecrets.token_urlsafe(24)
    verifier = generate_token(64) if oauth.pkce else ""
    redirect_uri = oauth_redirect_uri()
    OAuthState.objects.create(
        nonce=nonce,
        connection=connection,
        user_id=user_id,
        secrets={"verifier": verifier},
        redirect_uri=redirect_uri,
        expires_at=timezone.now() + OAUTH_STATE_TTL,
    )
    state = signing.dumps({"t": tenant.slug, "c": connection.pk, "n": nonce}, salt=OAUTH_SALT)
    extra = dict(oauth.extra_authorize_params)
    if oauth.pkce:
        extra.update(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
    authorize_url, _token_url = _oauth_endpoints(spec, connection.config)
    return prepare_grant_uri(
        authorize_url,
        client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=oauth.scope_separator.join(oauth.scopes),
        state=state,
        **extra,
    )


def oauth_state_tenant(state: str) -> tuple[str, dict]:
    """(tenant slug, payload) of a state signed by us; raises ValidationError when forged or older than 10 min."""
    try:
        payload = signing.loads(state, salt=OAUTH_SALT, max_age=OAUTH_STATE_TTL)
    except signing.SignatureExpired:
        raise ValidationError({"state": ["This authorisation request has expired; start again."]}) from None
    except signing.BadSignature:
        raise ValidationError({"state": ["Invalid authorisation state."]}) from None
    return payload["t"], payload


def _token_request(spec: type[Provider], connection: Connection, form: dict) -> dict:
    _authorize, token_url = _oauth_endpoints(spec, connection.config)
    client_id, client_secret = connection.config.get("client_id", ""), connection.credentials.get("client_secret", "")
    oauth = spec.auth.oauth2
    assert oauth is not None  # only OAuth connections request tokens; the registry made sure of their OAuth2Spec
    basic = oauth.token_auth_method == "client_secret_basic"
    if not basic:
        form = {**form, "client_id": client_id, "client_secret": client_secret}
    with ProviderHTTP(
        provider=spec.key, base_url=token_url, basic_auth=(client_id, client_secret) if basic else None, max_retries=1
    ) as http:
        body = http.json("POST", token_url, data=form, idempotent=False)
    if not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
        raise ConnectorError(f"{spec.name} did not issue a token: {error or 'no access_token in the response'}")
    tokens = {"access_token": body["access_token"], "token_type": body.get("token_type", "Bearer")}
    if body.get("refresh_token"):
        tokens["refresh_token"] = body["refresh_token"]
    if body.get("expires_in"):
        tokens["expires_at"] = time.time() + float(body["expires_in"])
    if body.get("scope"):
        tokens["scope"] = body["scope"]
    if body.get("api_domain"):
        tokens["api_domain"] = body["api_domain"]
    return tokens


def _oauth_state_locked(payload: dict) -> OAuthState:
    state = OAuthState.objects.select_for_update().select_related("connection").filter(nonce=payload["n"]).first()
    if state is None or state.connection_id != payload["c"]:
        raise ValidationError({"state": ["Invalid authorisation state."]})
    return state


def _oauth_state_open(state: OAuthState) -> None:
    if state.used_at is not None:
        raise ValidationError({"state": ["This authorisation was already completed."]})
    if state.expires_at <= timezone.now():
        raise ValidationError({"state": ["This authorisation request has expired; start again."]})


@transaction.atomic
def oauth_code_receive(*, payload: dict, code: str) -> Connection:
    """The provider's redirect: keeps the code (encrypted, with the state) and changes nothing else. Whoever
    holds the browser that arrives here is not known to be the person who started; `oauth_complete` exchanges the
    code only for that person, signed in (otherwise a victim sent to an attacker's consent link would have their
    connection authorised with the attacker's account)."""
    state = _oauth_state_locked(payload)
    _oauth_state_open(state)
    if state.secrets.get("code"):
        raise ValidationError({"state": ["This authorisation was already completed."]})
    state.secrets = {**state.secrets, "code": code}
    state.save(update_fields=["secrets"])
    return state.connection


@transaction.atomic
def oauth_complete(*, tenant: Tenant, payload: dict, user_id: int) -> Connection:
    """Exchanges the received code for tokens, once, for the user who started the flow only. The state must be
    unused, unexpired and for this tenant's connection; a refusal changes nothing (the starter may still finish)."""
    state = _oauth_state_locked(payload)
    if state.user_id != user_id:
        raise ValidationError({"state": ["This authorisation was started by someone else."]})
    _oauth_state_open(state)
    code = state.secrets.get("code")
    if not code:
        raise ValidationError({"state": ["The provider has not sent this authorisation back yet."]})
    state.used_at = timezone.now()
    state.save(update_fields=["used_at"])
    connection = state.connection
    spec = provider_for(connection.provider)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": state.redirect_uri}
    if state.secrets.get("verifier"):
        form["code_verifier"] = state.secrets["verifier"]
    tokens = _token_request(spec, connection, form)
    connection.credentials = {**connection.credentials, **tokens}
    connection.status = Connection.Status.ACTIVE
    connection.last_error = ""
    connection.save(update_fields=["credentials", "status", "last_error", "updated_at"])
    _invalidate(connection)
    audit_record(
        tenant=tenant,
        actor=Actor("user", str(state.user_id), ""),
        action="connection.authorised",
        obj=connection,
        changes={"scope": tokens.get("scope", "")},
    )
    return connection


def _oauth_refresh(connection: Connection, *, tenant: Tenant | None) -> None:
    spec = provider_for(connection.provider)
    try:
        tokens = _token_request(
            spec, connection, {"grant_type": "refresh_token", "refresh_token": connection.credentials["refresh_token"]}
        )
    except ConnectorError as exc:
        OAUTH_REFRESH_FAILURES.labels(provider=spec.key).inc()
        Connection.objects.filter(pk=connection.pk).update(
            status=Connection.Status.NEEDS_REAUTH, last_error=exc.message
        )
        connection.status = Connection.Status.NEEDS_REAUTH
        if tenant is not None:
            audit_record(
                tenant=tenant,
                actor=Actor.system("oauth-refresh"),
                action="connection.needs_reauth",
                obj=connection,
                changes={"error": exc.message},
            )
        raise NeedsReauthError(
            f"{spec.name} refused to refresh the authorisation; reconnect it. ({exc.message})"
        ) from None
    connection.credentials = {**connection.credentials, **tokens}
    Connection.objects.filter(pk=connection.pk).update(credentials=connection.credentials)


def connections_check_all(*, tenant: Tenant, trigger: str, on_each=None) -> list[ConnectionCheck]:
    """Checks every connection of the current tenant schema (callers enter it); one failure never stops the rest."""
    checks = []
    for connection in Connection.objects.order_by("id"):
        checks.append(connection_test(connection=connection, tenant=tenant, trigger=trigger))
        if on_each:
            on_each(connection, checks[-1])
    return checks
