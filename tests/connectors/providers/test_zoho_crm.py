"""Zoho CRM against a loopback server that follows the v8 REST API contract."""

import json
import secrets
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.exceptions import ValidationError
from werkzeug import Response

from apps.connectors.base import WebhookVerificationError
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    NeedsReauthError,
    ProviderRequestError,
    ProviderUnavailableError,
)
from apps.connectors.registry import registry

ACCESS_TOKEN = "1000.8cb99dxxxxxxxxxxxxx9be93.9b8xxxxxxxxxxxxxxxf"
API = "/crm/v8"
FIRST_ID = 4150868000000224000
OWNER = {"name": "Patricia Boyle", "id": "4150868000000225013", "email": "patricia.boyle@example.com"}
# the standard fields of the two modules (what `fields` may name); Zoho answers INVALID_DATA for any other
MODULE_FIELDS = {
    "Contacts": {
        "Email",
        "First_Name",
        "Last_Name",
        "Phone",
        "Mobile",
        "Account_Name",
        "Title",
        "Tag",
        "Owner",
        "Created_Time",
        "Modified_Time",
    },
    "Leads": {
        "Email",
        "First_Name",
        "Last_Name",
        "Phone",
        "Mobile",
        "Company",
        "Lead_Status",
        "Tag",
        "Owner",
        "Created_Time",
        "Modified_Time",
    },
}


WATCHABLE = {"Leads", "Accounts", "Contacts", "Deals", "Campaigns", "Tasks", "Cases", "Calls", "Products", "Quotes"}


def zoho_time(n: int) -> str:
    return f"2026-03-{1 + n % 28:02d}T10:{n % 60:02d}:00+05:30"


def contact(n: int) -> dict:
    """A contact shaped like the v8 Get Records example (ids grow with n)."""
    return {
        "id": str(FIRST_ID + n),
        "Owner": OWNER,
        "Email": f"contact{n}@zylker.com",
        "First_Name": f"Ada{n}",
        "Last_Name": f"Lovelace{n}",
        "Phone": f"+1-555-{n:07d}",
        "Mobile": None,
        "Account_Name": {"name": f"Zylker {n}", "id": str(FIRST_ID + 90000 + n)},
        "Title": "CTO",
        "Tag": [{"name": "vip", "id": "4150868000000500001"}] if n % 2 else [],
        "Created_Time": zoho_time(n),
        "Modified_Time": zoho_time(n + 1),
    }


def lead(n: int) -> dict:
    return {
        "id": str(FIRST_ID + 50000 + n),
        "Owner": OWNER,
        "Company": f"Zylker Corp {n}",
        "Email": f"lead{n}@zylker.com",
        "First_Name": "John",
        "Last_Name": f"Doe{n}",
        "Phone": "",
        "Mobile": f"+44 7700 9000{n:02d}",
        "Lead_Status": "Not Contacted",
        "Tag": [{"name": "webinar", "id": "4150868000000500002"}, {"name": "2026", "id": "4150868000000500003"}],
        "Created_Time": zoho_time(n),
        "Modified_Time": zoho_time(n),
    }


def error(status: int, code: str, message: str, **details) -> Response:
    body = {"code": code, "details": details, "message": message, "status": "error"}
    return Response(json.dumps(body), status=status, content_type="application/json")


