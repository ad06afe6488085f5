"""WordPress against a loopback server that follows the wp/v2 contract."""

import base64
import json
import re
from datetime import UTC, date

import pytest
from werkzeug import Response

from apps.connectors.base import WebhookVerificationError
from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    ProviderRequestError,
    ProviderUnavailableError,
)
from apps.connectors.registry import registry

USER, APP_PASSWORD = "editor", "abcd EFGH ijkl MNOP qrst UVWX"
EXPECTED_AUTH = "Basic " + base64.b64encode(f"{USER}:{APP_PASSWORD}".encode()).decode()


def post(n: int, modified: str = "2026-11-01T10:00:00", status: str = "publish", title: str = "") -> dict:
    """A post as the edit context answers it; `modified` is UTC (`modified_gmt`); the site is UTC+9."""
    raw = title or f"Post {n}"
    rendered = raw.replace("&", "&#038;").replace("'", "&#8217;")
    return {
        "id": n,
        "title": {"raw": raw, "rendered": f"Private: {rendered}" if status == "private" else rendered},
        "status": status,
        "link": f"https://blog.example.com/post-{n}",
        "excerpt": {"raw": "", "rendered": f"<p>About {n}</p>"},
        "modified": _site_time(modified),
        "modified_gmt": modified,
    }


def _site_time(utc: str) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(utc) + timedelta(hours=9)).isoformat()


def _as_utc(value: str) -> str:
    """modified_after / modified_before: ISO 8601; with a zone WordPress converts it, without one it is site time."""
    from datetime import datetime, timedelta

    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return (moment - timedelta(hours=9)).isoformat()
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def _error(code: str, message: str, status: int, params: dict | None = None) -> Response:
    data = {"status": status, **({"params": params} if params else {})}
    return Response(json.dumps({"code": code, "message": message, "data": data}), status=status,
                    content_type="application/json")  # fmt: skip


