from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accounts.models import User
from apps.accounts.services import demo_seed


class Command(BaseCommand):
    help = "Creates (idempotently) the demo tenant and its owner account; --superadmin also a local super admin."

    def add_arguments(self, parser):
        parser.add_argument("--superadmin", action="store_true", help="also DEMO_ADMIN_EMAIL as a super admin")

    def handle(self, *args, superadmin: bool, **options):
        tenant, user, created = demo_seed(email=settings.DEMO_OWNER_EMAIL, password=settings.DEMO_OWNER_PASSWORD)
        verb = "created" if created else "already present"
        self.stdout.write(f"demo tenant '{tenant.slug}' (schema {tenant.schema_name}) {verb}; owner {user.email}")
        if superadmin and not User.objects.filter(email=settings.DEMO_ADMIN_EMAIL).exists():
            User.objects.create_superuser(email=settings.DEMO_ADMIN_EMAIL, password=settings.DEMO_ADMIN_PASSWORD)
            self.stdout.write(f"super admin {settings.DEMO_ADMIN_EMAIL} created")
