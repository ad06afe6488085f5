"""Factories for the objects tests need. Tenants are real: each has its own schema."""

from __future__ import annotations

import itertools

from apps.accounts.models import Membership, Tenant, User
from apps.accounts.services import tenant_create
from apps.accounts.tokens import token_pair

PASSWORD = "correct-horse-battery-9"
_counter = itertools.count(1)


def make_user(*, email: str | None = None, password: str = PASSWORD, **extra) -> User:
    email = email or f"user{next(_counter)}@example.com"
    return User.objects.create_user(email=email, password=password, **extra)


def make_tenant(*, slug: str | None = None, name: str | None = None) -> Tenant:
    slug = slug or f"tenant-{next(_counter)}"
    return tenant_create(name=name or slug.title(), slug=slug)


def make_member(tenant: Tenant, role: str, *, email: str | None = None) -> User:
    user = make_user(email=email)
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


def bearer(user: User, tenant: Tenant | None) -> dict:
    """Request kwargs carrying a fresh access token for `user` acting in `tenant`."""
    return {"HTTP_AUTHORIZATION": f"Bearer {token_pair(user=user, tenant=tenant)['access']}"}
