"""WordPress against a loopback server that follows the wp/v2 contract."""

import base64
import json
from datetime import date

import pytest
from werkzeug import Response

from apps.connectors.base import WebhookVerificationError
from apps.connectors.exceptions import AuthenticationError, BadResponseError, ProviderUnavailableError
from apps.connectors.registry import registry

USER, APP_PASSWORD = "editor", "abcd EFGH ijkl MNOP qrst UVWX"
EXPECTED_AUTH = "Basic " + base64.b64encode(f"{USER}:{APP_PASSWORD}".encode()).decode()


def post(n: int, modified: str = "2026-11-01T10:00:00") -> dict:
    return {
        "id": n,
        "title": {"rendered": f"Post {n}"},
        "status": "publish",
        "link": f"https://blog.example.com/post-{n}",
        "excerpt": {"rendered": f"<p>About {n}</p>"},
        "modified": modified,  # site time, what modified_after / modified_before compare with
        "modified_gmt": modified,
    }


class FakeWordPress:
    """wp/v2: Basic auth with an application password, page/per_page pagination with X-WP-* headers."""

    def __init__(self, httpserver, posts: int = 25):
        self.server = httpserver
        self.posts = [post(n) for n in range(1, posts + 1)]
        self.created: list[dict] = []
        httpserver.expect_request("/wp-json/wp/v2/posts", method="GET").respond_with_handler(self.list_posts)
        httpserver.expect_request("/wp-json/wp/v2/users/me").respond_with_handler(self.me)
        httpserver.expect_request("/wp-json/wp/v2/posts", method="POST").respond_with_handler(self.create)

    @property
    def site_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _unauthorised(self, request):
        if request.headers.get("Authorization") != EXPECTED_AUTH:
            body = {
                "code": "incorrect_password",
                "message": "The provided password is an invalid application password.",
                "data": {"status": 401},
            }
            return Response(json.dumps(body), status=401, content_type="application/json")
        return None

    def me(self, request):
        return self._unauthorised(request) or Response(
            json.dumps({"id": 1, "name": USER}), content_type="application/json"
        )

    def list_posts(self, request):
        denied = self._unauthorised(request)
        if denied:
            return denied
        page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 10))
        if per_page > 100:
            return Response(
                json.dumps({"code": "rest_invalid_param", "message": "per_page must be <= 100"}), status=400
            )
        # modified_after / modified_before: strictly after / before an ISO 8601 time in the site's time zone
        after, before = request.args.get("modified_after"), request.args.get("modified_before")
        posts = [
            p for p in self.posts if (not after or p["modified"] > after) and (not before or p["modified"] < before)
        ]
        total_pages = max(1, -(-len(posts) // per_page))
        chunk = posts[(page - 1) * per_page : page * per_page]
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
    fake.posts.append(post(4, "2026-11-08T00:00:01"))

    page = registry.get("wordpress")().read(
        context(provider_context, fake),
        "posts",
        cursor=None,
        limit=10,
        since=date(2026, 11, 1),
        until=date(2026, 11, 7),
    )

    sent = httpserver.log[0][0].args
    assert (sent["modified_after"], sent["modified_before"]) == ("2026-11-01T00:00:00", "2026-11-08T00:00:00")
    assert [r.id for r in page.records] == ["2", "3"]
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
        "updated_at": "2026-11-01T10:00:00",
    }
    assert records[0].raw["title"] == {"rendered": "Post 1"}


def test_check_with_a_wrong_password_is_an_authentication_error_with_the_providers_message(provider_context, wordpress):
    with pytest.raises(AuthenticationError) as failure:
        registry.get("wordpress")().check(context(provider_context, wordpress, password="wrong"))

    assert "invalid application password" in failure.value.message
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
    assert httpserver.log[-1][0].args["modified_after"] == "2026-11-01T00:00:00"
    assert bad.status_code == 400 and set(bad.json()) == {"since", "until"}
    assert backwards.status_code == 400 and set(backwards.json()) == {"until"}
    assert unsupported.status_code == 400 and set(unsupported.json()) == {"since"}
    assert len(httpserver.log) == reads_before  # refused windows never reach a provider
