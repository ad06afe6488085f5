"""Triggers that keep the public index of owed work (integrations_routing.PendingWork) in step with this tenant
schema's events, deliveries and action runs, in the same transaction; and the index filled with what is owed now."""

from django.db import migrations

# (table, kind, the states it is owed in, the columns whose change moves its due time)
TRACKED = (
    ("integrations_event", "event", ("pending",), ("status",)),
    ("integrations_delivery", "delivery", ("pending", "sending"), ("status", "next_attempt_at", "claimed_at")),
    ("integrations_actionrun", "action", ("pending", "running"), ("status", "next_attempt_at", "started_at")),
)
# where the due time of each state comes from (as in public.bzs_track_work)
AT = {
    ("event", "pending"): "received_at",
    ("delivery", "pending"): "next_attempt_at",
    ("delivery", "sending"): "claimed_at",
    ("action", "pending"): "next_attempt_at",
    ("action", "running"): "started_at",
}


def _forward() -> str:
    statements = []
    for table, kind, states, columns in TRACKED:
        owed = ", ".join(f"'{state}'" for state in states)
        changed = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in columns)
        function = f"public.bzs_track_work('{kind}')"
        statements += [
            f"CREATE TRIGGER bzs_work_insert AFTER INSERT ON {table} FOR EACH ROW "
            f"WHEN (NEW.status IN ({owed})) EXECUTE FUNCTION {function}",
            f"CREATE TRIGGER bzs_work_update AFTER UPDATE ON {table} FOR EACH ROW "
            f"WHEN ({changed}) EXECUTE FUNCTION {function}",
            f"CREATE TRIGGER bzs_work_delete AFTER DELETE ON {table} FOR EACH ROW "
            f"WHEN (OLD.status IN ({owed})) EXECUTE FUNCTION {function}",
        ]
        for state in states:
            statements.append(
                "INSERT INTO public.integrations_routing_pendingwork (schema_name, kind, object_id, state, at) "  # noqa: S608
                f"SELECT current_schema(), '{kind}', id, '{state}', {AT[kind, state]} FROM {table} "
                f"WHERE status = '{state}' ON CONFLICT DO NOTHING"
            )
    return ";\n".join(statements)


def _backward() -> str:
    statements = [
        f"DROP TRIGGER IF EXISTS bzs_work_{when} ON {table}"
        for table, _kind, _states, _columns in TRACKED
        for when in ("insert", "update", "delete")
    ]
    statements.append("DELETE FROM public.integrations_routing_pendingwork WHERE schema_name = current_schema()")
    return ";\n".join(statements)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_rule_durable_rulerun_workflow_id"),
        ("integrations_routing", "0002_pending_work"),
    ]

    operations = [migrations.RunSQL(_forward(), _backward())]
