"""Drops the pattern-matching (LIKE) indexes PostgreSQL gets for every indexed text column, where nothing
filters these columns by pattern: exact lookups use the column's own index. Fewer relations in every tenant
schema (docs/SCALING.md). Django drops such indexes with IF EXISTS when it alters a field, so later migrations
are unaffected."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("workflows", "0001_initial")]

    operations = [
        migrations.RunSQL(
            """DROP INDEX IF EXISTS workflows_workflowrun_workflow_id_51c8c945_like""",
            """CREATE INDEX IF NOT EXISTS workflows_workflowrun_workflow_id_51c8c945_like ON workflows_workflowrun (workflow_id varchar_pattern_ops)""",
        )
    ]
