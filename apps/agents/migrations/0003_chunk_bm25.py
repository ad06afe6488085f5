"""BM25 full-text ranking of knowledge chunks (pg_textsearch), where the server has the library loaded.

pg_textsearch's index can only be used while its library is in shared_preload_libraries (the embedded
PostgreSQL starts with it; see bizosaas/infra.py). On a server without it this migration does nothing and
search keeps ranking with ts_rank_cd (apps/agents/knowledge/search.py checks which one the schema has).
"""

from django.db import migrations

INDEX = "chunk_text_bm25"


def create_index(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('pg_textsearch.library_version', true)")
        if not cursor.fetchone()[0]:
            return
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_textsearch'")
        if cursor.fetchone() is None:
            # database-wide, in public beside pgvector (the search path of a tenant schema ends with public)
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_textsearch SCHEMA public")
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON agents_chunk USING bm25 (text) WITH (text_config = 'english')"
        )


def drop_index(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("agents", "0002_approvals")]

    operations = [migrations.RunPython(create_index, drop_index)]
