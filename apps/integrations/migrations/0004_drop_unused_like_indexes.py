"""Drops the pattern-matching (LIKE) indexes PostgreSQL gets for every indexed text column, where nothing
filters these columns by pattern: exact lookups use the column's own index. Fewer relations in every tenant
schema (docs/SCALING.md). Django drops such indexes with IF EXISTS when it alters a field, so later migrations
are unaffected."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("integrations", "0003_pending_work_triggers")]

    operations = [
        migrations.RunSQL(
            """DROP INDEX IF EXISTS integrations_actionrun_idempotency_key_d514ebdb_like;
DROP INDEX IF EXISTS integrations_inboundendpoint_token_7087db5a_like""",
            """CREATE INDEX IF NOT EXISTS integrations_actionrun_idempotency_key_d514ebdb_like ON integrations_actionrun (idempotency_key varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS integrations_inboundendpoint_token_7087db5a_like ON integrations_inboundendpoint (token varchar_pattern_ops)""",
        )
    ]
