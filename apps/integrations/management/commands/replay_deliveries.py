from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from django_tenants.utils import schema_context
from tqdm import tqdm

from apps.accounts.models import Tenant
from apps.integrations.models import Delivery
from apps.integrations.outbound import delivery_replay


class Command(BaseCommand):
    help = "Sends again the failed outbound webhook deliveries of a tenant created since a time."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--since", required=True, help="ISO 8601 date-time, e.g. 2026-11-24T08:00:00Z")
        parser.add_argument("--subscription", type=int, help="only this subscription id")

    def handle(self, *args, tenant: str, since: str, subscription: int | None, **options):
        moment = parse_datetime(since)
        if moment is None:
            raise CommandError("--since is not an ISO 8601 date-time")
        target = Tenant.objects.filter(slug=tenant).exclude(schema_name="public").first()
        if target is None:
            raise CommandError(f"no tenant with slug {tenant!r}")
        with schema_context(target.schema_name):
            failed = Delivery.objects.filter(status=Delivery.Status.FAILED, created_at__gte=moment)
            if subscription is not None:
                failed = failed.filter(subscription_id=subscription)
            deliveries = list(failed.select_related("event"))
            for delivery in tqdm(deliveries, desc="replaying", unit="delivery", disable=not deliveries):
                delivery_replay(delivery)
        self.stdout.write(f"queued {len(deliveries)} failed delivery(ies) of {tenant} for another attempt")
