"""The Wagtail connector against a real Wagtail site (the pinned release in its own virtualenv): every result
compared with what Wagtail holds (asked of its models, not its API). The site is read-only for these tests."""

from datetime import datetime

import pytest

from apps.connectors.exceptions import AuthenticationError, ProviderRequestError
from apps.connectors.registry import registry
from tests.connectors.real import wagtail_server

pytestmark = pytest.mark.skipif(
    wagtail_server.missing() is not None, reason=f"real Wagtail: {wagtail_server.missing()} (make real-servers)"
)


@pytest.fixture(scope="session")
def wagtail_site():
    site = wagtail_server.start()
    yield site
    site.stop()


def context(provider_context, site, **config):
    token = config.pop("api_token", None)
    return provider_context("wagtail", {"site_url": site.url, **config}, {"api_token": token} if token else {})


def read_all(ctx, limit=20):
    provider, cursor, records = registry.get("wagtail")(), None, []
    while True:
        page = provider.read(ctx, "pages", cursor=cursor, limit=limit)
        records += page.records
        if not page.next_cursor:
            return records
        cursor = page.next_cursor


def expected(held: dict) -> dict:
    return {
        page_id: {
            "id": page_id,
            "title": page["title"],
            "status": "live",
            "url": page["url"],
            "excerpt": page["search_description"] or None,
            "updated_at": None,
        }
        for page_id, page in held.items()
        if page["live"] and page["public"]
    }


def test_only_live_public_pages_with_their_live_titles(provider_context, wagtail_site):
    records = read_all(context(provider_context, wagtail_site))

    held = wagtail_site.held()
    assert {r.id: r.data for r in records} == expected(held)
    ids = {key: str(value) for key, value in wagtail_site.ids.items()}
    assert {ids["once"], ids["twice"], ids["changed"]} <= {r.id for r in records}
    assert not {ids["private"], ids["withdrawn"], ids["draft"]} & {r.id for r in records}
    changed = next(r for r in records if r.id == ids["changed"])
    assert held[ids["changed"]]["has_unpublished_changes"] and changed.data["title"] == "Live <title>"


def test_a_page_published_twice_keeps_its_first_publication_only_in_the_raw_record(provider_context, wagtail_site):
    records = {r.id: r for r in read_all(context(provider_context, wagtail_site))}

    held = wagtail_site.held()
    twice = records[str(wagtail_site.ids["twice"])]
    first = datetime.fromisoformat(twice.raw["meta"]["first_published_at"])
    assert first == datetime.fromisoformat(held[twice.id]["first_published_at"])
    assert held[twice.id]["last_published_at"] > held[twice.id]["first_published_at"]
    assert twice.data["updated_at"] is None  # not the first publication passed off as the last change


def test_paging_a_few_at_a_time_reads_the_same_pages(provider_context, wagtail_site):
    ctx = context(provider_context, wagtail_site)

    assert [r.id for r in read_all(ctx, limit=2)] == [r.id for r in read_all(ctx)]


def test_the_token_protected_api_needs_the_token(provider_context, wagtail_site):
    provider = registry.get("wagtail")()

    with pytest.raises(AuthenticationError, match="Authentication credentials were not provided"):
        provider.check(context(provider_context, wagtail_site, api_path="/api/private/v2"))
    records = read_all(
        context(provider_context, wagtail_site, api_path="/api/private/v2", api_token=wagtail_site.token)
    )

    assert {r.id: r.data for r in records} == expected(wagtail_site.held())


def test_a_page_size_above_the_sites_limit_is_wagtails_own_message(provider_context, wagtail_site):
    with pytest.raises(ProviderRequestError, match="limit cannot be higher than 20"):
        registry.get("wagtail")().read(
            context(provider_context, wagtail_site, limit_max=50), "pages", cursor=None, limit=50
        )
