from django.core.management.base import BaseCommand
from django.db import connection as db
from django.db import transaction
from django_tenants.utils import schema_context
from tqdm import tqdm

from apps.accounts.audit.services import Actor, audit_record
from apps.accounts.models import Tenant
from apps.connectors.crypto import rotate

ENCRYPTED_COLUMNS = [("connectors_connection", "credentials"), ("connectors_oauthstate", "secrets")]


class Command(BaseCommand):
    help = (
        "Re-encrypts every stored credential with the first key of CREDENTIALS_KEYS. Deploy the new key first in "
        "the list (keeping the old ones), run this, then drop the old keys."
    )

    def handle(self, *args, **options):
        tenants = list(Tenant.objects.exclude(schema_name="public").order_by("slug"))
        total = 0
        for tenant in tqdm(tenants, desc="tenants", unit="tenant", disable=not tenants):
            with schema_context(tenant.schema_name), transaction.atomic(), db.cursor() as cursor:
                count = 0
                for table, column in ENCRYPTED_COLUMNS:
                    cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} <> '' FOR UPDATE")  # noqa: S608
                    for row_id, token in cursor.fetchall():
                        cursor.execute(
                            f"UPDATE {table} SET {column} = %s WHERE id = %s",  # noqa: S608
                            [rotate(token), row_id],
                        )
                        count += 1
                if count:
                    audit_record(
                        tenant=tenant,
                        actor=Actor.system("rotate_credentials_key"),
                        action="credentials.rotated",
                        changes={"rows": count},
                    )
                total += count
        self.stdout.write(f"re-encrypted {total} value(s) in {len(tenants)} tenant(s) with the current key")
