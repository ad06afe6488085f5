"""The registry: frozen after start-up, duplicates refused, and every provider's spec complete and valid."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.connectors.base import AUTH_TYPES, CATEGORIES, FIELD_TYPES, Provider
from apps.connectors.registry import Registry, registry
from apps.connectors.unified import MODELS

PROVIDERS = registry.all()


def test_the_registry_is_frozen_after_start_up():
    class Late(Provider):
        key, name, category = "late", "Late", "crm"

    with pytest.raises(ImproperlyConfigured, match="frozen"):
        registry.register(Late)


def test_duplicate_keys_refuse_to_start():
    fresh = Registry()

    class First(Provider):
        key, name, category = "same", "First", "crm"

    class Second(Provider):
        key, name, category = "same", "Second", "crm"

    fresh.register(First)
    with pytest.raises(ImproperlyConfigured, match="duplicate connector key 'same'"):
        fresh.register(Second)


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.key)
def test_every_provider_declares_a_complete_valid_spec(provider):
    assert provider.name and provider.description and provider.logo and provider.docs_url.startswith("https://")
    assert provider.category in CATEGORIES
    assert provider.auth.type in AUTH_TYPES
    if provider.auth.type == "oauth2":
        oauth = provider.auth.oauth2
        assert oauth.authorize_url.startswith("https://") and oauth.token_url.startswith("https://")
        names = {f.name for f in provider.config_fields}
        assert {"client_id", "client_secret"} <= names
    assert provider.config_fields, "a connector is configured by at least one field"
    for field in provider.config_fields:
        assert field.label and field.type in FIELD_TYPES
        if field.type == "secret":
            assert field.secret
        if any(word in field.name for word in ("password", "secret", "token")) and field.name != "token_url":
            assert field.secret, f"{field.name} looks secret but is not marked secret"
    assert provider.resources or provider.actions
    for resource in provider.resources:
        assert resource.model in MODELS
    for action in provider.actions:
        assert action.description
        assert all(f.label and f.type in FIELD_TYPES for f in action.input)
    signs = (
        type(provider).verify_webhook is not Provider.verify_webhook
        if False
        else (provider.verify_webhook is not Provider.verify_webhook)
    )
    # webhook verification is described exactly when it is implemented ("" is the explicit "none")
    assert bool(provider.webhook_verification) == signs
    description = provider.describe()
    assert description["key"] == provider.key
    assert description["webhooks"] == (provider.webhook_verification or None)


@pytest.mark.django_db
def test_the_registry_returns_all_fourteen_seed_connectors(api):
    from tests.factories import bearer, make_member, make_tenant

    tenant = make_tenant(slug="catalogue")
    keys = [c["key"] for c in api.get("/api/v1/connectors/", **bearer(make_member(tenant, "viewer"), tenant)).json()]

    assert sorted(keys) == sorted(
        [
            "wordpress",
            "wagtail",
            "fluentcrm",
            "zoho_crm",
            "hubspot",
            "pipedrive",
            "google_ads",
            "facebook_ads",
            "mailchimp",
            "google_analytics",
            "woocommerce",
            "shopify",
            "zendesk",
            "intercom",
        ]
    )