class FakeWordPress:
    """wp/v2 as WordPress 6.1 answers it (checked against the real one in test_wordpress_real.py): Basic auth with
    an application password, page/per_page pagination with X-WP-* headers, a list without `status` answering
    published posts only, the edit context leaving out what the user may not edit, `title.raw` in it."""

    def __init__(self, httpserver, posts: int = 25, may_edit_others: bool = True):
        self.server = httpserver
        self.posts = [post(n) for n in range(1, posts + 1)]
        self.created: list[dict] = []
        self.updated: list[dict] = []
        self.may_edit_others = may_edit_others
        httpserver.expect_request("/wp-json/wp/v2/posts", method="GET").respond_with_handler(self.list_posts)
        httpserver.expect_request("/wp-json/wp/v2/users/me").respond_with_handler(self.me)
        httpserver.expect_request("/wp-json/wp/v2/posts", method="POST").respond_with_handler(self.create)
        httpserver.expect_request(re.compile(r"^/wp-json/wp/v2/posts/\d+$")).respond_with_handler(self.one)

    @property
    def site_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _unauthorised(self, request):
        if request.headers.get("Authorization") != EXPECTED_AUTH:
            return _error("rest_not_logged_in", "You are not currently logged in.", 401)
        return None

    def me(self, request):
        capabilities = {"edit_posts": True, "edit_published_posts": True}
        if self.may_edit_others:
            capabilities |= {"edit_others_posts": True, "edit_private_posts": True}
        return self._unauthorised(request) or Response(
            json.dumps({"id": 1, "name": USER, "capabilities": capabilities}), content_type="application/json"
        )

    def one(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        post_id = int(request.path.rsplit("/", 1)[1])
        found = next((p for p in self.posts if p["id"] == post_id), None)
        if found is None:
            return _error("rest_post_invalid_id", "Invalid post ID.", 404)
        if request.method == "POST":
            body = request.get_json()
            self.updated.append(body)
            found.update({"status": body.get("status", found["status"])})
            if "title" in body:
                found["title"] = {"raw": body["title"], "rendered": body["title"]}
        return Response(json.dumps(found), content_type="application/json")

    def list_posts(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 10))
        if per_page > 100:
            return _error("rest_invalid_param", "Invalid parameter(s): per_page", 400,
                          {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"})  # fmt: skip
        status, edit = request.args.get("status", "publish"), request.args.get("context") == "edit"
        after, before = request.args.get("modified_after"), request.args.get("modified_before")
        after, before = after and _as_utc(after), before and _as_utc(before)
        posts = [
            p
            for p in self.posts
            if ((status == "any" and p["status"] != "trash") or p["status"] == status)
            and (not after or p["modified_gmt"] > after)
            and (not before or p["modified_gmt"] < before)
        ]
        total_pages = max(1, -(-len(posts) // per_page))
        chunk = posts[(page - 1) * per_page : page * per_page]
        if edit and not self.may_edit_others:
            chunk = []  # the edit context leaves out what the user may not edit; X-WP-Total still counts it
        if not edit:
            chunk = [{**p, "title": {"rendered": p["title"]["rendered"]}} for p in chunk]
        return Response(
            json.dumps(chunk),
            content_type="application/json",
            headers={"X-WP-Total": str(len(posts)), "X-WP-TotalPages": str(total_pages)},
        )

    def create(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        body = request.get_json()
        created = {**post(1000 + len(self.created)), "title": {"rendered": body["title"]}, "status": body["status"]}
        self.created.append(body)
        return Response(json.dumps(created), status=201, content_type="application/json")


@pytest.fixture
def wordpress(httpserver):
    return FakeWordPress(httpserver)


def context(provider_context, fake, password=APP_PASSWORD):
    return provider_context(
        "wordpress", {"site_url": fake.site_url, "username": USER}, {"application_password": password}
    )


def read_all(ctx, resource, limit=10):
    provider, cursor, records, pages = registry.get("wordpress")(), None, [], 0
    while True:
        page = provider.read(ctx, resource, cursor=cursor, limit=limit)
        records += page.records
        pages += 1
        if not page.next_cursor:
            return records, pages
        cursor = page.next_cursor


def test_a_date_window_sends_modified_after_and_before_and_only_posts_in_it_come_back(provider_context, httpserver):
    fake = FakeWordPress(httpserver, posts=0)
    fake.posts = [post(1, "2026-10-31T23:59:00"), post(2, "2026-11-01T00:30:00"), post(3, "2026-11-07T23:00:00")]
    fake.posts += [post(4, "2026-11-08T00:00:01"), post(5, "2026-11-07T16:00:00", status="draft")]

    page = registry.get("wordpress")().read(
        context(provider_context, fake),
        "posts",
        cursor=None,
        limit=10,
        since=date(2026, 11, 1),
        until=date(2026, 11, 7),
    )

    sent = next(entry[0].args for entry in httpserver.log if entry[0].path.endswith("/posts"))
    # UTC days, like updated_at: post 5 is the 8th in the site's time zone but the 7th in UTC
    assert (sent["modified_after"], sent["modified_before"]) == ("2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z")
    assert [r.id for r in page.records] == ["2", "3", "5"]
    assert page.next_cursor is None


def test_reads_every_post_across_pages_normalised_with_raw(provider_context, wordpress):
    records, pages = read_all(context(provider_context, wordpress), "posts", limit=10)

    assert pages == 3
    assert [r.id for r in records] == [str(n) for n in range(1, 26)]
    assert records[0].data == {
        "id": "1",
        "title": "Post 1",
        "status": "publish",
        "url": "https://blog.example.com/post-1",
        "excerpt": "<p>About 1</p>",
        "updated_at": "2026-11-01T10:00:00Z",
    }
    assert records[0].raw["title"] == {"raw": "Post 1", "rendered": "Post 1"}


def test_check_with_a_wrong_password_is_an_authentication_error_with_the_providers_message(provider_context, wordpress):
    with pytest.raises(AuthenticationError) as failure:
        registry.get("wordpress")().check(context(provider_context, wordpress, password="wrong"))

    assert "not currently logged in" in failure.value.message
    assert "wrong" not in failure.value.message


def test_create_draft_post_always_sends_draft(provider_context, wordpress):
    result = registry.get("wordpress")().perform(
        context(provider_context, wordpress), "create_draft_post", {"title": "Hello", "content": "<p>x</p>"}
    )

    assert wordpress.created == [{"title": "Hello", "content": "<p>x</p>", "status": "draft"}]
    assert result["status"] == "draft"


def test_429_with_retry_after_is_waited_out(provider_context, httpserver):
    httpserver.expect_ordered_request("/wp-json/wp/v2/posts").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "1"})
    )
    httpserver.expect_ordered_request("/wp-json/wp/v2/posts").respond_with_json(
        [post(1)], headers={"X-WP-TotalPages": "1"}
    )
    ctx = provider_context(
        "wordpress",
        {"site_url": httpserver.url_for("/").rstrip("/"), "username": USER},
        {"application_password": APP_PASSWORD},
    )

    import time

    started = time.monotonic()
    page = registry.get("wordpress")().read(ctx, "posts", cursor=None, limit=10)

    assert time.monotonic() - started >= 1.0
    assert [r.id for r in page.records] == ["1"]


def test_5xx_then_success_is_retried(provider_context, httpserver):
    httpserver.expect_ordered_request("/wp-json/wp/v2/posts").respond_with_data("oops", status=502)
    httpserver.expect_ordered_request("/wp-json/wp/v2/posts").respond_with_json(
        [post(7)], headers={"X-WP-TotalPages": "1"}
    )
    ctx = provider_context(
        "wordpress",
        {"site_url": httpserver.url_for("/").rstrip("/"), "username": USER},
        {"application_password": APP_PASSWORD},
    )

    page = registry.get("wordpress")().read(ctx, "posts", cursor=None, limit=10)

    assert [r.id for r in page.records] == ["7"]


def test_persistent_5xx_is_provider_unavailable(provider_context, httpserver):
    httpserver.expect_request("/wp-json/wp/v2/posts").respond_with_data("down", status=503)
    ctx = provider_context(
        "wordpress",
        {"site_url": httpserver.url_for("/").rstrip("/"), "username": USER},
        {"application_password": APP_PASSWORD},
    )

    with pytest.raises(ProviderUnavailableError):
        registry.get("wordpress")().read(ctx, "posts", cursor=None, limit=10)
    assert len(httpserver.log) == 4  # the first try and three retries


def test_malformed_json_is_a_clear_error(provider_context, httpserver):
    httpserver.expect_request("/wp-json/wp/v2/posts").respond_with_data("{not json", content_type="application/json")
    ctx = provider_context(
        "wordpress",
        {"site_url": httpserver.url_for("/").rstrip("/"), "username": USER},
        {"application_password": APP_PASSWORD},
    )

    with pytest.raises(BadResponseError, match="not valid JSON"):
        registry.get("wordpress")().read(ctx, "posts", cursor=None, limit=10)


def test_webhook_shared_secret():
    provider = registry.get("wordpress")()
    body = json.dumps({"event": "post_updated", "id": 5, "modified_gmt": "x"}).encode()

    event = provider.verify_webhook(
        method="POST", url="/", headers={"X-BizOSaaS-Webhook-Secret": "s3"}, body=body, secret="s3"
    )

    assert (event.event_type, event.payload["id"]) == ("post_updated", 5)
    with pytest.raises(WebhookVerificationError):
        provider.verify_webhook(
            method="POST", url="/", headers={"X-BizOSaaS-Webhook-Secret": "no"}, body=body, secret="s3"
        )


@pytest.mark.django_db
def test_the_live_preview_takes_a_date_window_and_refuses_bad_or_unsupported_ones(api, httpserver):
    from tests.connectors.providers.test_hubspot import PRIVATE_APP_TOKEN
    from tests.factories import bearer, make_member, make_tenant

    fake = FakeWordPress(httpserver, posts=0)
    fake.posts = [post(1, "2026-10-20T09:00:00"), post(2, "2026-11-02T09:00:00"), post(3, "2026-11-09T09:00:00")]
    tenant = make_tenant()
    admin = make_member(tenant, "admin")
    auth = bearer(admin, tenant)
    config = {"site_url": fake.site_url, "username": USER, "application_password": APP_PASSWORD}
    blog = api.post("/api/v1/connections/", {"provider": "wordpress", "name": "Blog", "config": config}, **auth)
    crm_config = {"private_app_token": PRIVATE_APP_TOKEN, "api_base_url": "http://127.0.0.1:9"}
    crm = api.post("/api/v1/connections/", {"provider": "hubspot", "name": "CRM", "config": crm_config}, **auth)
    url = f"/api/v1/connections/{blog.json()['id']}/resources/posts/"

    windowed = api.get(url, {"since": "2026-11-01", "until": "2026-11-07"}, **auth)
    reads_before = len(httpserver.log)
    bad = api.get(url, {"since": "1 Nov", "until": "2026-13-01"}, **auth)
    backwards = api.get(url, {"since": "2026-11-07", "until": "2026-11-01"}, **auth)
    unsupported = api.get(
        f"/api/v1/connections/{crm.json()['id']}/resources/contacts/", {"since": "2026-11-01"}, **auth
    )

    assert windowed.status_code == 200, windowed.content
    assert [r["id"] for r in windowed.json()["records"]] == ["2"]
    assert httpserver.log[-1][0].args["modified_after"] == "2026-11-01T00:00:00Z"
    assert bad.status_code == 400 and set(bad.json()) == {"since", "until"}
    assert backwards.status_code == 400 and set(backwards.json()) == {"until"}
    assert unsupported.status_code == 400 and set(unsupported.json()) == {"since"}
    assert len(httpserver.log) == reads_before  # refused windows never reach a provider


def test_a_read_asks_for_every_status_and_gives_the_titles_as_typed(provider_context, httpserver):
    fake = FakeWordPress(httpserver, posts=0)
    fake.posts = [post(1, title="Tom's Q&A"), post(2, status="draft"), post(3, status="private", title="Memo")]
    fake.posts.append(post(4, status="trash"))

    records, _ = read_all(context(provider_context, fake), "posts")

    sent = next(entry[0].args for entry in httpserver.log if entry[0].path.endswith("/posts"))
    assert (sent["status"], sent["context"]) == ("any", "edit")
    assert [(r.id, r.data["status"], r.data["title"]) for r in records] == [
        ("1", "publish", "Tom's Q&A"),
        ("2", "draft", "Post 2"),
        ("3", "private", "Memo"),  # not "Private: Memo"
    ]


def test_a_user_who_may_not_edit_others_posts_reads_the_view_context(provider_context, httpserver):
    fake = FakeWordPress(httpserver, posts=0, may_edit_others=False)
    fake.posts = [post(n, title=f"Tom's {n}") for n in range(1, 4)]

    records, pages = read_all(context(provider_context, fake), "posts", limit=2)

    # the edit context would have answered nothing: WordPress leaves out what the user may not edit
    # rendered titles decoded (WordPress's curly quotes are what the site shows)
    assert [(r.id, r.data["title"]) for r in records] == [(str(n), f"Tom\u2019s {n}") for n in (1, 2, 3)]
    assert pages == 2
    lists = [entry[0].args for entry in httpserver.log if entry[0].path.endswith("/posts")]
    assert [(a["page"], a["context"]) for a in lists] == [("1", "edit"), ("1", "view"), ("2", "view")]


def test_update_draft_post_changes_a_draft_and_never_unpublishes_a_post(provider_context, httpserver):
    fake = FakeWordPress(httpserver, posts=0)
    fake.posts = [post(1, status="draft"), post(2)]
    ctx, provider = context(provider_context, fake), registry.get("wordpress")()

    result = provider.perform(ctx, "update_draft_post", {"id": 1, "title": "New"})
    with pytest.raises(ProviderRequestError, match="publish, not a draft"):
        provider.perform(ctx, "update_draft_post", {"id": 2, "title": "Hijacked"})

    assert (result["status"], result["record"]["title"]) == ("draft", "New")
    assert fake.updated == [{"title": "New"}]
    assert fake.posts[1]["status"] == "publish"


def test_a_bad_parameter_names_the_parameter_and_wordpress_code(provider_context, httpserver):
    httpserver.expect_request("/wp-json/wp/v2/posts").respond_with_response(
        _error("rest_invalid_param", "Invalid parameter(s): page", 400, {"page": "page must be at least 1."})
    )
    ctx = provider_context(
        "wordpress",
        {"site_url": httpserver.url_for("/").rstrip("/"), "username": USER},
        {"application_password": APP_PASSWORD},
    )

    with pytest.raises(ProviderRequestError) as failure:
        registry.get("wordpress")().read(ctx, "posts", cursor=None, limit=10)

    assert "page: page must be at least 1. (rest_invalid_param)" in failure.value.message
