"""Shared by the operator commands: finding a tenant by slug and turning service errors into CommandError."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts import services
from apps.accounts.audit.services import Actor
from apps.accounts.models import Tenant


def command_error(exc: ValidationError) -> CommandError:
    """`field: message` for each message of a service's ValidationError, one per line."""
    if hasattr(exc, "error_dict"):
        lines = [
            f"{'error' if field == '__all__' else field}: {message}"
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    else:
        lines = exc.messages
    return CommandError("\n".join(lines))


def tenant_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).filter(slug=slug).first()
    if tenant is None:
        raise CommandError(f"No tenant with slug {slug!r} (manage.py list_tenants shows them).")
    return tenant


class TenantStatusCommand(BaseCommand):
    """suspend_tenant / resume_tenant."""

    status: str
    command_name: str
    effect: str

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the tenant's slug")

    def handle(self, *args, slug: str, **options):
        tenant = tenant_by_slug(slug)
        if tenant.status == self.status:
            self.stdout.write(f"Tenant '{tenant.slug}' is already {self.status}; nothing changed.")
            return
        try:
            services.tenant_set_status(tenant=tenant, actor=Actor.system(self.command_name), status=self.status)
        except ValidationError as exc:
            raise command_error(exc) from None
        self.stdout.write(self.style.SUCCESS(f"Tenant '{tenant.slug}' {self.status}: {self.effect}"))
