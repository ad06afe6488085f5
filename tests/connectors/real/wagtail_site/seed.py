"""Seeds the site through Wagtail's own API (add_child, save_revision, publish, unpublish) and prints the token;
publication times are then set to absolute values (never relative to now)."""

import json
import os
import sys
from datetime import UTC, datetime

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from wagtail.models import Page, PageViewRestriction, Site  # noqa: E402


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


home = Page.objects.get(depth=2)
Page.objects.filter(pk=home.pk).update(first_published_at=at("2026-09-01T00:00:00"),
                                       last_published_at=at("2026-09-01T00:00:00"))  # fmt: skip
Site.objects.all().delete()
Site.objects.create(hostname="127.0.0.1", port=int(os.environ["BIZOSAAS_WAGTAIL_PORT"]), root_page=home,
                    is_default_site=True, site_name="BizOSaaS tests")  # fmt: skip
made = {}


def page(key, title, first=None, last=None):
    child = home.add_child(instance=Page(title=title, slug=key, live=False))
    made[key] = child
    return child


for key, title in [("once", "Published once & only"), ("twice", 'Published "twice"'),
                   ("changed", "Live <title>"), ("private", "Members only"), ("withdrawn", "Withdrawn")]:  # fmt: skip
    page(key, title).save_revision().publish()
made["once"].refresh_from_db()
made["once"].search_description = "Once, & for all"
made["once"].save_revision().publish()
made["twice"].refresh_from_db()
made["twice"].title = 'Published "twice", again'
made["twice"].save_revision().publish()
made["changed"].refresh_from_db()
made["changed"].title = "Draft <title> not yet live"
made["changed"].save_revision()  # unpublished changes: the live title stays
PageViewRestriction.objects.create(page=made["private"], restriction_type="password", password="secret")
made["withdrawn"].refresh_from_db()
made["withdrawn"].unpublish()
page("draft", "Never published").save_revision()

times = {
    "once": ("2026-11-02T14:30:00", "2026-11-02T14:30:00"),
    "twice": ("2026-10-01T09:00:00", "2026-11-05T16:00:00"),
    "changed": ("2026-11-03T23:59:00", "2026-11-03T23:59:00"),
    "private": ("2026-11-04T01:00:00", "2026-11-04T01:00:00"),
    "withdrawn": ("2026-10-20T08:00:00", "2026-10-20T08:00:00"),
}
for key, (first, last) in times.items():
    Page.objects.filter(pk=made[key].pk).update(first_published_at=at(first), last_published_at=at(last))

user = User.objects.create_user("api", password="unused-password")
print(json.dumps({"token": Token.objects.create(user=user).key, "ids": {k: p.pk for k, p in made.items()}}))
sys.stdout.flush()
