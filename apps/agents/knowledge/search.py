"""Hybrid retrieval over the current tenant's chunks: nearest neighbours by cosine distance (pgvector HNSW) and
full-text matches, fused by reciprocal rank. The tables live in the tenant's schema, so a search sees that
tenant's documents and nothing else.

Full text is ranked by BM25 through pg_textsearch's index where the server has it (the embedded PostgreSQL
does; migration agents 0003 creates the index when the library is loaded): the index returns the top k
without ranking every match. Elsewhere it falls back to `ts_rank_cd` over the GIN matches, which ranks every
matching row (the cost that grows with common words)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection, transaction

from apps.agents.knowledge import embeddings
from apps.agents.models import Chunk
from bizosaas.tenancy import current_schema

RRF_K = 60
MAX_LIMIT = 50
EXCERPT_CHARS = 1000


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    document_title: str
    collection_id: int
    page: int | None
    excerpt: str
    score: float

    def as_dict(self) -> dict:
        return asdict(self)


_iterative_scan: bool | None = None
BM25_INDEX = "chunk_text_bm25"
_bm25_by_schema: dict[str, bool] = {}


def _has_iterative_scan(cursor) -> bool:
    """pgvector >= 0.8 keeps scanning the HNSW graph until enough rows pass the filters (filtered searches
    otherwise come back short)."""
    global _iterative_scan
    if _iterative_scan is None:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
        version = tuple(int(part) for part in row[0].split(".")[:2] if part.isdigit()) if row else (0, 0)
        _iterative_scan = version >= (0, 8)
    return _iterative_scan


def _has_bm25(cursor, schema: str) -> bool:
    """Whether this schema's chunk table has the BM25 index (kept per schema for the process's life: the index
    comes with a migration, and a process that saw none keeps the fallback, which gives correct results)."""
    known = _bm25_by_schema.get(schema)
    if known is None:
        cursor.execute(
            "SELECT current_setting('pg_textsearch.library_version', true) IS NOT NULL AND EXISTS ("
            "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s)",
            [schema, BM25_INDEX],
        )
        known = bool(cursor.fetchone()[0])
        if len(_bm25_by_schema) > 100_000:
            _bm25_by_schema.clear()
        _bm25_by_schema[schema] = known
    return known


# Query vectors, as the SQL literal, for the last QUERY_CACHE_SIZE (schema, model, query) of this process: a
# repeated question (an agent's tool call, a user refining filters) skips the ~15 ms of embedding. Keyed by schema
# so that one tenant's timing never tells another what was asked; about 4 KB an entry.
QUERY_CACHE_SIZE = 1024
_query_cache: OrderedDict[tuple[str, str, str], str] = OrderedDict()
_query_cache_lock = threading.Lock()


# A query is embedded on a thread of this small per-process pool while the caller's thread runs the full-text
# query: the model's work (torch, or the remote embedder's HTTP wait, both outside the GIL) and the database's
# overlap instead of adding up. Bounded per process; the local model encodes one batch at a time anyway.
QUERY_EMBEDDING_THREADS = 2
_embedding_pool = ThreadPoolExecutor(max_workers=QUERY_EMBEDDING_THREADS, thread_name_prefix="query-embedding")


def _query_vector(query: str) -> Future[str]:
    """The query's vector as the SQL literal: at once from the cache, else being embedded on the pool."""
    key = (current_schema(), embeddings.model_name(), query)
    with _query_cache_lock:
        literal = _query_cache.get(key)
        if literal is not None:
            _query_cache.move_to_end(key)
            done: Future[str] = Future()
            done.set_result(literal)
            return done
    return _embedding_pool.submit(_embed, key, query)


def _embed(key: tuple[str, str, str], query: str) -> str:
    literal = "[" + ",".join(f"{x:.7g}" for x in embeddings.embed_query(query)) + "]"
    with _query_cache_lock:
        _query_cache[key] = literal
        while len(_query_cache) > QUERY_CACHE_SIZE:
            _query_cache.popitem(last=False)
    return literal


