"""What the site holds now, as JSON: every page below the root with its state (asked of Wagtail, not its API)."""

import json

import django

django.setup()

from wagtail.models import Page  # noqa: E402

out = {}
for page in Page.objects.filter(depth__gt=1).specific():
    out[str(page.pk)] = {
        "title": page.title,
        "live": page.live,
        "public": not page.get_view_restrictions().exists(),
        "has_unpublished_changes": page.has_unpublished_changes,
        "first_published_at": page.first_published_at and page.first_published_at.isoformat(),
        "last_published_at": page.last_published_at and page.last_published_at.isoformat(),
        "url": page.get_full_url(),
        "search_description": page.search_description,
    }
print(json.dumps(out))
