"""Keeps rules honest when a connection they use is deleted: they are disabled with the reason, not widened
(a trigger limited to the connection) or left to fail on every event (an action performed on it)."""

from __future__ import annotations

from django.db.models import Q
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from apps.accounts.models import Tenant
from apps.connectors.models import Connection
from apps.integrations.models import InboundEndpoint, Rule
from apps.integrations.routing.lookup import forget_route, forget_where
from bizosaas.tenancy import current_schema


@receiver(pre_delete, sender=Connection, dispatch_uid="integrations.disable_rules_of_deleted_connection")
def disable_rules_of_deleted_connection(sender, instance: Connection, **kwargs) -> None:
    uses = Q(trigger_connection_id=instance.pk) | Q(actions__contains=[{"connection": instance.pk}])
    Rule.objects.filter(uses).update(
        enabled=False, disabled_reason=f"The connection {instance.name!r} was deleted."[:300]
    )


# --- the receiver's endpoint cache (inbound_views.py): writes in this process take effect at once -------------------


@receiver(post_save, sender=InboundEndpoint, dispatch_uid="integrations.forget_endpoint_on_save")
@receiver(post_delete, sender=InboundEndpoint, dispatch_uid="integrations.forget_endpoint_on_delete")
def forget_endpoint(sender, instance: InboundEndpoint, **kwargs) -> None:
    forget_route(instance.token)


@receiver(post_save, sender=Connection, dispatch_uid="integrations.forget_connection_endpoints_on_save")
@receiver(post_delete, sender=Connection, dispatch_uid="integrations.forget_connection_endpoints_on_delete")
def forget_connection_endpoints(sender, instance: Connection, **kwargs) -> None:
    forget_where(schema=current_schema(), connection_id=instance.pk)


@receiver(post_save, sender=Tenant, dispatch_uid="integrations.forget_tenant_endpoints")
def forget_tenant_endpoints(sender, instance: Tenant, **kwargs) -> None:
    forget_where(schema=instance.schema_name)
