from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accounts.models import User
from bizosaas import demo


class Command(BaseCommand):
    help = (
        "Fills the demo workspace with objects that work offline (an inbound endpoint and signed events, a "
        "subscription to the test receiver, a rule, a knowledge collection, an agent, a workflow); idempotent. "
        "--reset drops the demo workspace first; --superadmin also creates DEMO_ADMIN_EMAIL as a super admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("--superadmin", action="store_true", help="also DEMO_ADMIN_EMAIL as a super admin")
        parser.add_argument("--reset", action="store_true", help="drop the demo workspace and seed it again")

    def handle(self, *args, superadmin: bool, reset: bool, **options):
        if reset and demo.reset():
            self.stdout.write(f"demo tenant '{settings.DEMO_TENANT_SLUG}' dropped")
        seeded = demo.seed()
        tenant = seeded.tenant
        verb = "created" if "workspace" in seeded.created else "already present"
        self.stdout.write(
            f"demo tenant '{tenant.slug}' (schema {tenant.schema_name}) {verb}; owner {seeded.owner.email}"
        )
        added = [item for item in seeded.created if item != "workspace"]
        self.stdout.write("  added: " + ", ".join(added) if added else "  demo objects already present")
        if superadmin and not User.objects.filter(email=settings.DEMO_ADMIN_EMAIL).exists():
            User.objects.create_superuser(email=settings.DEMO_ADMIN_EMAIL, password=settings.DEMO_ADMIN_PASSWORD)
            self.stdout.write(f"super admin {settings.DEMO_ADMIN_EMAIL} created")
