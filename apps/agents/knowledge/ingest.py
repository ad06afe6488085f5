"""Uploading, ingesting and deleting knowledge documents. Ingestion runs in a worker (Celery, after the upload
commits) and can be re-run at will: each run replaces the document's chunks."""

from __future__ import annotations

import hashlib
import logging
import os
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts import quotas
from apps.accounts.audit.services import Actor, audit_record, diff
from apps.accounts.models import Tenant
from apps.agents.knowledge import chunking, detect, embeddings, extract
from apps.agents.knowledge.detect import FileTooLarge, KnowledgeError
from apps.agents.models import Chunk, Document, DocumentFile, KnowledgeCollection
from bizosaas import enqueue
from bizosaas.digits import ascii_digits
from bizosaas.metrics import KNOWLEDGE_CHUNKS, KNOWLEDGE_DOCUMENTS, KNOWLEDGE_INGEST_SECONDS
from bizosaas.tenancy import current_schema

logger = logging.getLogger(__name__)

EMBED_BATCH = 64
PROGRESS_EVERY_SECONDS = 0.5  # how often a long PDF writes pages_done (every page of a short one)


def _user_id(actor: Actor) -> int | None:
    return int(actor.id) if actor.type == "user" and ascii_digits(actor.id) else None


def _queue_ingestion(document: Document) -> None:
    # broker down: the document stays pending; "reingest" queues it again
    enqueue.on_commit(
        "agents.ingest_document",
        (current_schema(), document.pk),
        what=f"the ingestion of document {document.pk}",
    )


def document_upload(
    *, tenant: Tenant, actor: Actor, collection: KnowledgeCollection, uploaded_file, title: str | None = None
) -> Document:
    """Stores an upload (PDF, DOCX, Markdown or text, detected from its bytes) as a pending document and queues its
    ingestion once the transaction commits. Too large -> FileTooLarge (413); other types -> UnsupportedFileType
    (415); over a bound on what it would expand to (zip directory, page count) -> ValidationError on `file`."""
    limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES
    too_large = FileTooLarge(f"The file is larger than the {extract.human_size(limit)} limit.")
    if (getattr(uploaded_file, "size", None) or 0) > limit:
        raise too_large
    data = uploaded_file.read(limit + 1)
    if len(data) > limit:
        raise too_large
    content_type = detect.detect_content_type(data)
    try:
        extract.precheck(data, content_type)  # a zip bomb or too many pages: refused before anything is stored
    except extract.ExtractionError as exc:
        raise ValidationError({"file": [exc.reason]}) from None
    filename = os.path.basename(getattr(uploaded_file, "name", "") or "") or "upload"
    title = (title or "").strip() or os.path.splitext(filename)[0] or filename
    with transaction.atomic():
        quotas.check_capacity(tenant, "knowledge_bytes", adding=len(data))
        quotas.check_capacity(tenant, "knowledge_chunks")  # room for at least one; ingestion checks the rest
        document = Document.objects.create(
            collection=collection,
            title=title[:200],
            filename=filename[:255],
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            created_by_id=_user_id(actor),
        )
        DocumentFile.objects.create(document=document, data=data)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="knowledge.document_uploaded",
            obj=document,
            changes={
                "collection": collection.pk,
                "filename": document.filename,
                "content_type": content_type,
                "size": len(data),
            },
        )
        _queue_ingestion(document)
    return document


def document_reingest(*, tenant: Tenant, actor: Actor, document: Document) -> Document:
    """Puts the document back to pending and queues ingestion again (its current chunks stay searchable until
    the new ones replace them)."""
    with transaction.atomic():
        Document.objects.filter(pk=document.pk).update(
            status=Document.Status.PENDING, error="", pages_done=0, processed_at=None
        )
        audit_record(tenant=tenant, actor=actor, action="knowledge.document_reingested", obj=document)
        _queue_ingestion(document)
    document.refresh_from_db()
    return document


@transaction.atomic
def document_delete(*, tenant: Tenant, actor: Actor, document: Document) -> None:
    """Deletes the document with its chunks and stored file."""
    audit_record(
        tenant=tenant,
        actor=actor,
        action="knowledge.document_deleted",
        obj=document,
        changes={"title": document.title, "filename": document.filename, "collection": document.collection_id},
    )
    Chunk.objects.filter(document=document).delete()
    DocumentFile.objects.filter(document=document).delete()
    document.delete()


# --- ingestion -----------------------------------------------------------------------------------------------


def _fail(document_id: int, reason: str) -> None:
    with transaction.atomic():
        Chunk.objects.filter(document_id=document_id).delete()
        Document.objects.filter(pk=document_id).update(
            status=Document.Status.FAILED, error=reason[:500], chunks_count=0, processed_at=timezone.now()
        )


def ingest_document(document_id: int) -> str | None:
    """Extracts, chunks and embeds one document of the current tenant schema, replacing its chunks; returns the
    final status (None when the document no longer exists). Unreadable documents end `failed` with the reason;
    nothing is raised for them. Progress (pages_done of pages_total) is written while it runs."""
    started = time.perf_counter()
    status = _ingest_document(document_id)
    if status is not None:
        KNOWLEDGE_DOCUMENTS.labels(outcome=status).inc()
        KNOWLEDGE_INGEST_SECONDS.observe(time.perf_counter() - started)
    return status