class FakeZohoCRM:
    """v8 records API: `Zoho-oauthtoken` auth; `fields` required; `page`/`per_page` (max 200) for the first 2,000
    records, then `page_token` bound to the other parameters; 204 when nothing matches; upsert by Email."""

    def __init__(self, httpserver, contacts: int = 25, leads: int = 3):
        self.server = httpserver
        self.records = {
            "Contacts": [contact(n) for n in range(1, contacts + 1)],
            "Leads": [lead(n) for n in range(leads)],
        }
        self.tokens: dict[str, dict] = {}
        self.upserts: list[dict] = []
        self.failures: list[Response] = []  # answered first, before anything else (429s, 5xx)
        self.seen: list[tuple[str, str, dict]] = []
        for module in self.records:
            httpserver.expect_request(f"{API}/{module}", method="GET").respond_with_handler(
                lambda request, module=module: self.handle(request, lambda: self.list_records(request, module))
            )
        httpserver.expect_request(f"{API}/Contacts/upsert", method="POST").respond_with_handler(
            lambda request: self.handle(request, lambda: self.upsert(request))
        )
        self.scopes = {"ZohoCRM.modules.contacts.ALL", "ZohoCRM.modules.leads.ALL", "ZohoCRM.notifications.ALL"}
        self.channels: dict[str, dict] = {}  # channel_id -> the channel as last enabled or updated
        self.watches: list[tuple[str, dict]] = []
        for method in ("POST", "PATCH"):
            httpserver.expect_request(f"{API}/actions/watch", method=method).respond_with_handler(
                lambda request: self.handle(request, lambda: self.watch(request))
            )

    @property
    def api_domain(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def handle(self, request, then):
        self.seen.append((request.method, request.path, request.args.to_dict()))
        if self.failures:
            return self.failures.pop(0)
        if request.headers.get("Authorization") != f"Zoho-oauthtoken {ACCESS_TOKEN}":
            return error(401, "INVALID_TOKEN", "invalid oauth token")
        if request.path.endswith("/actions/watch") and "ZohoCRM.notifications.ALL" not in self.scopes:
            return error(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
        return then()

    def list_records(self, request, module):
        args = request.args
        if not args.get("fields"):
            return error(400, "REQUIRED_PARAM_MISSING", "required param is missing", param_name="fields")
        fields = args["fields"].split(",")
        if len(fields) > 50:
            return error(400, "LIMIT_EXCEEDED", "limit exceeded", limit=50, param_name="fields")
        if set(fields) - MODULE_FIELDS[module]:
            return error(400, "INVALID_DATA", "the field given seems to be invalid", param_name="fields")
        per_page = int(args.get("per_page", 200))
        if not 1 <= per_page <= 200:
            return error(400, "INVALID_DATA", "invalid data", param_name="per_page")
        sort_by, sort_order = args.get("sort_by", "id"), args.get("sort_order", "desc")
        if sort_by not in ("id", "Created_Time", "Modified_Time"):
            return error(400, "INVALID_DATA", "invalid data", param_name="sort_by")
        if "page" in args and "page_token" in args:
            return error(
                400,
                "AMBIGUITY_DURING_PROCESSING",
                "ambiguity during processing",
                ambiguity_due_to=[{"param_name": "page"}],
            )
        bound = sorted((key, value) for key, value in args.items(multi=True) if key not in ("page", "page_token"))
        if "page_token" in args:
            state = self.tokens.get(args["page_token"])
            if state is None or state["bound"] != bound:
                return error(
                    400,
                    "TOKEN_BOUND_DATA_MISMATCH",
                    "The page_token given seems to be invalid or input param is added or altered or deleted",
                    param_name="page_token",
                )
            page, offset = state["page"], state["offset"]
        else:
            page = int(args.get("page", 1))
            if page * per_page > 2000:
                return error(
                    400,
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "You can only get the first 2000 records without using page_token param",
                    limit=2000,
                )
            offset = (page - 1) * per_page
        rows = sorted(self.records[module], key=lambda row: int(row["id"]), reverse=sort_order == "desc")
        chunk = rows[offset : offset + per_page]
        if not chunk:
            return Response(status=204)
        more = offset + per_page < len(rows)
        next_token = None
        if more:
            next_token = secrets.token_hex(12)
            self.tokens[next_token] = {"page": page + 1, "offset": offset + per_page, "bound": bound}
        data = [{"id": row["id"], **{name: row[name] for name in fields if name in row}} for row in chunk]
        info = {
            "call": False,
            "per_page": per_page,
            "next_page_token": next_token,
            "count": len(chunk),
            "sort_by": sort_by,
            "page": page,
            "previous_page_token": None,
            "page_token_expiry": "2026-03-02T15:08:14+05:30" if next_token else None,
            "sort_order": sort_order,
            "email": False,
            "more_records": more,
        }
        return Response(json.dumps({"data": data, "info": info}), content_type="application/json")

    def watch(self, request):
        """actions/watch as documented: POST enables (or re-subscribes) channels, PATCH updates existing ones; the
        expiry may be at most a week ahead; the answer's watch[] has one entry per channel, events per module."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("watch"), list) or not 1 <= len(body["watch"]) <= 50:
            return error(400, "INVALID_DATA", "invalid data", api_name="watch")
        self.watches.append((request.method, body))
        results, status = [], 201 if request.method == "POST" else 200
        for channel in body["watch"]:
            channel_id = str(channel.get("channel_id") or "")
            expiry = datetime.fromisoformat(str(channel.get("channel_expiry")))
            problem = None
            if not channel_id or not channel.get("notify_url") or not channel.get("events"):
                problem = ("MANDATORY_NOT_FOUND", "required field not found", "channel_id")
            elif expiry > datetime.now(UTC) + timedelta(days=7):
                problem = ("INVALID_DATA", "invalid data", "channel_expiry")
            elif len(channel.get("token") or "") > 50:
                problem = ("INVALID_DATA", "invalid data", "token")
            elif any(event.split(".")[0] not in WATCHABLE for event in channel["events"]):
                problem = ("INVALID_DATA", "invalid data", "events")
            elif request.method == "PATCH" and channel_id not in self.channels:
                problem = ("INVALID_DATA", "invalid data", "channel_id")
            if problem:
                code, message, field = problem
                results.append({"code": code, "details": {"api_name": field}, "message": message, "status": "error"})
                status = 400
                continue
            self.channels[channel_id] = dict(channel)
            modules = dict.fromkeys(event.split(".")[0] for event in channel["events"])
            events = [
                {
                    "channel_expiry": expiry.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
                    "resource_uri": f"https://www.zohoapis.com/crm/v8/{module}",
                    "resource_id": "4150868000000002175",
                    "resource_name": module,
                    "channel_id": channel_id,
                }
                for module in modules
            ]
            message = (
                "Successfully subscribed for actions-watch of the given module"
                if request.method == "POST"
                else "Successfully updated the subscribe details"
            )
            results.append({"code": "SUCCESS", "details": {"events": events}, "message": message, "status": "success"})
        return Response(json.dumps({"watch": results}), status=status, content_type="application/json")

    def upsert(self, request):
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list) or not 1 <= len(body["data"]) <= 100:
            return error(400, "INVALID_DATA", "invalid data", api_name="data")
        self.upserts.append(body)
        results, status = [], 200
        for index, record in enumerate(body["data"]):
            check = body.get("duplicate_check_fields") or ["Email"]
            existing = next(
                (row for row in self.records["Contacts"] if all(row.get(f) == record.get(f) for f in check)), None
            )
            if existing is None and not record.get("Last_Name"):
                path = f"$.data[{index}].Last_Name"
                results.append(
                    {
                        "code": "MANDATORY_NOT_FOUND",
                        "details": {"api_name": "Last_Name", "json_path": path},
                        "message": "required field not found",
                        "status": "error",
                    }
                )
                status = 400
                continue
            stamp = "2026-03-02T10:31:43+05:30"
            if existing is None:
                existing = {"id": str(FIRST_ID + 80000 + len(self.upserts)), "Created_Time": stamp}
                self.records["Contacts"].append(existing)
                action, duplicate_field, message = "insert", None, "record added"
            else:
                action, duplicate_field, message = "update", check[0], "record updated"
            existing.update(record, Modified_Time=stamp)
            details = {
                "Modified_Time": stamp,
                "Modified_By": {"name": OWNER["name"], "id": OWNER["id"]},
                "Created_Time": existing["Created_Time"],
                "id": existing["id"],
                "Created_By": {"name": OWNER["name"], "id": OWNER["id"]},
            }
            results.append(
                {
                    "code": "SUCCESS",
                    "duplicate_field": duplicate_field,
                    "action": action,
                    "details": details,
                    "message": message,
                    "status": "success",
                }
            )
        return Response(json.dumps({"data": results}), status=status, content_type="application/json")


@pytest.fixture
def zoho(httpserver):
    return FakeZohoCRM(httpserver)


def context(provider_context, fake, token=ACCESS_TOKEN):
    return provider_context(
        "zoho_crm",
        {"region": "com", "client_id": "1000.CLIENTID", "api_domain": fake.api_domain},
        {"client_secret": "s3cret", "access_token": token, "refresh_token": "1000.refresh"},
    )


def read_all(ctx, resource, limit=10):
    provider, cursor, records, cursors = registry.get("zoho_crm")(), None, [], []
    while True:
        page = provider.read(ctx, resource, cursor=cursor, limit=limit)
        records += page.records
        cursors.append(cursor)
        if not page.next_cursor:
            return records, cursors
        cursor = page.next_cursor


# --- reading --------------------------------------------------------------------------------------------------


def test_reads_every_contact_across_pages_oldest_first_normalised_with_raw(provider_context, zoho):
    records, cursors = read_all(context(provider_context, zoho), "contacts", limit=10)

    assert cursors == [None, "2", "3"]
    assert [r.id for r in records] == [str(FIRST_ID + n) for n in range(1, 26)]
    assert records[0].data == {
        "id": str(FIRST_ID + 1),
        "email": "contact1@zylker.com",
        "first_name": "Ada1",
        "last_name": "Lovelace1",
        "phone": "+1-555-0000001",
        "company": "Zylker 1",
        "tags": ["vip"],
        "lead_score": None,
        "created_at": "2026-03-02T10:01:00+05:30",
        "updated_at": "2026-03-03T10:02:00+05:30",
    }
    assert records[1].data["tags"] == []
    assert records[0].raw["Account_Name"] == {"name": "Zylker 1", "id": str(FIRST_ID + 90001)}
    assert [args for _, _, args in zoho.seen] == [
        {
            "fields": "Email,First_Name,Last_Name,Phone,Mobile,Account_Name,Tag,Created_Time,Modified_Time",
            "sort_by": "id",
            "sort_order": "asc",
            "per_page": "10",
            "page": str(page),
        }
        for page in (1, 2, 3)
    ]


def test_leads_take_the_company_field_and_fall_back_to_the_mobile_number(provider_context, zoho):
    records, _ = read_all(context(provider_context, zoho), "leads", limit=200)

    assert [r.id for r in records] == [str(FIRST_ID + 50000 + n) for n in range(3)]
    assert records[2].data == {
        "id": str(FIRST_ID + 50002),
        "email": "lead2@zylker.com",
        "first_name": "John",
        "last_name": "Doe2",
        "phone": "+44 7700 900002",
        "company": "Zylker Corp 2",
        "tags": ["webinar", "2026"],
        "lead_score": None,
        "created_at": "2026-03-03T10:02:00+05:30",
        "updated_at": "2026-03-03T10:02:00+05:30",
    }
    assert records[2].raw["Tag"][0] == {"name": "webinar", "id": "4150868000000500002"}
    assert "Lead_Status" not in records[2].raw  # Zoho returns only the fields asked for
    assert zoho.seen[0][1] == f"{API}/Leads"


def test_beyond_2000_records_reading_continues_with_the_page_token(provider_context, httpserver):
    fake = FakeZohoCRM(httpserver, contacts=2050)

    records, cursors = read_all(context(provider_context, fake), "contacts", limit=200)

    assert len(records) == 2050
    assert [r.id for r in records] == [str(FIRST_ID + n) for n in range(1, 2051)]
    assert cursors[:10] == [None, *(str(page) for page in range(2, 11))]
    assert cursors[10].startswith("token:200:")
    assert [args.get("page") for _, _, args in fake.seen] == [str(page) for page in range(1, 11)] + [None]
    assert fake.seen[10][2]["page_token"] == cursors[10].removeprefix("token:200:")


def test_a_page_token_keeps_the_page_size_it_was_issued_for(provider_context, httpserver):
    fake = FakeZohoCRM(httpserver, contacts=2050)
    ctx = context(provider_context, fake)
    provider = registry.get("zoho_crm")()
    cursor = provider.read(ctx, "contacts", cursor="10", limit=200).next_cursor

    page = provider.read(ctx, "contacts", cursor=cursor, limit=25)

    assert [r.id for r in page.records] == [str(FIRST_ID + n) for n in range(2001, 2051)]
    assert fake.seen[-1][2]["per_page"] == "200"
    assert page.next_cursor is None


def test_page_size_is_capped_at_the_documented_maximum_of_200(provider_context, httpserver):
    fake = FakeZohoCRM(httpserver, contacts=250)

    page = registry.get("zoho_crm")().read(context(provider_context, fake), "contacts", cursor=None, limit=500)

    assert len(page.records) == 200
    assert fake.seen[0][2]["per_page"] == "200"
    assert page.next_cursor == "2"


def test_an_empty_module_answers_204_and_is_one_empty_page(provider_context, httpserver):
    fake = FakeZohoCRM(httpserver, contacts=0)

    page = registry.get("zoho_crm")().read(context(provider_context, fake), "contacts", cursor=None, limit=10)

    assert (page.records, page.next_cursor) == ([], None)


def test_a_cursor_that_is_not_ours_is_refused(provider_context, zoho):
    provider = registry.get("zoho_crm")()
    for cursor in ("abc", "0", "token:", "token:500:abc", "token:20:"):
        with pytest.raises(ConfigurationError, match="cursor"):
            provider.read(context(provider_context, zoho), "contacts", cursor=cursor, limit=10)
    assert zoho.seen == []


# --- authentication -------------------------------------------------------------------------------------------


def test_check_passes_with_a_valid_token_using_one_cheap_call(provider_context, zoho):
    registry.get("zoho_crm")().check(context(provider_context, zoho))

    assert zoho.seen == [("GET", f"{API}/Contacts", {"fields": "Last_Name", "per_page": "1", "page": "1"})]
    assert zoho.server.log[0][0].headers["Authorization"] == f"Zoho-oauthtoken {ACCESS_TOKEN}"


def test_check_with_a_bad_token_is_an_authentication_error_with_zohos_message(provider_context, zoho):
    with pytest.raises(AuthenticationError) as failure:
        registry.get("zoho_crm")().check(context(provider_context, zoho, token="1000.expired.token"))

    assert failure.value.message == "Zoho CRM rejected the credentials: invalid oauth token"
    assert failure.value.provider_status == 401
    assert "1000.expired" not in failure.value.message


def test_a_connection_without_an_access_token_needs_authorising_and_calls_nothing(provider_context, zoho):
    ctx = provider_context(
        "zoho_crm", {"region": "com", "client_id": "cid", "api_domain": zoho.api_domain}, {"client_secret": "s"}
    )

    with pytest.raises(NeedsReauthError, match="not authorised"):
        registry.get("zoho_crm")().check(ctx)
    assert zoho.seen == []


# --- actions --------------------------------------------------------------------------------------------------


def test_upsert_contact_inserts_a_new_contact_with_exactly_the_documented_body(provider_context, zoho):
    result = registry.get("zoho_crm")().perform(
        context(provider_context, zoho),
        "upsert_contact",
        {"email": "grace@zylker.com", "last_name": "Hopper", "first_name": "Grace", "phone": "+1 555 0100"},
    )

    assert zoho.upserts == [
        {
            "data": [
                {"Email": "grace@zylker.com", "Last_Name": "Hopper", "First_Name": "Grace", "Phone": "+1 555 0100"}
            ],
            "duplicate_check_fields": ["Email"],
        }
    ]
    new_id = str(FIRST_ID + 80001)
    assert result == {
        "id": new_id,
        "action": "insert",
        "duplicate_field": None,
        "record": {
            "id": new_id,
            "email": "grace@zylker.com",
            "first_name": "Grace",
            "last_name": "Hopper",
            "phone": "+1 555 0100",
            "company": None,
            "tags": [],
            "lead_score": None,
            "created_at": "2026-03-02T10:31:43+05:30",
            "updated_at": "2026-03-02T10:31:43+05:30",
        },
    }


def test_upsert_contact_updates_the_contact_with_the_same_email(provider_context, zoho):
    result = registry.get("zoho_crm")().perform(
        context(provider_context, zoho), "upsert_contact", {"email": "contact7@zylker.com", "last_name": "Byron"}
    )

    assert zoho.upserts[0]["data"] == [{"Email": "contact7@zylker.com", "Last_Name": "Byron"}]
    assert (result["id"], result["action"], result["duplicate_field"]) == (str(FIRST_ID + 7), "update", "Email")
    assert len(zoho.records["Contacts"]) == 25


def test_a_record_zoho_refuses_is_a_request_error_with_zohos_message(provider_context, zoho):
    # input validation requires a last name; this bypasses it to see Zoho's own per-record error come through
    with pytest.raises(ProviderRequestError) as failure:
        registry.get("zoho_crm")().perform(context(provider_context, zoho), "upsert_contact", {"email": "x@zylker.com"})

    assert failure.value.message == "Zoho CRM refused the request: required field not found"
    assert failure.value.provider_status == 400


def test_upsert_contact_input_is_validated_field_by_field():
    action = registry.get("zoho_crm").action("upsert_contact")

    with pytest.raises(ValidationError) as failure:
        action.clean({"email": "not-an-email", "first_name": 7, "nickname": "x"})

    assert failure.value.message_dict == {
        "email": ["Enter a valid email address."],
        "last_name": ["This field is required."],
        "first_name": ["Must be a string."],
        "nickname": ["Unknown field."],
    }
    assert action.clean({"email": " a@b.co ", "last_name": "Lee"}) == {"email": "a@b.co", "last_name": "Lee"}


# --- resilience -----------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out_and_then_succeeds(provider_context, zoho):
    zoho.failures.append(error(429, "TOO_MANY_REQUESTS", "Rate limit exceeded."))
    zoho.failures[0].headers["Retry-After"] = "1"

    started = time.monotonic()
    page = registry.get("zoho_crm")().read(context(provider_context, zoho), "contacts", cursor=None, limit=5)

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == [str(FIRST_ID + n) for n in range(1, 6)]
    assert len(zoho.seen) == 2


def test_5xx_then_success_is_retried_for_reads(provider_context, zoho):
    zoho.failures.append(error(500, "INTERNAL_ERROR", "Internal Server Error"))

    page = registry.get("zoho_crm")().read(context(provider_context, zoho), "leads", cursor=None, limit=5)

    assert [r.id for r in page.records] == [str(FIRST_ID + 50000 + n) for n in range(3)]
    assert len(zoho.seen) == 2


def test_a_5xx_on_upsert_is_not_sent_twice(provider_context, zoho):
    zoho.failures.append(error(500, "INTERNAL_ERROR", "Internal Server Error"))

    with pytest.raises(ProviderUnavailableError):
        registry.get("zoho_crm")().perform(
            context(provider_context, zoho), "upsert_contact", {"email": "a@zylker.com", "last_name": "A"}
        )
    assert len(zoho.seen) == 1
    assert zoho.upserts == []


def test_malformed_json_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request(f"{API}/Contacts").respond_with_data("{not json", content_type="application/json")
    ctx = provider_context(
        "zoho_crm",
        {"region": "com", "client_id": "cid", "api_domain": httpserver.url_for("/").rstrip("/")},
        {"access_token": ACCESS_TOKEN},
    )

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("zoho_crm")().read(ctx, "contacts", cursor=None, limit=10)


def test_a_list_without_data_and_info_is_a_bad_response(provider_context, httpserver):
    httpserver.expect_request(f"{API}/Leads").respond_with_json({"data": {"id": "1"}, "info": {}})
    ctx = provider_context(
        "zoho_crm",
        {"region": "com", "client_id": "cid", "api_domain": httpserver.url_for("/").rstrip("/")},
        {"access_token": ACCESS_TOKEN},
    )

    with pytest.raises(BadResponseError, match="Leads list"):
        registry.get("zoho_crm")().read(ctx, "leads", cursor=None, limit=10)


# --- configuration --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "accounts", "api"),
    [
        ("com", "https://accounts.zoho.com", "https://www.zohoapis.com"),
        ("eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
        ("in", "https://accounts.zoho.in", "https://www.zohoapis.in"),
        ("com.au", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
        ("jp", "https://accounts.zoho.jp", "https://www.zohoapis.jp"),
        ("ca", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
        ("sa", "https://accounts.zoho.sa", "https://www.zohoapis.sa"),
    ],
)
def test_the_data_centre_picks_the_accounts_server_and_the_api_domain(region, accounts, api):
    provider = registry.get("zoho_crm")
    config, secrets_ = provider.clean_config({"region": region, "client_id": "cid", "client_secret": "cs"})
    oauth = provider.auth.oauth2

    assert (config, secrets_) == ({"region": region, "client_id": "cid"}, {"client_secret": "cs"})
    assert oauth.resolve(oauth.authorize_url, config) == f"{accounts}/oauth/v2/auth"
    assert oauth.resolve(oauth.token_url, config) == f"{accounts}/oauth/v2/token"
    assert provider().base_url(config) == f"{api}/crm/v8/"


def test_oauth_asks_for_offline_access_to_contacts_and_leads():
    provider = registry.get("zoho_crm")

    assert provider.auth.type == "oauth2"
    assert provider.auth.oauth2.scopes == (
        "ZohoCRM.modules.contacts.ALL",
        "ZohoCRM.modules.leads.ALL",
        "ZohoCRM.notifications.ALL",
    )
    assert provider.auth.oauth2.scope_separator == ","
    assert provider.auth.oauth2.extra_authorize_params == {"access_type": "offline", "prompt": "consent"}
    assert {f.name for f in provider.config_fields if f.secret} == {"client_secret", "webhook_secret"}


def test_the_api_domain_override_must_be_a_zoho_api_domain():
    provider = registry.get("zoho_crm")
    base = {"region": "com", "client_id": "cid", "client_secret": "cs"}

    config, _ = provider.clean_config({**base, "api_domain": "https://www.zohoapis.eu/"})
    assert provider().base_url(config) == "https://www.zohoapis.eu/crm/v8/"
    for bad in ("https://evil.example.com", "http://www.zohoapis.com", "https://www.zohoapis.com/crm/v2"):
        with pytest.raises(ValidationError) as failure:
            provider.clean_config({**base, "api_domain": bad})
        assert list(failure.value.message_dict) == ["api_domain"]
    with pytest.raises(ConfigurationError, match="API domain"):
        provider().base_url({"region": "com", "api_domain": "https://evil.example.com"})


# --- webhooks -------------------------------------------------------------------------------------------------

CHANNEL_TOKEN = "TOKEN_FOR_VERIFICATION_OF_1000000068001"


def notification(token=CHANNEL_TOKEN, **overrides) -> bytes:
    """As documented, Zoho sends the channel's token back in the body of every notification."""
    body = {
        "server_time": 1772437903000,
        "query_params": {},
        "module": "Contacts",
        "resource_uri": "https://www.zohoapis.com/crm/v8/Contacts",
        "ids": ["4150868000000224007", "4150868000000224008"],
        "affected_fields": [],
        "operation": "update",
        "channel_id": "1000000068001",
        "token": token,
        **overrides,
    }
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def test_a_notification_carrying_the_channel_token_is_accepted():
    body = notification()

    event = registry.get("zoho_crm")().verify_webhook(
        method="POST", url="/hooks/zoho", headers={"Content-Type": "application/json"}, body=body, secret=CHANNEL_TOKEN
    )

    assert event.event_id == "1000000068001:1772437903000:update:4150868000000224007,4150868000000224008"
    assert event.event_type == "Contacts.update"
    assert event.payload == json.loads(body)


@pytest.mark.parametrize(
    ("body", "secret"),
    [
        (notification(token="TOKEN_FOR_VERIFICATION_OF_1000000068002"), CHANNEL_TOKEN),
        (notification(token=CHANNEL_TOKEN.lower()), CHANNEL_TOKEN),
        (notification(token=None), CHANNEL_TOKEN),
        (notification(token=12345), "12345"),
        (notification(), ""),
        (b"token=" + CHANNEL_TOKEN.encode(), CHANNEL_TOKEN),
        (b"[]", CHANNEL_TOKEN),
    ],
    ids=["other-channel", "case", "missing", "not-a-string", "no-secret-configured", "not-json", "not-an-object"],
)
def test_a_notification_without_the_right_token_is_rejected(body, secret):
    with pytest.raises(WebhookVerificationError):
        registry.get("zoho_crm")().verify_webhook(
            method="POST", url="/hooks/zoho", headers={}, body=body, secret=secret
        )


def test_event_ids_of_bulk_notifications_stay_short_and_distinct():
    provider = registry.get("zoho_crm")()
    many = [str(FIRST_ID + n) for n in range(100)]

    first = provider.verify_webhook(
        method="POST", url="/", headers={}, body=notification(ids=many), secret=CHANNEL_TOKEN
    )
    second = provider.verify_webhook(
        method="POST", url="/", headers={}, body=notification(ids=many[1:]), secret=CHANNEL_TOKEN
    )

    assert len(first.event_id) < 120
    assert first.event_id != second.event_id


def test_the_api_domain_named_by_zohos_token_response_is_where_calls_go(provider_context, httpserver):
    fake = FakeZohoCRM(httpserver)
    ctx = provider_context(
        "zoho_crm",
        {"region": "eu", "client_id": "1000.CLIENTID"},  # the data centre's default would be www.zohoapis.eu
        {"client_secret": "s3cret", "access_token": ACCESS_TOKEN, "refresh_token": "1", "api_domain": fake.api_domain},
    )

    records, _ = read_all(ctx, "contacts")

    assert records and all(entry[0].path.startswith("/crm/") for entry in httpserver.log)


def test_the_uk_data_centre_has_its_accounts_server_and_api_domain():
    provider = registry.get("zoho_crm")
    config, _ = provider.clean_config({"region": "uk", "client_id": "1000.CLIENTID", "client_secret": "s"})
    oauth = provider.auth.oauth2

    assert oauth.resolve(oauth.token_url, config).startswith("https://accounts.zoho.uk/")
    assert provider().base_url(config) == "https://www.zohoapis.uk/crm/v8/"


# --- notification channels ------------------------------------------------------------------------------------

HOOK_URL = "https://hub.example.com/hooks/Zq3v9aXbT0kLmN8pQrStUvWx/"


def zoho_connection(fake, *, name="Zoho", channel=None, token=CHANNEL_TOKEN):
    """A Zoho CRM connection of the current tenant schema, authorised, with the channel given (if any) kept."""
    from apps.connectors.models import Connection

    config = {"region": "com", "client_id": "1000.CLIENTID", "api_domain": fake.api_domain}
    if channel is not None:
        config["notification_channel"] = channel
    credentials = {"client_secret": "s3cret", "access_token": ACCESS_TOKEN, "refresh_token": "1000.refresh"}
    if token:
        credentials["webhook_secret"] = token
    if channel is not None:
        credentials["notification_channel_url"] = HOOK_URL
    return Connection.objects.create(provider="zoho_crm", name=name, config=config, credentials=credentials)


def stored_channel(channel_id, *, expires_in, events=("Leads.all",)):
    expires = (datetime.now(UTC) + expires_in).replace(microsecond=0).isoformat()
    return {"channel_id": channel_id, "events": list(events), "expires_at": expires, "error": ""}


@pytest.fixture
def zoho_tenant(db):
    from django_tenants.utils import schema_context

    from tests.factories import make_tenant

    tenant = make_tenant()
    with schema_context(tenant.schema_name):
        yield tenant


def watch(tenant, connection, payload):
    from apps.accounts.audit.services import Actor
    from apps.connectors.services import connection_perform

    return connection_perform(
        tenant=tenant, actor=Actor.system("test"), connection=connection, action="watch_notifications", payload=payload
    )


def test_watch_notifications_enables_a_week_long_channel_whose_notifications_are_then_accepted(zoho_tenant, zoho):
    from apps.connectors.api.serializers import ConnectionSerializer

    connection = zoho_connection(zoho, token=None)

    result = watch(zoho_tenant, connection, {"notify_url": HOOK_URL, "events": "Leads.all, Contacts.edit,Leads.all"})

    [(method, body)] = zoho.watches
    [sent] = body["watch"]
    assert method == "POST"
    assert sorted(sent) == ["channel_expiry", "channel_id", "events", "notify_url", "token"]
    assert (sent["events"], sent["notify_url"]) == (["Leads.all", "Contacts.edit"], HOOK_URL)
    assert sent["channel_id"].isdigit() and 1 <= len(sent["token"]) <= 50
    expiry = datetime.fromisoformat(sent["channel_expiry"])
    assert timedelta(days=6, hours=23) < expiry - datetime.now(UTC) <= timedelta(days=7)
    connection.refresh_from_db()
    # the token made up for the channel is the connection's webhook secret; the channel is in its config, and the
    # notify URL (a capability URL: the endpoint's routing token) only with the encrypted credentials
    assert connection.credentials["webhook_secret"] == sent["token"]
    assert connection.credentials["notification_channel_url"] == HOOK_URL
    assert connection.config["notification_channel"] == {
        "channel_id": sent["channel_id"],
        "events": ["Leads.all", "Contacts.edit"],
        "expires_at": expiry.isoformat(),
        "error": "",
    }
    assert HOOK_URL not in json.dumps(ConnectionSerializer(connection).data)
    assert result == {
        "id": sent["channel_id"],
        "events": ["Leads.all", "Contacts.edit"],
        "notify_url": HOOK_URL,
        "expires_at": expiry.isoformat(),
    }
    notified = notification(token=sent["token"], channel_id=sent["channel_id"])
    event = registry.get("zoho_crm")().verify_webhook(
        method="POST", url=HOOK_URL, headers={}, body=notified, secret=connection.credentials["webhook_secret"]
    )
    assert event.event_type == "Contacts.update"


def test_watching_again_resubscribes_the_same_channel_with_the_configured_token(zoho_tenant, zoho):
    connection = zoho_connection(zoho)
    watch(zoho_tenant, connection, {"notify_url": HOOK_URL, "events": "Leads.all"})
    connection.refresh_from_db()

    watch(zoho_tenant, connection, {"notify_url": HOOK_URL, "events": "Contacts.all"})

    first, second = (body["watch"][0] for _, body in zoho.watches)
    assert first["channel_id"] == second["channel_id"]
    assert first["token"] == second["token"] == CHANNEL_TOKEN
    assert list(zoho.channels) == [first["channel_id"]]
    connection.refresh_from_db()
    assert connection.config["notification_channel"]["events"] == ["Contacts.all"]
    assert connection.credentials["webhook_secret"] == CHANNEL_TOKEN


def test_a_channel_zoho_refuses_is_reported_with_its_code_and_nothing_is_kept(zoho_tenant, zoho):
    connection = zoho_connection(zoho, token=None)

    with pytest.raises(ProviderRequestError) as refused:
        watch(zoho_tenant, connection, {"notify_url": HOOK_URL, "events": "Dealz.all"})

    assert refused.value.message == "Zoho CRM refused the request: INVALID_DATA: invalid data (events)"
    assert refused.value.provider_status == 400
    connection.refresh_from_db()
    assert "notification_channel" not in connection.config
    assert "webhook_secret" not in connection.credentials


def test_watch_notifications_input_is_validated_before_anything_reaches_zoho():
    action = registry.get("zoho_crm").action("watch_notifications")

    with pytest.raises(ValidationError) as failure:
        action.clean({"notify_url": "not a url", "events": "Leads.all"})
    assert failure.value.message_dict == {"notify_url": ["Enter a valid http(s) URL."]}
    for events in ("Leads", "Leads.update", "Leads.all;drop", " , "):
        with pytest.raises(ValidationError) as failure:
            action.clean({"notify_url": HOOK_URL, "events": events})
        assert list(failure.value.message_dict) == ["events"]
    with pytest.raises(ValidationError) as failure:
        action.clean({"events": "Leads.all"})
    assert failure.value.message_dict == {"notify_url": ["This field is required."]}


def test_renewal_patches_only_channels_near_expiry_and_keeps_their_new_expiry(zoho_tenant, zoho):
    from apps.connectors.channels import notification_channels_renew

    near = zoho_connection(zoho, name="near", channel=stored_channel("1001", expires_in=timedelta(hours=3)))
    far = zoho_connection(zoho, name="far", channel=stored_channel("1002", expires_in=timedelta(days=5)))
    zoho_connection(zoho, name="no channel")
    zoho.channels = {"1001": {}, "1002": {}}
    far_before = dict(far.config)

    outcome = notification_channels_renew(tenant=zoho_tenant)

    assert outcome == {"renewed": 1, "failed": 0}
    [(method, body)] = zoho.watches
    assert method == "PATCH"
    assert body["watch"][0]["channel_id"] == "1001"
    assert sorted(body["watch"][0]) == ["channel_expiry", "channel_id", "events", "notify_url", "token"]
    assert (body["watch"][0]["events"], body["watch"][0]["token"]) == (["Leads.all"], CHANNEL_TOKEN)
    assert body["watch"][0]["notify_url"] == HOOK_URL
    near.refresh_from_db()
    far.refresh_from_db()
    renewed_until = datetime.fromisoformat(near.config["notification_channel"]["expires_at"])
    assert renewed_until == datetime.fromisoformat(body["watch"][0]["channel_expiry"])
    assert renewed_until - datetime.now(UTC) > timedelta(days=6, hours=23)
    assert far.config == far_before


def test_a_renewal_zoho_refuses_is_kept_with_its_code_and_the_other_channels_still_renew(zoho_tenant, zoho):
    from apps.accounts.audit.models import AuditEvent
    from apps.connectors.channels import notification_channels_renew

    gone = zoho_connection(zoho, name="gone", channel=stored_channel("2001", expires_in=timedelta(hours=1)))
    kept = zoho_connection(zoho, name="kept", channel=stored_channel("2002", expires_in=timedelta(hours=20)))
    zoho.channels = {"2002": {}}  # Zoho no longer knows 2001

    outcome = notification_channels_renew(tenant=zoho_tenant)

    assert outcome == {"renewed": 1, "failed": 1}
    gone.refresh_from_db()
    kept.refresh_from_db()
    assert gone.config["notification_channel"]["error"] == (
        "Zoho CRM refused the request: INVALID_DATA: invalid data (channel_id)"
    )
    assert kept.config["notification_channel"]["error"] == ""
    assert datetime.fromisoformat(kept.config["notification_channel"]["expires_at"]) - datetime.now(UTC) > timedelta(
        days=6
    )
    assert [c["channel_id"] for _, body in zoho.watches for c in body["watch"]] == ["2001", "2002"]
    assert AuditEvent.objects.filter(action="connection.channel_renewal_failed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_scheduled_health_check_renews_each_tenants_channels_and_one_tenants_failure_stops_no_other(zoho):
    from django_tenants.utils import schema_context

    from apps.connectors.models import ConnectionCheck
    from apps.workflows.temporal.activities import check_tenant_connections
    from tests.factories import make_tenant

    failing, fine = make_tenant(slug="zoho-renew-a"), make_tenant(slug="zoho-renew-b")
    with schema_context(failing.schema_name):
        zoho_connection(zoho, channel=stored_channel("3001", expires_in=timedelta(hours=2)))
    with schema_context(fine.schema_name):
        renewed = zoho_connection(zoho, channel=stored_channel("3002", expires_in=timedelta(hours=2)))
    zoho.channels = {"3002": {}}  # tenant a's channel is unknown to Zoho: its renewal is refused

    outcomes = [check_tenant_connections(tenant.schema_name) for tenant in (failing, fine)]

    assert outcomes == [
        {"checked": 1, "failing": 0, "channels_renewed": 0, "channels_failed": 1},
        {"checked": 1, "failing": 0, "channels_renewed": 1, "channels_failed": 0},
    ]
    with schema_context(fine.schema_name):
        renewed.refresh_from_db()
        channel = renewed.config["notification_channel"]
        assert datetime.fromisoformat(channel["expires_at"]) - datetime.now(UTC) > timedelta(days=6)
        assert ConnectionCheck.objects.filter(trigger="scheduled", ok=True).count() == 1
    with schema_context(failing.schema_name):
        from apps.connectors.models import Connection

        assert Connection.objects.get().config["notification_channel"]["error"].endswith("(channel_id)")


def test_a_channel_that_already_lapsed_is_enabled_again_and_a_repeated_failure_is_audited_once(zoho_tenant, zoho):
    from apps.accounts.audit.models import AuditEvent
    from apps.connectors.channels import notification_channels_renew

    lapsed = zoho_connection(zoho, name="lapsed", channel=stored_channel("4001", expires_in=timedelta(hours=-30)))
    refused = zoho_connection(
        zoho, name="refused", channel=stored_channel("4002", expires_in=timedelta(hours=1), events=["Dealz.all"])
    )

    outcomes = [notification_channels_renew(tenant=zoho_tenant) for _ in range(2)]

    assert outcomes == [{"renewed": 1, "failed": 1}, {"renewed": 0, "failed": 1}]
    assert [(method, body["watch"][0]["channel_id"]) for method, body in zoho.watches] == [
        ("POST", "4001"),  # lapsed: enabled again (a PATCH of an expired channel would not bring it back)
        ("PATCH", "4002"),
        ("PATCH", "4002"),
    ]
    lapsed.refresh_from_db()
    assert datetime.fromisoformat(lapsed.config["notification_channel"]["expires_at"]) > datetime.now(UTC)
    refused.refresh_from_db()
    assert refused.config["notification_channel"]["error"].endswith("INVALID_DATA: invalid data (events)")
    assert AuditEvent.objects.filter(action="connection.channel_renewal_failed").count() == 1


def test_watch_input_refused_by_the_service_names_the_field_and_sends_nothing(zoho_tenant, zoho):
    connection = zoho_connection(zoho, token=None)

    with pytest.raises(ValidationError) as failure:
        watch(zoho_tenant, connection, {"notify_url": HOOK_URL, "events": "Leads.update"})

    assert list(failure.value.message_dict) == ["input.events"]
    assert zoho.watches == []
    connection.refresh_from_db()
    assert "notification_channel" not in connection.config and "webhook_secret" not in connection.credentials


def test_a_token_without_the_notifications_scope_asks_for_authorising_again(provider_context, zoho):
    zoho.scopes.discard("ZohoCRM.notifications.ALL")  # authorised before channels were offered
    ctx = context(provider_context, zoho)

    with pytest.raises(NeedsReauthError) as refused:
        registry.get("zoho_crm")().perform(ctx, "watch_notifications", {"notify_url": HOOK_URL, "events": "Leads.all"})

    assert refused.value.message == (
        "Zoho CRM rejected the credentials: OAUTH_SCOPE_MISMATCH: invalid oauth scope to access this URL. "
        "Notification channels need the ZohoCRM.notifications.ALL scope: connect Zoho CRM again (OAuth) to grant it."
    )
    assert "notification_channel" not in ctx.config and "webhook_secret" not in ctx.credentials
