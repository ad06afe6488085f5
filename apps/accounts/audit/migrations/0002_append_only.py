from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial"), ("accounts", "0004_audit_append_only")]

    operations = [
        migrations.RunSQL(
            "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_auditevent "
            "FOR EACH ROW EXECUTE FUNCTION public.bizosaas_audit_append_only()",
            "DROP TRIGGER IF EXISTS audit_append_only ON audit_auditevent",
        ),
    ]