def _filters(collection_ids, document_ids) -> tuple[str, list]:
    clauses, params = [], []
    if collection_ids is not None:
        clauses.append("c.collection_id = ANY(%s)")
        params.append([int(x) for x in collection_ids])
    if document_ids is not None:
        clauses.append("c.document_id = ANY(%s)")
        params.append([int(x) for x in document_ids])
    return "".join(f" AND {clause}" for clause in clauses), params


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _text_ranking(cursor, query: str, where: str, params: list, candidates: int) -> list[int]:
    """Chunk ids matching `query`'s words, best first: BM25 through its index where the schema has one (any of
    the words may match, rarer words weigh more), else ts_rank_cd over the rows holding every word."""
    table = Chunk._meta.db_table
    if _has_bm25(cursor, current_schema()):
        # <@> is the negative BM25 score, ascending in the index; with a filter the scan may go on past the
        # matches, and those rows score 0
        bm25 = f"{current_schema()}.{BM25_INDEX}"
        cursor.execute(
            f"SELECT c.id, c.text <@> to_bm25query(%s, %s) FROM {table} c WHERE TRUE{where} "  # noqa: S608
            "ORDER BY c.text <@> to_bm25query(%s, %s) LIMIT %s",
            [query, bm25, *params, query, bm25, candidates],
        )
        return [row[0] for row in cursor.fetchall() if row[1] < 0]
    cursor.execute(
        f"SELECT c.id FROM {table} c, websearch_to_tsquery('english', %s) q "  # noqa: S608
        f"WHERE c.search @@ q{where} ORDER BY ts_rank_cd(c.search, q) DESC, c.id LIMIT %s",
        [query, *params, candidates],
    )
    return [row[0] for row in cursor.fetchall()]


def search(
    query: str,
    *,
    collection_ids: list[int] | None = None,
    document_ids: list[int] | None = None,
    limit: int = 8,
) -> list[Hit]:
    """The `limit` best passages for `query` in the current tenant schema, best first. An empty list for an
    empty query or an empty filter (collection_ids=[] means "no collections", not "all")."""
    query = (query or "").strip()
    limit = max(1, min(int(limit), MAX_LIMIT))
    if not query or collection_ids == [] or document_ids == []:
        return []
    if current_schema() == settings.PUBLIC_SCHEMA_NAME:
        raise RuntimeError("Knowledge search runs in a tenant schema; none is active.")
    candidates = max(limit * 4, 40)
    where, params = _filters(collection_ids, document_ids)
    vector = _query_vector(query)  # embedded meanwhile
    table = Chunk._meta.db_table
    # the SQL below is assembled from constants (table name, fixed clauses); every value is a parameter
    with transaction.atomic(), connection.cursor() as cursor:
        by_text = _text_ranking(cursor, query, where, params, candidates)
        cursor.execute(f"SET LOCAL hnsw.ef_search = {max(candidates, 40):d}")
        if where and _has_iterative_scan(cursor):
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute(
            f"SELECT c.id FROM {table} c WHERE TRUE{where} ORDER BY c.embedding <=> %s::vector LIMIT %s",  # noqa: S608
            [*params, vector.result(), candidates],
        )
        by_vector = [row[0] for row in cursor.fetchall()]
    scores: dict[int, float] = {}
    for ranking in (by_vector, by_text):
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    best = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))[:limit]
    rows = {
        chunk.pk: chunk
        for chunk in Chunk.objects.filter(pk__in=best)
        .select_related("document")
        .only("id", "page", "text", "collection_id", "document_id", "document__title")
    }
    return [
        Hit(
            chunk_id=chunk.pk,
            document_id=chunk.document_id,
            document_title=chunk.document.title,
            collection_id=chunk.collection_id,
            page=chunk.page,
            excerpt=_excerpt(chunk.text),
            score=round(scores[chunk.pk], 6),
        )
        for chunk in (rows.get(chunk_id) for chunk_id in best)
        if chunk is not None
    ]
