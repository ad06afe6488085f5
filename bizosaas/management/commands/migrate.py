from bizosaas.management.commands.migrate_schemas import Command as MigrateSchemas


class Command(MigrateSchemas):
    """`migrate` is `migrate_schemas` here (public schema, then every tenant schema), with the pgvector check."""
