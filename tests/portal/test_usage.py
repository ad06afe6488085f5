"""Settings → Usage in the browser: an owner sees a bar per limit with the workspace's figures against its limits
(here the connections, with a limit a super admin lowered)."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.accounts.models import Tenant, TenantQuota
from apps.connectors.models import Connection
from tests.portal.conftest import login, register, unique_slug

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_usage_tab_shows_the_connections_bar_against_the_workspace_limit(page, client):
    person = register(client, email=f"usage@{unique_slug('mail')}.example")
    tenant = Tenant.objects.get(slug=person["slug"])
    TenantQuota.objects.create(tenant=tenant, connections=4)
    with schema_context(tenant.schema_name):
        for name in ("Blog", "Shop"):
            Connection.objects.create(provider="wordpress", name=name)

    login(page, email=person["email"], password=person["password"])
    page.goto("/dashboard/settings")
    page.get_by_role("tab", name="Usage").click()
    bar = page.get_by_role("meter", name="Connections")
    bar.wait_for()
    page.steps.shot("usage tab")

    assert bar.get_attribute("aria-valuenow") == "2"
    assert bar.get_attribute("aria-valuemax") == "4"
    assert page.get_by_test_id("usage-connections").get_by_test_id("usage-figures").inner_text() == "2 of 4 connections"
    assert page.get_by_test_id("usage-workflow_configs").get_by_test_id("usage-figures").inner_text() == (
        "0 of 50 configurations"
    )
    assert page.get_by_role("meter").count() == 11  # every limit
