"""Mailchimp Marketing API 3.0, with an API key over HTTP Basic (any user name) or an OAuth2 access token (Bearer).

Contract: https://mailchimp.com/developer/marketing/docs/fundamentals/ and the API reference
https://mailchimp.com/developer/marketing/api/ — every call goes to `https://{dc}.api.mailchimp.com/3.0`, where `dc`
(e.g. `us21`) is the suffix of the API key after the dash, or, after OAuth, the `dc` named by
`https://login.mailchimp.com/oauth2/metadata` (asked with the token when no `dc` is set, so nobody types it).
The API has one version, 3.0.

Lists: `GET /lists/{list_id}/members` and `GET /reports` page with `count` (default 10, max 1000) and `offset`;
the body names its items (`members`, `reports`) beside `total_items`. A member is `{"id" (md5 of the lower-cased
e-mail), "email_address", "status", "merge_fields": {"FNAME", "LNAME", ...}, "tags": [{"id", "name"}],
"last_changed"}`; a report is `{"id", "subject_line", "emails_sent", "unsubscribed", "send_time", "opens":
{"opens_total", "unique_opens"}, "clicks": {"clicks_total", "unique_clicks"}}`. `PUT /lists/{list_id}/members/
{subscriber_hash}` adds or updates a member (`email_address`, `status_if_new`, `merge_fields`); tags are set with
`POST /lists/{list_id}/members/{subscriber_hash}/tags` `{"tags": [{"name", "status": "active"}]}` (204).
`GET /ping` is the documented health check. Errors are RFC 7807 `application/problem+json`: `{"type", "title",
"status", "detail", "instance"}` (401 "API Key Invalid"). More than 10 simultaneous connections answer 429 without a
documented reset header, so the client's backoff applies.

Webhooks (https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/): not signed. Mailchimp POSTs
`application/x-www-form-urlencoded` bodies (`type`, `fired_at`, `data[email]`, `data[merges][FNAME]`, ...) and
validates the URL with a GET when the webhook is saved; Mailchimp's advice is to put a secret in the webhook URL's
query and check it, which is what `verify_webhook` and `webhook_handshake` do with the `secret` parameter.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.connectors.base import (
    ActionSpec,
    AuthSpec,
    ConnectionContext,
    Field,
    OAuth2Spec,
    Page,
    Provider,
    Record,
    ResourceSpec,
    WebhookEvent,
    WebhookVerificationError,
    json_array,
    json_object,
)
from apps.connectors.base import is_loopback_host as _is_loopback
from apps.connectors.exceptions import BadResponseError, ConfigurationError, NeedsReauthError
from apps.connectors.http import ProviderHTTP
from apps.connectors.registry import registry
from apps.connectors.signing import matches
from apps.connectors.unified import normalised
from bizosaas.digits import ascii_digits

OAUTH_METADATA_URL = "https://login.mailchimp.com/oauth2/metadata"
API_VERSION = "3.0"
MAX_PER_PAGE = 1000
BASIC_USER = "bizosaas"  # Mailchimp accepts any user name with the API key as the password
SECRET_PARAM = "secret"
MEMBER_STATUSES = ("subscribed", "pending", "unsubscribed", "cleaned", "transactional")

DC = re.compile(r"^[a-z]{2,4}[0-9]{1,3}$")
API_KEY = re.compile(r"^[0-9a-zA-Z]{16,64}-([a-z]{2,4}[0-9]{1,3})$")
LIST_ID = re.compile(r"^[0-9a-zA-Z]{1,50}$")
API_HOST = re.compile(r"^[a-z]{2,4}[0-9]{1,3}\.api\.mailchimp\.com$")
BRACKETS = re.compile(r"\[([^\]]*)\]")

RESOURCE_ITEMS = {"members": "members", "campaign_reports": "reports"}


def _blank_to_none(value):
    return None if value in ("", None) else value


def _api_base_problem(url: str) -> str | None:
    """Credentials go only to a Mailchimp data-centre host over HTTPS (or to a loopback fake in tests)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "Only the scheme and host, e.g. https://us21.api.mailchimp.com"
    if parts.scheme == "https" and API_HOST.match(host):
        return None
    if settings.CONNECTORS_ALLOW_LOOPBACK and _is_loopback(host):
        return None
    return "Must be https://<dc>.api.mailchimp.com, e.g. https://us21.api.mailchimp.com"


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 hex digest of the lower-cased e-mail address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def _split_tags(value: str | None) -> list[str]:
    return [tag.strip() for tag in (value or "").split(",") if tag.strip()]


