import os

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from apps.accounts import services
from apps.accounts.audit.services import Actor, platform_audit_record
from apps.accounts.management.common import command_error
from apps.accounts.models import User
from apps.accounts.tokens import tokens_revoke_all

PASSWORD_ENV = "DJANGO_SUPERUSER_PASSWORD"


class Command(BaseCommand):
    help = (
        "Creates a super-admin account (the console at /admin/ on the platform domain), or promotes an existing "
        f"account. The password comes from --password or the {PASSWORD_ENV} environment variable."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--password",
            help=f"required for a new account; for an existing one it replaces the password (else {PASSWORD_ENV})",
        )

    def handle(self, *args, email: str, password: str | None, **options):
        email = User.objects.normalize_email(email).strip()
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"email: {' '.join(exc.messages)}") from None
        password = password or os.environ.get(PASSWORD_ENV) or None
        actor = Actor.system("create_superadmin")
        admin_url = f"{settings.GATEWAY_URL}/admin/"
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            if not password:
                raise CommandError(f"password: required to create a new account (--password or {PASSWORD_ENV}).")
            try:
                with transaction.atomic():
                    user = services.user_create(email=email, password=password)
                    user.is_staff = user.is_superuser = True
                    user.save(update_fields=["is_staff", "is_superuser"])
                    platform_audit_record(actor=actor, action="superadmin.created", obj=user, changes={"email": email})
            except ValidationError as exc:
                raise command_error(exc) from None
            self.stdout.write(self.style.SUCCESS(f"Created super admin {user.email}; log in at {admin_url}"))
            return

        if password:
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                raise CommandError("password: " + " ".join(exc.messages)) from None
        changes: dict = {}
        if not user.is_superuser:
            changes["is_superuser"] = True
        if not user.is_staff:
            changes["is_staff"] = True
        if not user.is_active:
            changes["is_active"] = True
        if password and not user.check_password(password):
            changes["password"] = "changed"
        if not changes:
            self.stdout.write(f"{user.email} is already a super admin; nothing changed.")
            return
        with transaction.atomic():
            user.is_superuser = user.is_staff = user.is_active = True
            if "password" in changes:
                user.set_password(password)
            user.save()
            if "password" in changes:
                tokens_revoke_all(user=user)
            action = "superadmin.promoted" if changes.keys() - {"password"} else "user.password_set"
            platform_audit_record(actor=actor, action=action, obj=user, changes=changes)
        if changes.keys() - {"password"}:
            done = ["promoted to super admin"]
            if "is_active" in changes:
                done.append("reactivated")
        else:
            done = []
        if "password" in changes:
            done.append("password changed (its sessions were ended)")
        self.stdout.write(self.style.SUCCESS(f"{user.email} already existed: {', '.join(done)}; log in at {admin_url}"))
