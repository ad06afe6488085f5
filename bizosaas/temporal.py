"""The one way to reach Temporal: address, namespace and task queue from settings."""

from __future__ import annotations

from django.conf import settings
from temporalio.client import Client


async def connect() -> Client:
    return await Client.connect(settings.TEMPORAL_ADDRESS, namespace=settings.TEMPORAL_NAMESPACE)
