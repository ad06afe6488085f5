"""What a connector is: a static provider class declaring identity, auth, config fields, resources, actions and
webhook verification, plus the methods that do the work against a `ConnectionContext`."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from bizosaas.digits import ascii_digits

if TYPE_CHECKING:
    from apps.connectors.http import ProviderHTTP

CATEGORIES = ("cms", "crm", "ecommerce", "ads", "analytics", "email", "support")
FIELD_TYPES = ("string", "text", "url", "email", "integer", "boolean", "choice", "secret")
AUTH_TYPES = ("none", "api_key", "basic", "app_password", "token", "oauth2")


@dataclass(frozen=True)
class Field:
    """A typed setting a user fills in. `secret=True` fields are stored encrypted and never returned."""

    name: str
    label: str
    type: str = "string"
    required: bool = True
    secret: bool = False
    help: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    max_length: int = 2000

    def clean(self, value: Any) -> Any:
        if value is None or value == "":
            if self.required and self.default is None:
                raise ValidationError("This field is required.")
            return self.default
        if self.type in ("string", "text", "secret", "url", "email", "choice"):
            if not isinstance(value, str):
                raise ValidationError("Must be a string.")
            value = value.strip()
            if len(value) > self.max_length:
                raise ValidationError(f"At most {self.max_length} characters.")
        if self.type == "url":
            URLValidator(schemes=["https", "http"])(value)
            value = value.rstrip("/")
        elif self.type == "email":
            validate_email(value)
        elif self.type == "choice" and value not in self.choices:
            raise ValidationError(f"One of: {', '.join(self.choices)}.")
        elif self.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int | str) or not ascii_digits(str(value).lstrip("-")):
                raise ValidationError("Must be an integer.")
            value = int(value)
        elif self.type == "boolean" and not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "secret": self.secret,
            "help": self.help,
            "default": self.default,
            "choices": list(self.choices),
        }


@dataclass(frozen=True)
class OAuth2Spec:
    """Authorisation-code flow. URLs may name config fields in braces, e.g. `https://accounts.zoho.{region}/...`."""

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...] = ()
    pkce: bool = True
    scope_separator: str = " "
    token_auth_method: str = "client_secret_post"  # or client_secret_basic
    extra_authorize_params: dict[str, str] = field(default_factory=dict)

    def resolve(self, url: str, config: dict) -> str:
        return url.format(**{key: value for key, value in config.items() if isinstance(value, str)})


@dataclass(frozen=True)
class AuthSpec:
    type: str
    oauth2: OAuth2Spec | None = None
    description: str = ""


@dataclass(frozen=True)
class ResourceSpec:
    """`window` names the record field a date window filters on (e.g. "date", "created_at"); empty when the
    provider's API cannot filter the resource by date, and then a read with `since`/`until` is refused."""

    name: str
    model: str  # a key of apps.connectors.unified.MODELS
    description: str = ""
    window: str = ""


def window_date(value: date | datetime | None) -> date | None:
    """A window bound as a calendar day (windows are whole days, both ends inclusive)."""
    return value.date() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class ActionSpec:
    name: str
    description: str
    input: tuple[Field, ...] = ()

    def clean(self, payload: dict) -> dict:
        if not isinstance(payload, dict):
            raise ValidationError({"input": ["Must be an object."]})
        errors: dict[str, list[str]] = {}
        cleaned = {}
        known = {f.name for f in self.input}
        for name in sorted(set(payload) - known):
            errors[name] = ["Unknown field."]
        for spec in self.input:
            try:
                cleaned[spec.name] = spec.clean(payload.get(spec.name))
            except ValidationError as exc:
                errors[spec.name] = exc.messages
        if errors:
            raise ValidationError(errors)
        return {key: value for key, value in cleaned.items() if value is not None}


@dataclass
class Record:
    id: str
    data: dict
    raw: dict


@dataclass
class Page:
    records: list[Record]
    next_cursor: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    event_type: str
    payload: Any


def signed_body_id(event_type: str, body: bytes) -> str:
    """The event id of a delivery whose signature covers only the body (Shopify, WooCommerce): derived from what is
    signed, so a captured body re-posted with a fresh delivery-id header is a duplicate, and so are the provider's
    own redeliveries (WooCommerce gives each a new id). The topic is part of it: one body may legitimately arrive
    under two topics (an order created already paid: orders/create and orders/paid)."""
    return "sha256-" + hashlib.sha256(event_type.encode() + b"\n" + (body or b"")).hexdigest()[:40]


class WebhookVerificationError(Exception):
    """The request is not a genuine webhook from the provider (bad or missing signature, stale timestamp)."""


@dataclass
class ConnectionContext:
    """Everything a provider needs for one unit of work on one connection. `credentials` holds the decrypted
    secret fields and OAuth tokens; providers never persist them themselves."""

    provider: Provider
    config: dict
    credentials: dict
    http: ProviderHTTP


