from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.accounts.models import Tenant
from apps.workflows.services import reconcile

PROGRESS_FROM = 10  # tenants; fewer finish before a bar is worth drawing


class Command(BaseCommand):
    help = (
        "Makes the Temporal schedules match the workflow configurations (of one tenant, or of all active ones): "
        "creates missing schedules, replaces drifted ones, deletes orphans."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="a tenant slug; all active tenants when omitted")

    def handle(self, *args, tenant: str | None, **options):
        active = Tenant.objects.exclude(schema_name="public").filter(status=Tenant.Status.ACTIVE)
        if tenant:
            found = active.filter(slug=tenant).first()
            if found is None:
                raise CommandError(f"no active tenant with slug {tenant!r}")
            schema, count = found.schema_name, 1
        else:
            schema, count = None, active.count()
        with tqdm(total=count, desc="reconciling schedules", unit="tenant", disable=count < PROGRESS_FROM) as bar:
            report = reconcile(schema, on_tenant=lambda _name: bar.update(1))
        for label, ids in (("created", report.created), ("updated", report.updated), ("deleted", report.deleted)):
            for sid in ids:
                self.stdout.write(f"  {label} {sid}")
        for sid, error in report.errors.items():
            self.stderr.write(f"  ERROR {sid}: {error}")
        self.stdout.write(
            f"reconciled {count} tenant(s): {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.deleted)} deleted, {report.unchanged} unchanged, {len(report.errors)} error(s)"
        )
        if report.errors:
            raise CommandError("some schedules could not be reconciled; see above")
