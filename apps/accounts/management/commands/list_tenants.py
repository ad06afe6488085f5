from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Count

from apps.accounts.models import Tenant

COLUMNS = ["slug", "name", "schema", "status", "members", "created"]


class Command(BaseCommand):
    help = "Lists the tenants: slug, name, schema, status, member count and creation time (UTC)."

    def add_arguments(self, parser):
        parser.add_argument("--status", choices=Tenant.Status.values, help="only tenants with this status")

    def handle(self, *args, status: str | None, **options):
        tenants = (
            Tenant.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)
            .annotate(members=Count("memberships"))
            .order_by("slug")
        )
        if status:
            tenants = tenants.filter(status=status)
        rows = [
            [t.slug, t.name, t.schema_name, t.status, str(t.members), f"{t.created_at:%Y-%m-%d %H:%M}"] for t in tenants
        ]
        if not rows:
            self.stdout.write(f"No {status + ' ' if status else ''}tenants.")
            return
        widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        for row in [COLUMNS, ["-" * width for width in widths], *rows]:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        self.stdout.write(f"{len(rows)} tenant(s)")
