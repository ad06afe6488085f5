from django.core.management.base import BaseCommand

from apps.integrations.dispatch import sweep


class Command(BaseCommand):
    help = (
        "Queues every pending event, due delivery and due rule action of every active tenant (what Celery beat "
        "does every INTEGRATIONS_SWEEP_SECONDS); use it after a broker outage to catch up at once."
    )

    def handle(self, *args, **options):
        counts = sweep()
        self.stdout.write(
            f"queued {counts['events']} event(s), {counts['deliveries']} delivery(ies), {counts['actions']} "
            f"action(s); recovered {counts['stale']} interrupted"
        )
