"""Drops the pattern-matching (LIKE) indexes PostgreSQL gets for every indexed text column, where nothing
filters these columns by pattern: exact lookups use the column's own index. Fewer relations in every tenant
schema (docs/SCALING.md). Django drops such indexes with IF EXISTS when it alters a field, so later migrations
are unaffected."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]

    operations = [
        migrations.RunSQL(
            """DROP INDEX IF EXISTS audit_auditevent_object_type_2df52246_like""",
            """CREATE INDEX IF NOT EXISTS audit_auditevent_object_type_2df52246_like ON audit_auditevent (object_type varchar_pattern_ops)""",
        )
    ]
