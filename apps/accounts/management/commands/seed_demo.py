from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accounts.services import demo_seed


class Command(BaseCommand):
    help = "Creates (idempotently) the demo tenant and its owner account."

    def handle(self, *args, **options):
        tenant, user, created = demo_seed(email=settings.DEMO_OWNER_EMAIL, password=settings.DEMO_OWNER_PASSWORD)
        verb = "created" if created else "already present"
        self.stdout.write(f"demo tenant '{tenant.slug}' (schema {tenant.schema_name}) {verb}; owner {user.email}")
