from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION public.bizosaas_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    """The audit log's append-only rule is enforced by PostgreSQL itself, whatever code path tries."""

    dependencies = [("accounts", "0003_platformauditevent_apikey_invitation")]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION IF EXISTS public.bizosaas_audit_append_only() CASCADE"),
        migrations.RunSQL(
            "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON accounts_platformauditevent "
            "FOR EACH ROW EXECUTE FUNCTION public.bizosaas_audit_append_only()",
            "DROP TRIGGER IF EXISTS audit_append_only ON accounts_platformauditevent",
        ),
    ]