def _ingest_document(document_id: int) -> str | None:
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return None
    stored = DocumentFile.objects.filter(document_id=document_id).values_list("data", flat=True).first()
    if stored is None:
        _fail(document_id, "The uploaded file is missing; upload the document again.")
        return Document.Status.FAILED
    Document.objects.filter(pk=document_id).update(
        status=Document.Status.PROCESSING, error="", pages_done=0, pages_total=0, processed_at=None
    )
    try:
        rows = _ingest_pages(document, bytes(stored))
    except (extract.ExtractionError, KnowledgeError) as exc:
        reason = exc.reason if isinstance(exc, extract.ExtractionError) else exc.message
        logger.info("document %s failed: %s", document_id, reason)
        _fail(document_id, reason)
        return Document.Status.FAILED
    except Exception as exc:
        logger.exception("ingestion of document %s crashed", document_id)
        _fail(document_id, f"Ingestion failed unexpectedly ({type(exc).__name__}); try re-ingesting.")
        return Document.Status.FAILED
    if not rows:
        _fail(document_id, "No text could be extracted (a scanned document without a text layer?).")
        return Document.Status.FAILED
    with transaction.atomic():
        previous = Document.objects.select_for_update().filter(pk=document_id).values_list("chunks_count").first()
        if previous is None:
            return None  # deleted while it was being processed
        try:
            quotas.check_capacity(current_schema(), "knowledge_chunks", adding=len(rows) - previous[0])
        except quotas.QuotaExceeded as exc:
            _fail(document_id, exc.detail)
            return Document.Status.FAILED
        Chunk.objects.filter(document_id=document_id).delete()
        Chunk.objects.bulk_create(rows, batch_size=500)
        Document.objects.filter(pk=document_id).update(
            status=Document.Status.READY,
            chunks_count=len(rows),
            embedding_model=embeddings.model_name(),
            processed_at=timezone.now(),
        )
    KNOWLEDGE_CHUNKS.inc(len(rows))
    return Document.Status.READY


def _ingest_pages(document: Document, data: bytes) -> list[Chunk]:
    extraction = extract.extract(data, document.content_type)
    Document.objects.filter(pk=document.pk).update(pages_total=extraction.pages_total)
    rows: list[Chunk] = []
    pending: list[chunking.TextChunk] = []

    def flush() -> None:
        vectors = embeddings.embed_texts([piece.text for piece in pending])
        for piece, vector in zip(pending, vectors, strict=True):
            rows.append(
                Chunk(
                    document_id=document.pk,
                    collection_id=document.collection_id,
                    ordinal=len(rows),
                    page=piece.page,
                    text=piece.text,
                    embedding=vector,
                )
            )
        pending.clear()

    last_write = 0.0
    done = 0
    for page in extraction.pages():
        pending.extend(chunking.chunk_text(page.text, page=page.number))
        if len(pending) >= EMBED_BATCH:
            flush()
        done += 1
        now = time.monotonic()
        if now - last_write >= PROGRESS_EVERY_SECONDS or done == extraction.pages_total:
            Document.objects.filter(pk=document.pk).update(pages_done=done)
            last_write = now
    if pending:
        flush()
    Document.objects.filter(pk=document.pk).update(pages_done=done)
    return rows


# --- collections ---------------------------------------------------------------------------------------------


def _clean_collection(name: str | None, description: str | None) -> dict:
    values, errors = {}, {}
    if name is not None:
        if not name.strip():
            errors["name"] = ["This field may not be blank."]
        values["name"] = name.strip()
    if description is not None:
        values["description"] = description.strip()
    if errors:
        raise ValidationError(errors)
    return values


@transaction.atomic
def collection_create(*, tenant: Tenant, actor: Actor, name: str, description: str = "") -> KnowledgeCollection:
    values = _clean_collection(name, description)
    collection = KnowledgeCollection.objects.create(**values, created_by_id=_user_id(actor))
    audit_record(tenant=tenant, actor=actor, action="knowledge.collection_created", obj=collection, changes=values)
    return collection


@transaction.atomic
def collection_update(
    *,
    tenant: Tenant,
    actor: Actor,
    collection: KnowledgeCollection,
    name: str | None = None,
    description: str | None = None,
) -> KnowledgeCollection:
    before = {"name": collection.name, "description": collection.description}
    values = _clean_collection(name, description)
    for field, value in values.items():
        setattr(collection, field, value)
    collection.save()
    changes = diff(before, {"name": collection.name, "description": collection.description})
    audit_record(tenant=tenant, actor=actor, action="knowledge.collection_updated", obj=collection, changes=changes)
    return collection


@transaction.atomic
def collection_delete(*, tenant: Tenant, actor: Actor, collection: KnowledgeCollection) -> None:
    """Deletes the collection with its documents, their files and chunks."""
    audit_record(
        tenant=tenant,
        actor=actor,
        action="knowledge.collection_deleted",
        obj=collection,
        changes={"name": collection.name, "documents": collection.documents.count()},
    )
    collection.delete()


def collection_reembed_queue(*, collection: KnowledgeCollection) -> int:
    """Queues re-embedding when some of the collection's documents were embedded with another model; returns how
    many documents are stale."""
    stale = (
        Document.objects.filter(collection=collection, status=Document.Status.READY)
        .exclude(embedding_model=embeddings.model_name())
        .count()
    )
    if stale:
        enqueue.on_commit(
            "agents.reembed_collection",
            (current_schema(), collection.pk),
            what=f"the re-embedding of collection {collection.pk}",
        )
    return stale
