from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_tenants.utils import schema_exists

from apps.accounts import services
from apps.accounts.audit.services import Actor, audit_record
from apps.accounts.management.common import command_error
from apps.accounts.models import Membership, Tenant, User


class Command(BaseCommand):
    help = "Creates a tenant with its own schema and primary domain, optionally with an existing user as owner."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True, help="3-48 lower-case letters, digits and hyphens, e.g. acme")
        parser.add_argument("--name", required=True, help='display name, e.g. "Acme Agency"')
        parser.add_argument("--owner-email", help="an existing account to make the tenant's owner")

    def handle(self, *args, slug: str, name: str, owner_email: str | None, **options):
        slug, name = slug.strip(), name.strip()
        owner = None
        if owner_email:
            owner = User.objects.filter(email__iexact=owner_email.strip()).first()
            if owner is None:
                raise CommandError(
                    f"No user with email {owner_email!r}: create the account first (or omit --owner-email and "
                    "use invite_user once the tenant exists)."
                )
        schema_name = slug.replace("-", "_")
        if schema_exists(schema_name) and not Tenant.objects.filter(schema_name=schema_name).exists():
            raise CommandError(
                f"A PostgreSQL schema named {schema_name!r} already exists without a tenant; "
                "drop or rename it before reusing this slug."
            )
        actor = Actor.system("create_tenant")
        try:
            with transaction.atomic():
                tenant = services.tenant_create(name=name, slug=slug, actor=actor)
                if owner is not None:
                    membership = Membership.objects.create(user=owner, tenant=tenant, role=Membership.Role.OWNER)
                    audit_record(
                        tenant=tenant,
                        actor=actor,
                        action="member.added",
                        obj=membership,
                        changes={"email": owner.email, "role": Membership.Role.OWNER},
                    )
        except ValidationError as exc:
            raise command_error(exc) from None
        domain = tenant.domains.get(is_primary=True).domain
        self.stdout.write(
            self.style.SUCCESS(
                f"Created tenant '{tenant.slug}' ({tenant.name}): schema {tenant.schema_name}, domain {domain}."
            )
        )
        if owner is not None:
            self.stdout.write(f"Owner: {owner.email}")
