from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context
from tqdm import tqdm

from apps.accounts.models import Tenant
from apps.connectors.models import Connection
from apps.connectors.services import connections_check_all


class Command(BaseCommand):
    help = "Tests every connection (of one tenant, or all) and records each result in its health history."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="a tenant slug; all active tenants when omitted")

    def handle(self, *args, tenant: str | None, **options):
        tenants = Tenant.objects.exclude(schema_name="public").filter(status=Tenant.Status.ACTIVE).order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"no active tenant with slug {tenant!r}")
        tenants = list(tenants)
        total = 0
        for item in tenants:
            with schema_context(item.schema_name):
                total += Connection.objects.count()
        failures = []
        with tqdm(total=total, desc="checking connections", unit="conn", disable=not total) as bar:
            for item in tenants:
                with schema_context(item.schema_name):

                    def advance(connection, check, slug=item.slug):
                        bar.update(1)
                        if not check.ok:
                            failures.append(f"{slug}/{connection.name} ({connection.provider}): {check.error}")

                    connections_check_all(tenant=item, trigger="operator", on_each=advance)
        self.stdout.write(
            f"checked {total} connection(s) in {len(tenants)} tenant(s): {total - len(failures)} ok, "
            f"{len(failures)} failing"
        )
        for line in failures:
            self.stdout.write(f"  FAIL {line}")
