"""Writes for tenants and their people."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django_tenants.utils import get_public_schema_name, schema_context

from apps.accounts.models import Domain, Membership, Tenant, User


def tenant_domain(slug: str) -> str:
    return f"{slug}.{settings.TENANT_BASE_DOMAIN}"


def tenant_create(*, name: str, slug: str) -> Tenant:
    """Creates the tenant, its schema (migrated) and its primary domain `<slug>.<TENANT_BASE_DOMAIN>`; atomic."""
    with schema_context(get_public_schema_name()), transaction.atomic():
        tenant = Tenant(name=name, slug=slug, schema_name=slug.replace("-", "_"))
        tenant.full_clean()
        tenant.save(verbosity=0)
        Domain.objects.create(domain=tenant_domain(slug), tenant=tenant, is_primary=True)
    return tenant


def public_tenant_ensure() -> Tenant:
    """The public schema's tenant row and its domains; idempotent."""
    tenant, _ = Tenant.objects.get_or_create(
        schema_name=settings.PUBLIC_SCHEMA_NAME, defaults={"name": "BizOSaaS platform", "slug": "public"}
    )
    for index, domain in enumerate(settings.PUBLIC_DOMAINS):
        Domain.objects.get_or_create(domain=domain, defaults={"tenant": tenant, "is_primary": index == 0})
    return tenant


@transaction.atomic
def demo_seed(*, email: str, password: str) -> tuple[Tenant, User, bool]:
    """The demo tenant with an owner account; idempotent (returns created=False when it already existed)."""
    public_tenant_ensure()
    slug = settings.DEMO_TENANT_SLUG
    tenant = Tenant.objects.filter(slug=slug).first()
    created = tenant is None
    if created:
        tenant = tenant_create(name="Demo Agency", slug=slug)
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, first_name="Demo", last_name="Owner")
    Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": Membership.Role.OWNER})
    return tenant, user, created
