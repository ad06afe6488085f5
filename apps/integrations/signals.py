"""Keeps rules honest when a connection they use is deleted: they are disabled with the reason, not widened
(a trigger limited to the connection) or left to fail on every event (an action performed on it)."""

from __future__ import annotations

from django.db.models import Q
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from apps.connectors.models import Connection
from apps.integrations.models import Rule


@receiver(pre_delete, sender=Connection, dispatch_uid="integrations.disable_rules_of_deleted_connection")
def disable_rules_of_deleted_connection(sender, instance: Connection, **kwargs) -> None:
    uses = Q(trigger_connection_id=instance.pk) | Q(actions__contains=[{"connection": instance.pk}])
    Rule.objects.filter(uses).update(
        enabled=False, disabled_reason=f"The connection {instance.name!r} was deleted."[:300]
    )
