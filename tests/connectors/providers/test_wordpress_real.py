"""The WordPress connector against a real WordPress (Debian's package, PHP's built-in server, MariaDB), every
result compared with what WordPress itself holds at the time of the comparison (asked through PHP inside the
site, never through the connector). The seeded data has absolute dates; tests that create posts delete them."""

import html
from datetime import date

import pytest

from apps.connectors.exceptions import AuthenticationError, ProviderRequestError
from apps.connectors.registry import registry
from tests.connectors.real import wordpress_server

pytestmark = pytest.mark.skipif(
    wordpress_server.missing() is not None, reason=f"real WordPress: {wordpress_server.missing()} (make real-servers)"
)


@pytest.fixture(scope="session")
def wordpress_site():
    site = wordpress_server.start()
    yield site
    site.stop()


@pytest.fixture
def created(wordpress_site):
    """Ids of posts a test creates: deleted afterwards so no other test sees them."""
    ids: list[str] = []
    yield ids
    if ids:
        wordpress_site.php(
            "foreach ($data as $id) { wp_delete_post((int) $id, true); } echo '[]';", data=[int(i) for i in ids]
        )


def context(provider_context, site, user=wordpress_server.ADMIN, password=None):
    return provider_context(
        "wordpress",
        {"site_url": site.url, "username": user},
        {"application_password": password or site.application_password},
    )


def read_all(ctx, resource, limit=100, **window):
    provider, cursor, records = registry.get("wordpress")(), None, []
    while True:
        page = provider.read(ctx, resource, cursor=cursor, limit=limit, **window)
        records += page.records
        if not page.next_cursor:
            return records
        cursor = page.next_cursor


def expected(held: dict, *, since=None, until=None, statuses=None, rendered=False) -> dict:
    """WordPress's own records as the connector should normalise them, within a window of UTC days."""
    out = {}
    for post_id, post in held.items():
        day = date.fromisoformat(post["modified_gmt"][:10])
        if (since and day < since) or (until and day > until) or (statuses and post["status"] not in statuses):
            continue
        out[post_id] = {
            "id": post_id,
            "title": html.unescape(post["rendered_title"]) if rendered else post["title"],
            "status": post["status"],
            "url": post["link"],
            "updated_at": post["modified_gmt"].replace(" ", "T") + "Z",
        }
    return out


def got(records) -> dict:
    return {r.id: {k: v for k, v in r.data.items() if k != "excerpt"} for r in records}


@pytest.mark.parametrize("resource,post_type", [("posts", "post"), ("pages", "page")])
def test_every_post_and_page_in_every_status_with_its_raw_title_and_utc_time(
    provider_context, wordpress_site, resource, post_type
):
    records = read_all(context(provider_context, wordpress_site), resource)

    held = wordpress_site.posts(post_type)
    assert got(records) == expected(held)
    statuses = {r.data["status"] for r in records}
    assert statuses >= ({"publish", "draft", "pending", "private", "future"} if post_type == "post" else {"publish"})
    if post_type == "post":
        quotes = next(r for r in records if r.id == str(wordpress_site.ids["quotes"]))
        assert quotes.data["title"] == 'Tom\'s "Q&A" <launch> & more'  # not Tom&#8217;s &#8220;Q&#038;A&#8221;


def test_reading_a_page_at_a_time_gives_the_same_posts(provider_context, wordpress_site):
    ctx = context(provider_context, wordpress_site)

    assert got(read_all(ctx, "posts", limit=2)) == expected(wordpress_site.posts("post"))


@pytest.mark.parametrize(
    "since,until",
    [
        (date(2026, 11, 2), date(2026, 11, 4)),  # "late" is 15:30 UTC on the 2nd: the 3rd in a UTC+9 site
        (date(2026, 11, 3), date(2026, 11, 3)),
        (date(2026, 11, 4), None),
        (None, date(2026, 11, 2)),
    ],
)
def test_a_date_window_is_utc_days_of_the_last_modification(provider_context, wordpress_site, since, until):
    ctx = context(provider_context, wordpress_site)

    for resource, post_type in (("posts", "post"), ("pages", "page")):
        records = read_all(ctx, resource, since=since, until=until)
        assert got(records) == expected(wordpress_site.posts(post_type), since=since, until=until), resource


