"""Celery entry points for the knowledge base: each names the tenant schema and enters it first."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections
from django_tenants.utils import schema_context

from apps.agents.knowledge import embeddings, ingest
from apps.agents.models import KnowledgeCollection
from bizosaas.work import INGESTION, task_options

INGESTION_OPTIONS = task_options(INGESTION, settings.INGESTION_TIME_LIMITS)


@shared_task(name="agents.ingest_document", **INGESTION_OPTIONS)
def ingest_document(schema: str, document_id: int) -> None:
    close_old_connections()
    with schema_context(schema):
        ingest.ingest_document(document_id)


@shared_task(name="agents.reembed_collection", **INGESTION_OPTIONS)
def reembed_collection(schema: str, collection_id: int) -> None:
    close_old_connections()
    with schema_context(schema):
        collection = KnowledgeCollection.objects.filter(pk=collection_id).first()
        if collection is not None:
            embeddings.collection_reembed(collection=collection)
