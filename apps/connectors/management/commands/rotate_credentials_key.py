"""Re-encrypts every encrypted column (crypto.encrypted_fields: connector credentials, OAuth state, LLM provider
keys, inbound endpoint and subscription secrets, whatever is added later) with the first key of CREDENTIALS_KEYS,
tenant by tenant (and the public schema for shared models), in one transaction per schema, and reports per kind."""

from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection as db
from django.db import transaction
from django_tenants.utils import schema_context
from tqdm import tqdm

from apps.accounts.audit.services import Actor, audit_record
from apps.accounts.models import Tenant
from apps.connectors.crypto import encrypted_fields, rotate


def _tenant_labels() -> set[str]:
    from django.apps import apps

    labels = set()
    for app in settings.TENANT_APPS:
        labels |= {config.label for config in apps.get_app_configs() if config.name == app}
    return labels


def _shared_labels() -> set[str]:
    from django.apps import apps

    return {config.label for config in apps.get_app_configs() if config.name in settings.SHARED_APPS}


def _rotate_columns(cursor, columns) -> Counter:
    counts: Counter = Counter()
    for model, field in columns:
        table, column = model._meta.db_table, field.column
        cursor.execute(f'SELECT id, "{column}" FROM "{table}" WHERE "{column}" <> \'\' FOR UPDATE')  # noqa: S608
        for row_id, token in cursor.fetchall():
            cursor.execute(f'UPDATE "{table}" SET "{column}" = %s WHERE id = %s', [rotate(token), row_id])  # noqa: S608
            counts[f"{model._meta.label}.{field.name}"] += 1
    return counts


class Command(BaseCommand):
    help = (
        "Re-encrypts every stored secret (every encrypted column of every tenant) with the first key of "
        "CREDENTIALS_KEYS. Deploy the new key first in the list (keeping the old ones), run this, then drop the old "
        "keys."
    )

    def handle(self, *args, **options):
        fields = encrypted_fields()
        tenant_labels, shared_labels = _tenant_labels(), _shared_labels()
        in_tenants = [(m, f) for m, f in fields if m._meta.app_label in tenant_labels]
        in_public = [(m, f) for m, f in fields if m._meta.app_label in shared_labels - tenant_labels]
        unplaced = [(m, f) for m, f in fields if (m, f) not in in_tenants and (m, f) not in in_public]
        if unplaced:
            names = ", ".join(f"{m._meta.label}.{f.name}" for m, f in unplaced)
            raise CommandError(f"encrypted fields of apps that are neither shared nor per tenant: {names}")
        totals: Counter = Counter()
        tenants = list(Tenant.objects.exclude(schema_name="public").order_by("slug"))
        try:
            db.set_schema_to_public()  # type: ignore[attr-defined]
            with transaction.atomic(), db.cursor() as cursor:
                totals += _rotate_columns(cursor, in_public)
            for tenant in tqdm(tenants, desc="tenants", unit="tenant", disable=not tenants):
                with schema_context(tenant.schema_name), transaction.atomic(), db.cursor() as cursor:
                    counts = _rotate_columns(cursor, in_tenants)
                    if counts:
                        audit_record(
                            tenant=tenant,
                            actor=Actor.system("rotate_credentials_key"),
                            action="credentials.rotated",
                            changes={"rows": sum(counts.values()), "kinds": dict(sorted(counts.items()))},
                        )
                totals += counts
        except ValueError as exc:  # a value no configured key opens: nothing of that schema was changed
            raise CommandError(f"{exc}; keep every old key in CREDENTIALS_KEYS until the rotation has run") from None
        for model, field in in_public + in_tenants:
            label = f"{model._meta.label}.{field.name}"
            self.stdout.write(f"{label}: {totals[label]} re-encrypted")
        self.stdout.write(
            f"re-encrypted {sum(totals.values())} value(s) of {len(fields)} encrypted field(s) in {len(tenants)} "
            "tenant(s) with the current key"
        )
