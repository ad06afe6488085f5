from django.db import migrations, models

# Called by the triggers on each tenant schema's agent approvals (agents 0002): a pending approval is owed an
# expiry check at its expires_at. Its id is a uuid; object_id keeps 60 bits of its md5 (unique in practice).
TRACK_APPROVAL = """
CREATE OR REPLACE FUNCTION public.bzs_track_approval() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  w_id bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN
    w_id := ('x' || substr(md5(OLD.id::text), 1, 15))::bit(60)::bigint;
  ELSE
    w_id := ('x' || substr(md5(NEW.id::text), 1, 15))::bit(60)::bigint;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.status = 'pending' THEN
    INSERT INTO public.integrations_routing_pendingwork (schema_name, kind, object_id, state, at)
    VALUES (TG_TABLE_SCHEMA, 'approval', w_id, 'pending', NEW.expires_at)
    ON CONFLICT (schema_name, kind, object_id) DO UPDATE SET state = EXCLUDED.state, at = EXCLUDED.at;
  ELSE
    DELETE FROM public.integrations_routing_pendingwork
     WHERE schema_name = TG_TABLE_SCHEMA AND kind = 'approval' AND object_id = w_id;
  END IF;
  RETURN NULL;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("integrations_routing", "0002_pending_work"),
    ]

    operations = [
        migrations.AlterField(
            model_name="pendingwork",
            name="kind",
            field=models.CharField(
                choices=[("event", "Event"), ("delivery", "Delivery"), ("action", "Action"), ("approval", "Approval")],
                max_length=10,
            ),
        ),
        migrations.RunSQL(TRACK_APPROVAL, "DROP FUNCTION IF EXISTS public.bzs_track_approval() CASCADE"),
    ]
