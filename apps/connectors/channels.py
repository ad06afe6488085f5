"""Notification channels that expire at the provider (Zoho CRM's actions/watch lives at most a week), renewed
before they do.

Where the renewal runs: inside the scheduled connection health check (`connectors.check_tenant_connections`, every
CONNECTION_HEALTH_MINUTES), which already visits, a page of tenants at a time, every active tenant that has
connections and opens each connection's client. Renewing there adds no periodic visit of its own and no index to
keep in step (a public table of channels would have to follow every enable, renewal and connection deletion); the
cost is one extra filtered query per visited tenant, and a channel is looked at dozens of times in the day before it
expires (as long as CONNECTION_HEALTH_MINUTES stays well under RENEW_WITHIN), so one failed renewal is tried again at
the next check. A channel is kept in its connection's config
(`notification_channel`: channel_id, events, expires_at, error), visible to the tenant; its notify URL, which carries
an inbound endpoint's routing token, stays with the encrypted credentials.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils.dateparse import parse_datetime

from apps.accounts.audit.services import Actor, audit_record
from apps.accounts.models import Tenant
from apps.connectors.exceptions import ConnectorError
from apps.connectors.models import Connection
from apps.connectors.registry import registry
from apps.connectors.services import connection_context

logger = logging.getLogger(__name__)

CHANNEL_KEY = "notification_channel"
RENEW_WITHIN = timedelta(hours=24)


def _channel_save(connection: Connection, channel: dict) -> None:
    with transaction.atomic():
        row = Connection.objects.select_for_update().get(pk=connection.pk)
        row.config = {**row.config, CHANNEL_KEY: channel}
        row.save(update_fields=["config", "updated_at"])
    connection.config = row.config


def notification_channels_renew(*, tenant: Tenant, now: datetime | None = None) -> dict:
    """Renews every channel of the current tenant schema that expires within RENEW_WITHIN (or whose expiry is
    unknown). A refusal is kept on the channel (`error`) and audited, and never stops the other channels."""
    now = now or datetime.now(UTC)
    renewed = failed = 0
    for connection in Connection.objects.filter(config__has_key=CHANNEL_KEY).order_by("id"):
        spec = registry.get(connection.provider)
        channel = connection.config.get(CHANNEL_KEY)
        if spec is None or not hasattr(spec, "renew_notification_channel") or not isinstance(channel, dict):
            continue
        expires = parse_datetime(str(channel.get("expires_at") or ""))
        if expires is not None and expires - now > RENEW_WITHIN:
            continue
        try:
            with connection_context(connection, tenant=tenant) as ctx:
                updated = ctx.provider.renew_notification_channel(ctx, channel)
        except ConnectorError as exc:
            failed += 1
            _channel_save(connection, {**channel, "error": exc.message})
            if channel.get("error") == exc.message:
                continue  # audited when it first failed so; the next checks try again without repeating it
            audit_record(
                tenant=tenant,
                actor=Actor.system("channel-renewal"),
                action="connection.channel_renewal_failed",
                obj=connection,
                changes={"channel_id": channel.get("channel_id"), "error": exc.message},
            )
            logger.warning(
                "notification channel renewal failed",
                extra={"connection": connection.pk, "provider": connection.provider, "error": exc.message},
            )
            continue
        _channel_save(connection, updated)
        renewed += 1
    return {"renewed": renewed, "failed": failed}
