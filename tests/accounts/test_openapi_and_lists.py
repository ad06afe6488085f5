import pytest
import yaml

from apps.accounts.audit.services import Actor
from apps.accounts.services import api_key_create, invitation_create
from tests.factories import bearer, make_member, make_tenant

pytestmark = pytest.mark.django_db


def test_openapi_schema_covers_every_endpoint_with_both_auth_schemes(api):
    response = api.get("/api/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = set(schema["paths"])
    for path in [
        "/api/v1/auth/register/",
        "/api/v1/auth/login/",
        "/api/v1/auth/refresh/",
        "/api/v1/auth/logout/",
        "/api/v1/auth/switch-tenant/",
        "/api/v1/auth/me/",
        "/api/v1/auth/password/change/",
        "/api/v1/auth/password/reset/",
        "/api/v1/auth/password/reset/confirm/",
        "/api/v1/auth/invitations/accept/",
        "/api/v1/tenant/",
        "/api/v1/members/",
        "/api/v1/members/{id}/",
        "/api/v1/invitations/",
        "/api/v1/invitations/{id}/",
        "/api/v1/api-keys/",
        "/api/v1/api-keys/{id}/",
        "/api/v1/audit-log/",
        "/api/v1/audit-log/{id}/",
    ]:
        assert path in paths, path
    assert set(schema["components"]["securitySchemes"]) == {"jwt", "apiKey"}
    assert {"jwt": []} in schema["paths"]["/api/v1/members/"]["get"]["security"]


def test_swagger_ui_is_served_with_its_own_assets(api):
    page = api.get("/api/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


@pytest.mark.parametrize("collection", ["members", "invitations", "api-keys", "audit-log"])
def test_list_endpoints_use_a_constant_number_of_queries(api, collection, django_assert_max_num_queries):
    tenant = make_tenant(slug="acme")
    owner = make_member(tenant, "owner")
    system = Actor.system("test")
    for index in range(15):
        make_member(tenant, "viewer")
        invitation_create(
            tenant=tenant, email=f"i{index}@acme.test", role="viewer", invited_by=owner, actor=system, inviter_role=None
        )
        api_key_create(
            tenant=tenant, name=f"k{index}", scopes=["members:read"], expires_at=None, created_by=owner, actor=system
        )
    auth = bearer(owner, tenant)

    with django_assert_max_num_queries(8):
        response = api.get(f"/api/v1/{collection}/", **auth)

    assert response.status_code == 200
    assert response.json()["count"] >= 15
