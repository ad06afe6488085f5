"""What the API fuzzer (test_api_fuzz.py) found, one test each: inputs that answered 500 and now answer a 4xx that
says what was wrong."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from tests.factories import bearer, make_member, make_tenant

pytestmark = pytest.mark.django_db

# superscript two (int() refuses it), Arabic-Indic three, full-width twelve
ODD_DIGITS = ["\u00b2", "\u0663", "\uff11\uff12"]


@pytest.fixture
def org():
    tenant = make_tenant(slug="inputs")
    return tenant, {role: make_member(tenant, role) for role in ("owner", "viewer")}


@pytest.fixture(scope="module")
def paths() -> list[str]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [re.sub(r"\{[^}]+\}", "1", path) for path in schema["paths"]]


@pytest.mark.parametrize("role", ["owner", "viewer"])
def test_trace_answers_405_and_options_never_a_server_error_on_every_path(org, paths, role):
    tenant, people = org
    client = Client(HTTP_HOST="localhost")
    auth = bearer(people[role], tenant)

    traced = {path: client.generic("TRACE", path, **auth).status_code for path in paths}
    optioned = {path: client.options(path, **auth).status_code for path in paths}

    assert {path for path, code in traced.items() if code != 405} == set()
    assert {path: code for path, code in optioned.items() if code >= 500} == {}


def test_a_method_a_read_only_endpoint_does_not_serve_is_405_not_a_permission_error(org):
    tenant, people = org

    response = Client(HTTP_HOST="localhost").put(
        "/api/v1/events/", "{}", "application/json", **bearer(people["owner"], tenant)
    )

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}


@pytest.mark.parametrize("body", ["[null, null]", '["a@example.com", "pw"]', '"text"', "42"])
def test_a_login_body_that_is_not_a_json_object_is_a_400(api, body):
    response = api.client.post("/api/v1/auth/login/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": "The body must be a JSON object."}


def test_an_event_posted_with_a_null_payload_is_a_400_naming_payload_and_stores_nothing(org):
    from django_tenants.utils import schema_context

    from apps.integrations.models import Event

    tenant, people = org
    client = Client(HTTP_HOST="localhost")

    response = client.post(
        "/api/v1/events/", {"type": "custom.order.created", "payload": "null"}, **bearer(people["owner"], tenant)
    )

    assert response.status_code == 400
    assert response.json() == {"payload": ["This field may not be null."]}
    with schema_context(tenant.schema_name):
        assert Event.objects.count() == 0


@pytest.mark.parametrize("digits", ODD_DIGITS)
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/events/?limit={}", "limit"),
        ("/api/v1/events/?offset={}", "offset"),
        ("/api/v1/events/?connection={}", "connection"),
        ("/api/v1/knowledge/search/?q=hello&limit={}", "limit"),
        ("/api/v1/knowledge/search/?q=hello&collection={}", "collection"),
    ],
)
def test_unicode_digits_in_a_query_parameter_are_a_400_naming_it(org, path, name, digits):
    tenant, people = org

    response = Client(HTTP_HOST="localhost").get(path.format(digits), **bearer(people["viewer"], tenant))

    assert response.status_code == 400
    assert list(response.json()) == [name]


@pytest.mark.parametrize("moment", ["2026-02-30T10:00:00", "2026-13-01T00:00:00Z"])
def test_a_well_formed_date_time_that_does_not_exist_is_a_400(org, moment):
    tenant, people = org

    response = Client(HTTP_HOST="localhost").get(
        "/api/v1/events/", {"since": moment}, **bearer(people["viewer"], tenant)
    )

    assert response.status_code == 400
    assert response.json() == {"since": ["Not an ISO 8601 date-time."]}


def test_a_huge_limit_and_offset_are_clamped_not_sent_to_postgresql(org):
    tenant, people = org
    client = Client(HTTP_HOST="localhost")
    auth = bearer(people["viewer"], tenant)

    limited = client.get("/api/v1/events/", {"limit": "9" * 40}, **auth)
    skipped = client.get("/api/v1/events/", {"offset": "9" * 40}, **auth)

    assert limited.status_code == 200
    assert skipped.status_code == 200
    assert skipped.json()["results"] == []


def test_a_rule_condition_path_with_unicode_digits_is_not_an_index(org):
    from apps.integrations.expressions import MISSING, resolve

    assert resolve({"items": ["a", "b"]}, "items.1") == "b"
    for digits in ODD_DIGITS:
        assert resolve({"items": ["a", "b"]}, f"items.{digits}") is MISSING


def test_a_connector_integer_field_refuses_unicode_digits():
    from django.core.exceptions import ValidationError

    from apps.connectors.base import Field

    field = Field("page_size", "Page size", type="integer")
    assert field.clean("12") == 12
    for digits in ODD_DIGITS:
        with pytest.raises(ValidationError):
            field.clean(digits)


def test_nullable_fields_are_declared_nullable_in_the_published_schema():
    from drf_spectacular.generators import SchemaGenerator

    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]

    nullable = {
        ("Agent", "provider_name"),
        ("Endpoint", "connection_name"),
        ("Endpoint", "provider"),
        ("Endpoint", "last_event_at"),
        ("WorkflowRun", "config_name"),
    }
    assert {
        (name, field) for name, field in nullable if not components[name]["properties"][field].get("nullable")
    } == set()
    assert "format" not in components["LLMProvider"]["properties"]["base_url"]  # empty means the kind's default
    assert json.dumps(components["ActionType"]["properties"]["fields"]) == json.dumps(
        {"type": "array", "items": {"type": "string"}}
    )