def form_payload(body: bytes) -> dict:
    """`data[merges][FNAME]=Ann` form fields as nested dicts: {"data": {"merges": {"FNAME": "Ann"}}}."""
    payload: dict = {}
    for key, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        head = key.split("[", 1)[0]
        path = [head, *BRACKETS.findall(key[len(head) :])]
        node = payload
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    return payload


class UpsertMemberAction(ActionSpec):
    """The generic field checks plus the ones Mailchimp's path and tags need."""

    def clean(self, payload: dict) -> dict:
        errors: dict[str, list[str]] = {}
        try:
            cleaned = super().clean(payload)
        except ValidationError as exc:
            errors.update(exc.message_dict)
            cleaned = {}
        list_id = payload.get("list_id") if isinstance(payload, dict) else None
        if isinstance(list_id, str) and list_id.strip() and not LIST_ID.match(list_id.strip()):
            errors.setdefault("list_id", []).append("Letters and digits only (the audience id).")
        tags = payload.get("tags") if isinstance(payload, dict) else None
        if isinstance(tags, str) and any(len(tag) > 100 for tag in _split_tags(tags)):
            errors.setdefault("tags", []).append("Each tag is at most 100 characters.")
        if errors:
            raise ValidationError(errors)
        return cleaned


@registry.register
class Mailchimp(Provider):
    key = "mailchimp"
    name = "Mailchimp"
    category = "email"
    description = "Read Mailchimp audience members and campaign reports, and add or update audience members."
    logo = "mailchimp"
    docs_url = "https://mailchimp.com/developer/marketing/api/"
    auth = AuthSpec(
        "oauth2",
        oauth2=OAuth2Spec(
            authorize_url="https://login.mailchimp.com/oauth2/authorize",
            token_url="https://login.mailchimp.com/oauth2/token",
            scopes=(),  # Mailchimp's OAuth has no scopes: a token acts as the user who authorised it
            pkce=False,  # Mailchimp documents the plain authorisation-code grant with the client secret
            token_auth_method="client_secret_post",
        ),
        description="Paste an API key (Account > Extras > API keys; its suffix after the dash is the data centre), "
        "or connect a registered Mailchimp app with OAuth and enter the account's data centre.",
    )
    config_fields = (
        Field(
            "api_key",
            "API key",
            type="secret",
            secret=True,
            required=False,
            max_length=100,
            help="e.g. 0123...cdef-us21; when set it is used instead of OAuth",
        ),
        Field("client_id", "OAuth client ID", required=False, help="From the registered app (OAuth only)"),
        Field("client_secret", "OAuth client secret", type="secret", secret=True, required=False),
        Field(
            "dc",
            "Data centre",
            required=False,
            max_length=10,
            help="e.g. us21: taken from the API key; with OAuth, asked of Mailchimp (leave empty)",
        ),
        Field("list_id", "Default audience ID", required=False, max_length=50, help="Used by member reads and actions"),
        Field(
            "webhook_secret",
            "Webhook URL secret",
            type="secret",
            secret=True,
            required=False,
            help=f"Add it to the webhook URL as ?{SECRET_PARAM}=...; Mailchimp does not sign webhooks",
        ),
        Field(
            "api_base_url",
            "API base URL",
            type="url",
            required=False,
            help="Leave empty: https://<dc>.api.mailchimp.com is used",
        ),
    )
    resources = (
        ResourceSpec("members", "email.member", "Members of the configured audience"),
        ResourceSpec("campaign_reports", "email.campaign_report", "Reports of sent campaigns"),
    )
    actions = (
        UpsertMemberAction(
            "upsert_member",
            "Add a member to an audience, or update the one with this e-mail address",
            (
                Field("email", "E-mail", type="email", max_length=254),
                Field("list_id", "Audience ID", required=False, max_length=50, help="Default: the configured one"),
                Field(
                    "status_if_new",
                    "Status if new",
                    type="choice",
                    choices=MEMBER_STATUSES,
                    required=False,
                    default="subscribed",
                ),
                Field("first_name", "First name (FNAME)", required=False, max_length=255),
                Field("last_name", "Last name (LNAME)", required=False, max_length=255),
                Field("tags", "Tags", required=False, max_length=1000, help="Comma-separated; added, never removed"),
            ),
        ),
    )
    webhook_verification = (
        f"unsigned form-encoded POSTs: the `{SECRET_PARAM}` query parameter of the webhook URL must equal the "
        "configured webhook secret; Mailchimp's GET URL validation is answered when the secret matches"
    )
    webhook_secret_fields = ("webhook_secret",)
    webhook_handshake_secret = "connection:webhook_secret"  # Mailchimp's GET validation carries the URL secret
    webhook_setup = "Append ?secret=<the connection's webhook URL secret> to this URL in Mailchimp."
    webhook_event_aliases = {  # Mailchimp's single-word types are about the list member (or a sent campaign)
        "subscribe": "member.subscribe",
        "unsubscribe": "member.unsubscribe",
        "profile": "member.profile",
        "upemail": "member.upemail",
        "cleaned": "member.cleaned",
        "campaign": "campaign.sent",
    }

    # --- configuration ----------------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, values: dict, *, partial: bool = False, existing_secrets: frozenset[str] = frozenset()):
        """The data centre is derived from the API key's suffix and kept (it is not secret) in the config."""
        config, secrets = super().clean_config(values, partial=partial, existing_secrets=existing_secrets)
        errors: dict[str, list[str]] = {}
        if "api_key" in secrets:
            match = API_KEY.match(secrets["api_key"])
            if not match:
                errors["api_key"] = ["Not a Mailchimp API key: expected <key>-<data centre>, e.g. ...-us21."]
            elif config.get("dc") and config["dc"] != match.group(1):
                errors["dc"] = [f"Does not match the API key's data centre ({match.group(1)})."]
            else:
                config["dc"] = match.group(1)
        if config.get("dc") and not DC.match(config["dc"]):
            errors["dc"] = ["A data centre such as us21."]
        if config.get("list_id") and not LIST_ID.match(config["list_id"]):
            errors["list_id"] = ["Letters and digits only (the audience id)."]
        if "api_base_url" in config and (problem := _api_base_problem(config["api_base_url"])):
            errors["api_base_url"] = [problem]
        if not partial and not errors:
            has = set(config) | set(secrets) | set(existing_secrets)
            if "api_key" not in has and not {"client_id", "client_secret"} <= has:
                errors["api_key"] = ["Set an API key, or a client ID and client secret for OAuth."]
        if errors:
            raise ValidationError(errors)
        return config, secrets

    def base_url(self, config: dict) -> str:
        if config.get("api_base_url"):
            url = config["api_base_url"].rstrip("/")
            problem = _api_base_problem(url)
            if problem:
                raise ConfigurationError(f"Mailchimp API base URL {url!r} refused: {problem}")
        else:
            dc = config.get("dc") or ""
            if not DC.match(dc):
                raise ConfigurationError("Mailchimp data centre is not set (e.g. us21).")
            url = f"https://{dc}.api.mailchimp.com"
        return f"{url}/{API_VERSION}/"

    def connection_base_url(self, config: dict, credentials: dict) -> str:
        """An OAuth connection without a typed data centre asks Mailchimp's OAuth metadata endpoint for the
        account's `api_endpoint` / `dc` (the token response does not name it), once per opened connection."""
        if config.get("api_base_url") or config.get("dc") or credentials.get("api_key"):
            return self.base_url(config)
        token = credentials.get("access_token")
        if not token:
            raise NeedsReauthError("Mailchimp is not connected: set an API key or authorise with OAuth.")
        with ProviderHTTP(provider=self.key, label=self.name, base_url=OAUTH_METADATA_URL, max_retries=1,
                          headers=lambda: {"Authorization": f"OAuth {token}"}) as http:  # fmt: skip
            metadata = http.json("GET", OAUTH_METADATA_URL)
        endpoint = str(metadata.get("api_endpoint") or "").rstrip("/") if isinstance(metadata, dict) else ""
        if endpoint and _api_base_problem(endpoint) is None:
            return f"{endpoint}/{API_VERSION}/"
        dc = str(metadata.get("dc") or "") if isinstance(metadata, dict) else ""
        if not DC.match(dc):
            raise BadResponseError("Mailchimp's OAuth metadata names no data centre.")
        return f"https://{dc}.api.mailchimp.com/{API_VERSION}/"

    def auth_headers(self, config: dict, credentials: dict) -> dict[str, str]:
        if credentials.get("api_key"):
            token = base64.b64encode(f"{BASIC_USER}:{credentials['api_key']}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        if credentials.get("access_token"):
            return {"Authorization": f"Bearer {credentials['access_token']}"}
        raise NeedsReauthError("Mailchimp is not connected: set an API key or authorise with OAuth.")

    def check(self, ctx: ConnectionContext) -> None:
        body = ctx.http.json("GET", "ping")
        if not isinstance(body, dict) or "health_status" not in body:
            raise BadResponseError("Mailchimp returned an unexpected body for /ping.")

    # --- resources --------------------------------------------------------------------------------------------

    @staticmethod
    def _list_id(ctx: ConnectionContext, given: str | None = None) -> str:
        list_id = (given or ctx.config.get("list_id") or "").strip()
        if not list_id:
            raise ConfigurationError("Set the Mailchimp audience ID (list_id).")
        if not LIST_ID.match(list_id):
            raise ConfigurationError("The Mailchimp audience ID may hold letters and digits only.")
        return list_id

    def read(self, ctx: ConnectionContext, resource: str, *, cursor: str | None, limit: int) -> Page:  # type: ignore[override]
        """The cursor is the `offset` of the next page, as a decimal string."""
        if resource not in RESOURCE_ITEMS:
            raise ConfigurationError(f"Mailchimp has no resource {resource!r}.")
        if cursor is not None and not ascii_digits(cursor):
            raise ConfigurationError(f"Not a Mailchimp cursor: {cursor!r}.")
        offset = int(cursor or 0)
        count = max(1, min(limit, MAX_PER_PAGE))
        path = f"lists/{self._list_id(ctx)}/members" if resource == "members" else "reports"
        body = ctx.http.json("GET", path, params={"count": count, "offset": offset})
        key = RESOURCE_ITEMS[resource]
        items = body.get(key) if isinstance(body, dict) else None
        total = body.get("total_items") if isinstance(body, dict) else None
        if (
            not isinstance(items, list)
            or not isinstance(total, int)
            or not all(isinstance(item, dict) and item.get("id") for item in items)
        ):
            raise BadResponseError(f"Mailchimp returned an unexpected body for the {resource} list.")
        normalise = self.normalise_member if resource == "members" else self.normalise_report
        records = [Record(id=str(item["id"]), data=normalise(item), raw=item) for item in items]
        following = offset + len(items)
        return Page(records=records, next_cursor=str(following) if items and following < total else None)

    @staticmethod
    def normalise_member(item: dict) -> dict:
        merges = json_object(item.get("merge_fields"))
        tags = json_array(item.get("tags"))
        return normalised(
            "email.member",
            id=str(item.get("id")),
            email=item.get("email_address"),
            status=item.get("status"),
            first_name=_blank_to_none(merges.get("FNAME")),
            last_name=_blank_to_none(merges.get("LNAME")),
            tags=[tag["name"] for tag in tags if isinstance(tag, dict) and tag.get("name")],
            updated_at=_blank_to_none(item.get("last_changed")),
        )

    @staticmethod
    def normalise_report(item: dict) -> dict:
        """`opens` and `clicks` are the unique counts (each recipient once), as Mailchimp's report summary shows."""
        opens = json_object(item.get("opens"))
        clicks = json_object(item.get("clicks"))
        return normalised(
            "email.campaign_report",
            campaign_id=str(item.get("id")),
            subject=_blank_to_none(item.get("subject_line")),
            sent=item.get("emails_sent"),
            opens=opens.get("unique_opens"),
            clicks=clicks.get("unique_clicks"),
            unsubscribes=item.get("unsubscribed"),
            send_time=_blank_to_none(item.get("send_time")),
        )

    # --- actions ----------------------------------------------------------------------------------------------

    def perform(self, ctx: ConnectionContext, action: str, payload: dict) -> dict:
        if action != "upsert_member":
            raise ConfigurationError(f"Mailchimp has no action {action!r}.")
        list_id = self._list_id(ctx, payload.get("list_id"))
        email = payload["email"]
        member_path = f"lists/{list_id}/members/{subscriber_hash(email)}"
        body: dict = {"email_address": email, "status_if_new": payload.get("status_if_new") or "subscribed"}
        merge_fields = {
            merge: payload[field]
            for field, merge in (("first_name", "FNAME"), ("last_name", "LNAME"))
            if field in payload
        }
        if merge_fields:
            body["merge_fields"] = merge_fields
        member = ctx.http.json("PUT", member_path, json_body=body)
        if not isinstance(member, dict) or not member.get("id"):
            raise BadResponseError("Mailchimp returned an unexpected body for the member upsert.")
        record = self.normalise_member(member)
        tags = _split_tags(payload.get("tags"))
        if tags:
            ctx.http.request(
                "POST",
                f"{member_path}/tags",
                json_body={"tags": [{"name": tag, "status": "active"} for tag in tags]},
                idempotent=True,  # activating the same tags again leaves the member as it is
            )
            record["tags"] = [*record["tags"], *(tag for tag in tags if tag not in record["tags"])]
        return {"id": str(member["id"]), "status": member.get("status"), "list_id": list_id, "record": record}

    # --- webhooks ---------------------------------------------------------------------------------------------

    def webhook_handshake(self, *, method: str, query: dict[str, str], secret: str) -> str | None:
        """Mailchimp validates a webhook URL with a GET (no parameters beyond the URL's own): answer 200, empty."""
        if method.upper() != "GET":
            return None
        if not matches(query.get(SECRET_PARAM), secret):
            raise WebhookVerificationError(f"missing or wrong `{SECRET_PARAM}` in the webhook URL")
        return ""

    def verify_webhook(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str
    ) -> WebhookEvent:
        """`url` is the URL Mailchimp called (with its query); `secret` is the configured webhook secret."""
        if not secret:
            raise WebhookVerificationError("no webhook secret is configured for this connection")
        sent = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)).get(SECRET_PARAM)
        if not matches(sent, secret):
            raise WebhookVerificationError(f"missing or wrong `{SECRET_PARAM}` in the webhook URL")
        if method.upper() != "POST":
            raise WebhookVerificationError("Mailchimp delivers events with POST")
        payload = form_payload(body or b"")
        event_type = payload.get("type")
        if not isinstance(event_type, str) or not event_type:
            raise WebhookVerificationError("not a Mailchimp webhook body (no `type`)")
        # unsigned and without an event id: a retried delivery repeats the same body, so its digest names it
        event_id = f"{event_type}-{hashlib.sha256(body).hexdigest()[:32]}"
        return WebhookEvent(event_id=event_id, event_type=event_type, payload=payload)
