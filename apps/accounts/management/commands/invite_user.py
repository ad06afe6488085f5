from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from apps.accounts import services
from apps.accounts.audit.services import Actor
from apps.accounts.management.common import command_error, tenant_by_slug
from apps.accounts.models import Tenant


class Command(BaseCommand):
    help = "Emails an invitation to join a tenant with a role (owner, admin, member or viewer)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", required=True, help=f"one of {', '.join(services.ROLES)}")

    def handle(self, *args, tenant: str, email: str, role: str, **options):
        target = tenant_by_slug(tenant)
        try:
            invitation, _token = services.invitation_create(
                tenant=target,
                email=email,
                role=role.strip().lower(),
                invited_by=None,
                actor=Actor.system("invite_user"),
                inviter_role=None,
            )
        except ValidationError as exc:
            raise command_error(exc) from None
        # the link (and its token) is only in the email
        self.stdout.write(
            self.style.SUCCESS(
                f"Invitation emailed to {invitation.email}: join '{target.slug}' as {invitation.role}, "
                f"valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
            )
        )
        if target.status == Tenant.Status.SUSPENDED:
            self.stderr.write(f"Note: tenant '{target.slug}' is suspended; the invitee gets 403 until it is resumed.")
