"""Wagtail against a loopback server following the API v2 contract (limit/offset, meta.total_count)."""

import json

import pytest
from werkzeug import Response

from apps.connectors.exceptions import AuthenticationError, BadResponseError
from apps.connectors.registry import registry

TOKEN = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"


def page(n: int) -> dict:
    return {
        "id": n,
        "meta": {
            "type": "blog.BlogPage",
            "detail_url": f"http://site/api/v2/pages/{n}/",
            "html_url": f"https://www.example.com/blog/page-{n}/",
            "slug": f"page-{n}",
            "first_published_at": "2026-10-01T18:00:00+09:00",  # in the site's time zone
            "search_description": f"About page {n}" if n % 2 else "",
        },
        "title": f"Page {n}",
    }


class FakeWagtail:
    def __init__(self, httpserver, pages=45, token=None, limit_max=20):
        self.server, self.pages, self.token, self.limit_max = (
            httpserver,
            [page(n) for n in range(1, pages + 1)],
            token,
            limit_max,
        )
        httpserver.expect_request("/api/v2/pages/").respond_with_handler(self.list_pages)

    @property
    def site_url(self):
        return self.server.url_for("/").rstrip("/")

    def list_pages(self, request):
        if self.token and request.headers.get("Authorization") != f"Token {self.token}":
            return Response(json.dumps({"detail": "Invalid token."}), status=401, content_type="application/json")
        limit, offset = int(request.args.get("limit", 20)), int(request.args.get("offset", 0))
        if limit > self.limit_max:
            return Response(
                json.dumps({"message": f"limit cannot be higher than {self.limit_max}"}),
                status=400,
                content_type="application/json",
            )
        if request.args.get("fields") not in (None, "search_description"):
            return Response(json.dumps({"message": "unknown fields"}), status=400, content_type="application/json")
        items = self.pages
        if request.args.get("type"):
            items = [p for p in items if p["meta"]["type"] == request.args["type"]]
        body = {"meta": {"total_count": len(items)}, "items": items[offset : offset + limit]}
        return Response(json.dumps(body), content_type="application/json")


def ctx_for(provider_context, fake, **config):
    secrets = {"api_token": config.pop("api_token")} if "api_token" in config else {}
    return provider_context("wagtail", {"site_url": fake.site_url, **config}, secrets)


def test_reads_every_live_page_with_limit_and_offset(provider_context, httpserver):
    fake = FakeWagtail(httpserver, pages=45)
    ctx, provider, cursor, ids, pages = ctx_for(provider_context, fake), registry.get("wagtail")(), None, [], 0
    while True:
        result = provider.read(ctx, "pages", cursor=cursor, limit=100)  # capped to the site's 20
        ids += [r.id for r in result.records]
        pages += 1
        cursor = result.next_cursor
        if not cursor:
            break

    assert pages == 3
    assert ids == [str(n) for n in range(1, 46)]
    first = provider.read(ctx, "pages", cursor=None, limit=1).records[0]
    assert first.data == {
        "id": "1",
        "title": "Page 1",
        "status": "live",
        "url": "https://www.example.com/blog/page-1/",
        "excerpt": "About page 1",
        "updated_at": None,  # API v2 gives only the first publication, not the last
    }
    assert first.raw["meta"]["slug"] == "page-1"


def test_a_protected_api_gets_the_token_and_a_wrong_one_is_an_authentication_error(provider_context, httpserver):
    fake = FakeWagtail(httpserver, token=TOKEN)
    provider = registry.get("wagtail")()

    provider.check(ctx_for(provider_context, fake, api_token=TOKEN))
    with pytest.raises(AuthenticationError, match="Invalid token"):
        provider.check(ctx_for(provider_context, fake, api_token="wrong"))


def test_the_page_type_filter_is_passed(provider_context, httpserver):
    fake = FakeWagtail(httpserver, pages=3)
    fake.pages[1]["meta"]["type"] = "home.HomePage"

    result = registry.get("wagtail")().read(
        ctx_for(provider_context, fake, page_type="home.HomePage"), "pages", cursor=None, limit=20
    )

    assert [r.id for r in result.records] == ["2"]
    assert result.next_cursor is None


def test_malformed_bodies_and_cursors_are_clear_errors(provider_context, httpserver):
    httpserver.expect_request("/api/v2/pages/").respond_with_json({"pages": []})
    ctx = provider_context("wagtail", {"site_url": httpserver.url_for("/").rstrip("/")}, {})

    with pytest.raises(BadResponseError, match="without `items`"):
        registry.get("wagtail")().read(ctx, "pages", cursor=None, limit=20)
    with pytest.raises(BadResponseError, match="Not a Wagtail cursor"):
        registry.get("wagtail")().read(ctx, "pages", cursor="abc", limit=20)


def test_429_then_success_and_5xx_then_success(provider_context, httpserver):
    body = {"meta": {"total_count": 1}, "items": [page(1)]}
    httpserver.expect_ordered_request("/api/v2/pages/").respond_with_response(
        Response("busy", status=429, headers={"Retry-After": "1"})
    )
    httpserver.expect_ordered_request("/api/v2/pages/").respond_with_data("bad gateway", status=502)
    httpserver.expect_ordered_request("/api/v2/pages/").respond_with_json(body)
    ctx = provider_context("wagtail", {"site_url": httpserver.url_for("/").rstrip("/")}, {})

    result = registry.get("wagtail")().read(ctx, "pages", cursor=None, limit=20)

    assert [r.id for r in result.records] == ["1"]
    assert len(httpserver.log) == 3