def test_the_window_edges_fall_on_utc_midnight(provider_context, wordpress_site):
    ids = {key: str(value) for key, value in wordpress_site.ids.items()}

    two_days = {r.id for r in read_all(context(provider_context, wordpress_site), "posts",
                                       since=date(2026, 11, 2), until=date(2026, 11, 3))}  # fmt: skip

    assert {ids["quotes"], ids["late"], ids["draft"]} <= two_days
    assert not {ids["before"], ids["pending"], ids["after"]} & two_days


def test_a_user_who_may_not_edit_pages_reads_the_published_ones(provider_context, wordpress_site):
    ctx = context(provider_context, wordpress_site, user=wordpress_server.AUTHOR,
                  password=wordpress_site.author_password)  # fmt: skip

    pages = read_all(ctx, "pages")
    posts = read_all(ctx, "posts")

    # the view context: titles as the site shows them (WordPress's curly quotes), decoded
    assert got(pages) == expected(wordpress_site.posts("page"), statuses={"publish"}, rendered=True)
    # others' drafts, pending and private posts are not theirs to read
    assert got(posts) == expected(wordpress_site.posts("post"), statuses={"publish"}, rendered=True)


def test_create_draft_post_is_a_draft_with_the_title_as_typed(provider_context, wordpress_site, created):
    title = 'Ben & Jerry\'s "new" <flavours>'

    result = registry.get("wordpress")().perform(
        context(provider_context, wordpress_site),
        "create_draft_post",
        {"title": title, "content": "<p>Cold</p>", "excerpt": "Ice"},
    )
    created.append(result["id"])

    held = wordpress_site.posts("post")[result["id"]]
    assert (held["status"], held["title"], held["content"], held["excerpt"]) == ("draft", title, "<p>Cold</p>", "Ice")
    assert result["status"] == "draft" and result["record"]["title"] == title
    assert result["record"]["updated_at"] == held["modified_gmt"].replace(" ", "T") + "Z"


def test_update_draft_post_changes_a_draft_and_refuses_a_published_post(provider_context, wordpress_site, created):
    ctx = context(provider_context, wordpress_site)
    provider = registry.get("wordpress")()
    draft = provider.perform(ctx, "create_draft_post", {"title": "First", "content": "x"})
    created.append(draft["id"])
    published = str(wordpress_site.ids["quotes"])
    before = wordpress_site.posts("post")[published]

    provider.perform(ctx, "update_draft_post", {"id": int(draft["id"]), "title": "Second & last"})
    with pytest.raises(ProviderRequestError, match="publish, not a draft"):
        provider.perform(ctx, "update_draft_post", {"id": int(published), "title": "Hijacked"})

    held = wordpress_site.posts("post")
    assert (held[draft["id"]]["title"], held[draft["id"]]["status"]) == ("Second & last", "draft")
    assert held[published] == before  # still published, title unchanged


def test_check_and_wordpress_errors_carry_its_message_and_code(provider_context, wordpress_site):
    provider = registry.get("wordpress")()
    provider.check(context(provider_context, wordpress_site))

    with pytest.raises(AuthenticationError) as wrong:
        provider.check(context(provider_context, wordpress_site, password="abcd efgh ijkl mnop qrst uvwx"))
    with pytest.raises(ProviderRequestError) as bad_page:
        provider.read(context(provider_context, wordpress_site), "posts", cursor="0", limit=10)

    # WordPress 6.1 answers a wrong application password as not logged in (not `incorrect_password`)
    assert "not currently logged in. (rest_not_logged_in)" in wrong.value.message
    assert "(rest_invalid_param)" in bad_page.value.message and "page:" in bad_page.value.message


@pytest.mark.django_db
def test_through_the_gateway_a_connection_to_the_real_site_reads_a_window(api, wordpress_site):
    from tests.factories import bearer, make_member, make_tenant

    tenant = make_tenant()
    auth = bearer(make_member(tenant, "admin"), tenant)
    config = {
        "site_url": wordpress_site.url,
        "username": wordpress_server.ADMIN,
        "application_password": wordpress_site.application_password,
    }
    blog = api.post("/api/v1/connections/", {"provider": "wordpress", "name": "Blog", "config": config}, **auth)
    assert blog.status_code == 201, blog.content

    answer = api.get(
        f"/api/v1/connections/{blog.json()['id']}/resources/posts/",
        {"since": "2026-11-02", "until": "2026-11-04"},
        **auth,
    )

    assert answer.status_code == 200, answer.content
    want = expected(wordpress_site.posts("post"), since=date(2026, 11, 2), until=date(2026, 11, 4))
    assert {r["id"]: r["data"]["title"] for r in answer.json()["records"]} == {k: v["title"] for k, v in want.items()}