class Provider:
    key: ClassVar[str]
    name: ClassVar[str]
    category: ClassVar[str]
    description: ClassVar[str] = ""
    logo: ClassVar[str] = ""
    docs_url: ClassVar[str] = ""
    auth: ClassVar[AuthSpec] = AuthSpec("none")
    config_fields: ClassVar[tuple[Field, ...]] = ()
    resources: ClassVar[tuple[ResourceSpec, ...]] = ()
    actions: ClassVar[tuple[ActionSpec, ...]] = ()
    webhook_verification: ClassVar[str] = ""  # human description; empty when the platform does not sign webhooks
    # The platform's inbound webhook contract, all of it here (apps.integrations.inbound only follows it):
    # which of the connection's secret fields verify its webhooks, preferred first (empty: it sends none)
    webhook_secret_fields: ClassVar[tuple[str, ...]] = ()
    # the secret its subscription handshake proves: "endpoint:<name>" (generated for each endpoint and shown once
    # at creation) or "connection:<secret field>"; empty when it has no handshake
    webhook_handshake_secret: ClassVar[str] = ""
    # what the person does in the platform's settings with an endpoint's URL
    webhook_setup: ClassVar[str] = "Paste this URL into the platform's webhook settings."
    # raw event types that are not `<object>.<verb>` (lower case) -> what they mean
    webhook_event_aliases: ClassVar[dict[str, str]] = {}

    # --- declared shape -------------------------------------------------------------------------------------

    @classmethod
    def field(cls, name: str) -> Field:
        return next(f for f in cls.config_fields if f.name == name)

    @classmethod
    def resource(cls, name: str) -> ResourceSpec | None:
        return next((r for r in cls.resources if r.name == name), None)

    @classmethod
    def action(cls, name: str) -> ActionSpec | None:
        return next((a for a in cls.actions if a.name == name), None)

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        """Splits validated input into (config, secrets). On update, omitted secrets keep their stored value."""
        if not isinstance(values, dict):
            raise ValidationError({"config": ["Must be an object."]})
        errors: dict[str, list[str]] = {}
        config: dict[str, Any]
        secrets: dict[str, Any]
        config, secrets = {}, {}
        known = {f.name for f in cls.config_fields}
        for name in sorted(set(values) - known):
            errors[name] = ["Unknown field."]
        for spec in cls.config_fields:
            if spec.name not in values and (partial or (spec.secret and spec.name in existing_secrets)):
                continue
            try:
                value = spec.clean(values.get(spec.name))
            except ValidationError as exc:
                errors[spec.name] = exc.messages
                continue
            if value is not None:
                (secrets if spec.secret else config)[spec.name] = value
        if errors:
            raise ValidationError(errors)
        return config, secrets

    @classmethod
    def describe(cls) -> dict:
        return {
            "key": cls.key,
            "name": cls.name,
            "category": cls.category,
            "description": cls.description,
            "logo": cls.logo,
            "docs_url": cls.docs_url,
            "auth_type": cls.auth.type,
            "auth_description": cls.auth.description,
            "oauth_scopes": list(cls.auth.oauth2.scopes) if cls.auth.oauth2 else [],
            "config_schema": [f.describe() for f in cls.config_fields],
            "resources": [
                {"name": r.name, "model": r.model, "description": r.description, "window": r.window or None}
                for r in cls.resources
            ],
            "actions": [
                {"name": a.name, "description": a.description, "input_schema": [f.describe() for f in a.input]}
                for a in cls.actions
            ],
            "webhooks": cls.webhook_verification or None,
        }

    # --- behaviour (override) -------------------------------------------------------------------------------

    def base_url(self, config: dict) -> str:
        raise NotImplementedError

    def connection_base_url(self, config: dict, credentials: dict) -> str:
        """Where a connection's calls go: `base_url(config)`, unless the provider names the account's API host in
        its token response (Zoho's `api_domain`, Pipedrive's `api_domain`)."""
        return self.base_url(config)

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        """Headers that authenticate a request (called before every attempt, so refreshed tokens apply)."""
        return {}

    def basic_auth(self, config: dict, credentials: dict) -> tuple[str, str] | None:
        return None

    def error_message(self, response) -> str | None:
        """The provider's own error text from an error response, when `http.provider_message` misses it."""
        return None

    def retry_after(self, response) -> float | None:
        """Seconds to wait after a 429 or 5xx without a standard Retry-After (math.inf: do not retry)."""
        return None

    def check(self, ctx: ConnectionContext) -> None:
        """A cheap authenticated call; raises a ConnectorError when the connection does not work."""
        raise NotImplementedError

    def read(
        self,
        ctx: ConnectionContext,
        resource: str,
        *,
        cursor: str | None,
        limit: int,
        since: date | None = None,
        until: date | None = None,
    ) -> Page:
        """A page of `resource`. `since`/`until` (whole days, both inclusive, either may be None) are only passed
        for a resource whose spec declares a `window`; the provider filters with its API's own date parameters,
        so records outside the window never come back."""
        raise NotImplementedError

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        raise NotImplementedError

    def webhook_handshake(self, *, method: str, query: dict[str, str], secret: str) -> str | None:
        """The body to answer a provider's subscription handshake with (e.g. Facebook's GET `hub.challenge`,
        Mailchimp's GET validation), or None when the request is not a handshake. Raise WebhookVerificationError
        for a handshake that fails verification."""
        return None

    def webhook_verify_options(self, config: dict) -> dict:
        """Keyword arguments of `verify_webhook` beyond the secret, taken from the connection's config."""
        return {}

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        raise WebhookVerificationError(f"{self.name} does not sign webhooks")


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def url_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, lower-cased: where a secret sent to it goes. An invalid port counts as none."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def is_loopback_host(host: str) -> bool:
    """localhost, *.localhost or a loopback IP literal (where tests and development run provider fakes)."""
    host = host.lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def credential_host_problem(url: str, *, domain: str, example: str) -> str | None:
    """Why `url` may not receive credentials: only https hosts on the provider's own `domain` (or a loopback
    fake in tests and development) are accepted. None when it is fine."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if is_loopback_host(host):
        return None
    if parts.scheme != "https" or not (host == domain or host.endswith(f".{domain}")):
        return f"Must be an https:// address on {domain}, e.g. {example}."
    return None


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


SLUGGISH = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


def json_object(value: object) -> dict:
    """`value` when it is a JSON object, else an empty one: reads a nested field a provider may omit or mistype."""
    return value if isinstance(value, dict) else {}


def json_array(value: object) -> list:
    """`value` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []
