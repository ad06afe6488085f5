"""Drops the pattern-matching (LIKE) indexes PostgreSQL gets for every indexed text column, where nothing
filters these columns by pattern: exact lookups use the column's own index. Fewer relations in every tenant
schema (docs/SCALING.md). Django drops such indexes with IF EXISTS when it alters a field, so later migrations
are unaffected."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("connectors", "0001_initial")]

    operations = [
        migrations.RunSQL(
            """DROP INDEX IF EXISTS connectors_connection_provider_d45f5dab_like;
DROP INDEX IF EXISTS connectors_oauthstate_nonce_4d522101_like""",
            """CREATE INDEX IF NOT EXISTS connectors_connection_provider_d45f5dab_like ON connectors_connection (provider varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS connectors_oauthstate_nonce_4d522101_like ON connectors_oauthstate (nonce varchar_pattern_ops)""",
        )
    ]
