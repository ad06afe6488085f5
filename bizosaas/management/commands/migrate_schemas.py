from django.conf import settings
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
from django_tenants.utils import schema_exists


def require_pgvector() -> None:
    """Fails with an operator-readable message when the server cannot provide the pgvector extension."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
            row = cursor.fetchone()
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
    except OperationalError as exc:
        raise CommandError(f"cannot reach PostgreSQL: {exc}".strip()) from None
    if row is None:
        raise CommandError(
            f"PostgreSQL {version} at this DATABASE_URL does not have the pgvector extension, which BizOSaaS "
            "needs for the knowledge base. Install pgvector on that server (for example the postgresql-NN-pgvector "
            "package, or an image with pgvector), or unset DATABASE_URL to use the embedded PostgreSQL, "
            "which includes it."
        )


class Command(MigrateSchemasCommand):
    """migrate_schemas, plus: pgvector is checked first, and a full run also migrates the tenant template schema
    and captures it as the SQL new tenants are made from (see apps.accounts.tenant_template)."""

    def handle(self, *args, **options):
        require_pgvector()
        super().handle(*args, **options)
        if not options.get("schema_name") and not options.get("shared") and not options.get("app_label"):
            from apps.accounts.tenant_template import template_capture

            template = settings.TENANT_TEMPLATE_SCHEMA
            if not schema_exists(template):
                with connection.cursor() as cursor:
                    cursor.execute(f'CREATE SCHEMA "{template}"')
            super().handle(*args, **{**options, "schema_name": template, "tenant": True, "shared": False})
            connection.set_schema_to_public()
            template_capture(schema=template)
