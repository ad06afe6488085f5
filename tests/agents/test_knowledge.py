"""The knowledge base end to end: uploads through the API, ingestion in the tenant schema (as the worker runs it),
hybrid search with citations, failures users see, RBAC and tenant isolation. Documents are made in the tests:
a real multi-page PDF written byte by byte, a Word file by python-docx, Markdown and text."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import struct
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from apps.agents.knowledge import embeddings
from apps.agents.knowledge import search as search_module
from apps.agents.knowledge.chunking import chunk_text
from apps.agents.knowledge.ingest import ingest_document
from apps.agents.knowledge.search import search
from apps.agents.models import Chunk, Document, DocumentFile, KnowledgeCollection
from tests.factories import bearer, make_member, make_tenant

ROLES = ("owner", "admin", "member", "viewer")
DOCS = "/api/v1/knowledge/documents/"
COLLECTIONS = "/api/v1/knowledge/collections/"
SEARCH = "/api/v1/knowledge/search/"

PAGES = [
    [
        "Northwind Trading: about the company.",
        "Northwind was founded in 1998 by two sisters in a garage in Leeds.",
        "It began by importing teas and spices from family farms in Assam and Kerala.",
        "Today the company employs ninety people across three warehouses.",
    ],
    [
        "Delivery and couriers.",
        "Parcels leave our warehouse within one working day of payment.",
        "Standard delivery in the United Kingdom takes three to five working days.",
        "Express delivery is available to most postcodes for an extra fee.",
    ],
    [
        "The Xylofrost guarantee.",
        "Customers may return unopened merchandise within thirty days of purchase.",
        "We issue a full reimbursement to the original card once the parcel reaches us.",
        "Opened food products cannot be refunded for hygiene reasons.",
    ],
    [
        "Working at Northwind.",
        "We hire seasonal staff every autumn for the holiday rush.",
        "Applicants should send a CV and a short cover letter to our people team.",
        "Interviews take place at the Leeds office on Tuesdays.",
    ],
]
PARAPHRASE = "how long do shoppers have to bring items back to get their money"


def make_pdf(pages: list[list[str]]) -> bytes:
    """A valid PDF 1.4 with one Helvetica text line per entry, one page per list."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    contents = []
    for lines in pages:
        ops = [b"BT /F1 11 Tf 72 740 Td 14 TL"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(b"(" + escaped.encode("latin-1") + b") Tj T*")
        ops.append(b"ET")
        stream = b"\n".join(ops)
        contents.append(add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"))
    pages_id = len(objects) + len(pages) + 1
    kids = [
        add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)
        )
        for content in contents
    ]
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))) == (
        pages_id
    )
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)


def make_docx(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def encrypt_pdf(data: bytes, password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password="owner-" + password, algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def png_bytes() -> bytes:
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


class Org:
    def __init__(self, slug: str):
        self.tenant = make_tenant(slug=slug)
        self.people = {role: make_member(self.tenant, role, email=f"{role}@{slug}.test") for role in ROLES}
        self.client = Client(HTTP_HOST="localhost")

    @property
    def schema(self) -> str:
        return self.tenant.schema_name

    def auth(self, role: str = "member") -> dict:
        return bearer(self.people[role], self.tenant)

    def collection(self, name: str = "Handbook") -> int:
        response = self.client.post(COLLECTIONS, {"name": name}, content_type="application/json", **self.auth("member"))
        assert response.status_code == 201, response.content
        return response.json()["id"]

    def upload(self, collection: int, name: str, data: bytes, *, role: str = "member", title: str | None = None):
        body = {"collection": collection, "file": SimpleUploadedFile(name, data)}
        if title is not None:
            body["title"] = title
        return self.client.post(DOCS, body, **self.auth(role))

    def uploaded(self, collection: int, name: str, data: bytes, **kwargs) -> dict:
        response = self.upload(collection, name, data, **kwargs)
        assert response.status_code == 201, response.content
        return response.json()

    def ingest(self, document_id: int) -> str | None:
        """What the Celery task does: ingestion inside this tenant's schema."""
        with schema_context(self.schema):
            return ingest_document(document_id)

    def get(self, path: str, role: str = "viewer", **params):
        return self.client.get(path, params, **self.auth(role))

    def search(self, q: str, role: str = "viewer", **params) -> list[dict]:
        response = self.get(SEARCH, role, q=q, **params)
        assert response.status_code == 200, response.content
        return response.json()["results"]


@pytest.fixture
def acme(db):
    return Org("acme-kb")


@pytest.fixture
def globex(db):
    return Org("globex-kb")


@pytest.fixture
def handbook(acme):
    """Acme's 4-page handbook PDF, uploaded and ingested."""
    collection = acme.collection()
    document = acme.uploaded(collection, "handbook.pdf", make_pdf(PAGES), title="Staff handbook")
    assert acme.ingest(document["id"]) == Document.Status.READY
    return {"collection": collection, "document": document["id"]}


# --- ingestion and search ------------------------------------------------------------------------------------


def test_a_multi_page_pdf_is_ingested_with_progress_and_page_numbers(acme):
    collection = acme.collection()

    document = acme.uploaded(collection, "handbook.pdf", make_pdf(PAGES), title="Staff handbook")

    assert document["status"] == "pending"
    assert document["content_type"] == "application/pdf"
    assert document["sha256"] == hashlib.sha256(make_pdf(PAGES)).hexdigest()
    assert acme.ingest(document["id"]) == "ready"
    detail = acme.get(f"{DOCS}{document['id']}/").json()
    assert (detail["status"], detail["error"]) == ("ready", "")
    assert (detail["pages_total"], detail["pages_done"], detail["progress"]) == (4, 4, 1.0)
    assert detail["embedding_model"] == "local/all-MiniLM-L6-v2"
    with schema_context(acme.schema):
        chunks = list(Chunk.objects.filter(document_id=document["id"]).order_by("ordinal"))
    assert detail["chunks_count"] == len(chunks) == 4  # short pages: one passage each
    assert [c.page for c in chunks] == [1, 2, 3, 4]
    assert "thirty days of purchase" in chunks[2].text
    assert all(
        len(c.embedding) == 384 and math.isclose(sum(x * x for x in c.embedding), 1.0, abs_tol=1e-3) for c in chunks
    )


def test_keyword_search_finds_the_passage_and_cites_its_page(acme, handbook):
    results = acme.search("Xylofrost guarantee")

    top = results[0]
    assert (top["document_id"], top["document_title"], top["page"]) == (handbook["document"], "Staff handbook", 3)
    assert top["collection_id"] == handbook["collection"]
    assert "full reimbursement" in top["excerpt"]
    assert top["score"] > results[1]["score"]


def test_a_paraphrase_is_found_by_meaning_alone(acme, handbook):
    with schema_context(acme.schema), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM agents_chunk WHERE search @@ websearch_to_tsquery('english', %s)", [PARAPHRASE]
        )
        assert cursor.fetchone()[0] == 0  # no keyword overlap: only the vector side can find it

    results = acme.search(PARAPHRASE, limit=3)

    assert [r["page"] for r in results][:1] == [3]
    assert len(results) == 3


def test_search_filters_by_collection_and_document(acme, handbook):
    other = acme.collection("Brand voice")
    notes = acme.uploaded(
        other, "voice.md", b"# Voice\n\n- Warm and plain.\n- The Xylofrost name is always capitalised.\n"
    )
    acme.ingest(notes["id"])

    everywhere = acme.search("Xylofrost")
    only_brand = acme.search("Xylofrost", collection=str(other))
    only_handbook = acme.search("Xylofrost", document=str(handbook["document"]))

    assert {r["document_id"] for r in everywhere} == {handbook["document"], notes["id"]}
    assert {r["document_id"] for r in only_brand} == {notes["id"]}
    assert {r["document_id"] for r in only_handbook} == {handbook["document"]}
    assert acme.get(SEARCH, q="x", collection="abc").status_code == 400
    assert acme.get(SEARCH, q="").status_code == 400
    assert acme.get(SEARCH, q="x", limit="500").status_code == 400


def test_the_search_function_used_by_agent_tools(acme, handbook):
    with schema_context(acme.schema):
        hits = search("What is the Xylofrost guarantee?", collection_ids=[handbook["collection"]], limit=5)
        none = search("What is the Xylofrost guarantee?", collection_ids=[], limit=5)

    assert hits[0].page == 3 and hits[0].document_title == "Staff handbook"
    assert len(hits) == 4  # the whole document has four passages
    assert none == []


def test_full_text_ranks_by_bm25_so_a_word_no_passage_has_hides_nothing(acme, handbook):
    """The embedded PostgreSQL has pg_textsearch: every tenant schema (made from the template) has the BM25 index,
    and a question with a word that appears nowhere still finds the passage by its other words. The fallback
    for servers without the library (ts_rank_cd) needs every word."""
    question = "Xylofrost guarantee qqzzyxq"
    with schema_context(acme.schema), connection.cursor() as cursor:
        assert search_module._has_bm25(cursor, acme.schema)
        ranked = search_module._text_ranking(cursor, question, "", [], 40)
        search_module._bm25_by_schema[acme.schema] = False
        try:
            fallback = search_module._text_ranking(cursor, question, "", [], 40)
            fallback_known_words = search_module._text_ranking(cursor, "Xylofrost guarantee", "", [], 40)
        finally:
            search_module._bm25_by_schema.pop(acme.schema)
        pages = dict(Chunk.objects.filter(pk__in=ranked + fallback_known_words).values_list("pk", "page"))

    assert [pages[chunk_id] for chunk_id in ranked][:1] == [3]
    assert len(ranked) < 4  # passages with none of the words are not text matches
    assert fallback == []
    assert [pages[chunk_id] for chunk_id in fallback_known_words] == [3]


def test_a_repeated_question_is_embedded_once_per_tenant(acme, globex, handbook, monkeypatch):
    calls = []
    real = embeddings.embed_query
    monkeypatch.setattr(embeddings, "embed_query", lambda text: calls.append(text) or real(text))
    question = "How long is the Xylofrost guarantee, exactly?"

    first = acme.search(question)
    again = acme.search(question)
    globex.search(question)

    assert first == again
    assert calls == [question, question]  # acme once, then globex: a cached vector never crosses tenants


def test_word_and_markdown_uploads_are_detected_and_ingested(acme):
    collection = acme.collection()
    word = acme.uploaded(
        collection,
        "tone.docx",
        make_docx(["Brand voice guide.", "We always write in a friendly, confident tone about our Quokkaberry jam."]),
    )
    markdown = acme.uploaded(
        collection, "faq", b"# FAQ\n\n## Opening hours\n\n- The shop opens at **nine** on weekdays.\n", title="FAQ"
    )
    text = acme.uploaded(collection, "note.bin", b"Plain note about the Leeds warehouse.\n")

    assert word["content_type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert (markdown["content_type"], markdown["title"]) == ("text/markdown", "FAQ")
    assert (text["content_type"], text["title"]) == ("text/plain", "note")
    for document in (word, markdown, text):
        assert acme.ingest(document["id"]) == "ready"
    top = acme.search("Quokkaberry")[0]
    assert (top["document_id"], top["page"]) == (word["id"], None)
    assert "friendly, confident tone" in top["excerpt"]
    assert acme.search("when does the store open in the morning")[0]["document_id"] == markdown["id"]


# --- refusals and failures -----------------------------------------------------------------------------------


def test_a_renamed_binary_is_refused_with_415(acme):
    collection = acme.collection()
    fake_docx = io.BytesIO()
    with zipfile.ZipFile(fake_docx, "w") as archive:
        archive.writestr("data.csv", "a,b\n")

    png = acme.upload(collection, "report.pdf", png_bytes())
    archive = acme.upload(collection, "report.docx", fake_docx.getvalue())
    binary = acme.upload(collection, "notes.md", bytes(range(256)) * 4)

    assert (png.status_code, png.json()["code"]) == (415, "unsupported_media_type")
    assert "image/png" in png.json()["detail"]
    assert archive.status_code == binary.status_code == 415
    with schema_context(acme.schema):
        assert Document.objects.count() == 0 and DocumentFile.objects.count() == 0


def test_an_oversized_upload_is_refused_with_413(acme, settings):
    collection = acme.collection()
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 1000

    response = acme.upload(collection, "big.txt", b"word " * 400)
    fits = acme.upload(collection, "small.txt", b"word " * 100)

    assert (response.status_code, response.json()["code"]) == (413, "file_too_large")
    assert fits.status_code == 201
    with schema_context(acme.schema):
        assert list(Document.objects.values_list("filename", flat=True)) == ["small.txt"]


def test_an_encrypted_pdf_fails_with_the_reason(acme):
    collection = acme.collection()
    document = acme.uploaded(collection, "secret.pdf", encrypt_pdf(make_pdf(PAGES), "s3cret"))

    assert acme.ingest(document["id"]) == "failed"

    detail = acme.get(f"{DOCS}{document['id']}/").json()
    assert detail["status"] == "failed"
    assert "encrypted" in detail["error"] and "password" in detail["error"]
    assert detail["chunks_count"] == 0


def test_a_corrupt_pdf_fails_with_the_reason(acme):
    collection = acme.collection()
    truncated = make_pdf(PAGES)[:300]
    document = acme.uploaded(collection, "broken.pdf", truncated)

    assert acme.ingest(document["id"]) == "failed"

    detail = acme.get(f"{DOCS}{document['id']}/").json()
    assert detail["status"] == "failed"
    assert detail["error"].startswith("The PDF is damaged or not a valid PDF")
    assert acme.search("Xylofrost") == []


def test_an_empty_upload_is_a_400(acme):
    response = acme.upload(acme.collection(), "empty.txt", b"")
    assert response.status_code == 400
    assert "file" in response.json()


# --- lifecycle -----------------------------------------------------------------------------------------------


def test_deleting_a_document_removes_its_chunks_and_file(acme, handbook):
    response = acme.client.delete(f"{DOCS}{handbook['document']}/", **acme.auth("member"))

    assert response.status_code == 204
    with schema_context(acme.schema):
        assert Chunk.objects.count() == 0
        assert DocumentFile.objects.count() == 0
        assert not Document.objects.filter(pk=handbook["document"]).exists()
    assert acme.search("Xylofrost") == []
    assert acme.get(f"{DOCS}{handbook['document']}/").status_code == 404


def test_reingest_replaces_the_chunks(acme, handbook):
    with schema_context(acme.schema):
        before = set(Chunk.objects.values_list("id", flat=True))

    response = acme.client.post(f"{DOCS}{handbook['document']}/reingest/", **acme.auth("member"))

    assert response.status_code == 202
    assert (response.json()["status"], response.json()["pages_done"]) == ("pending", 0)
    assert acme.ingest(handbook["document"]) == "ready"
    assert acme.ingest(handbook["document"]) == "ready"  # a redelivered task changes nothing
    with schema_context(acme.schema):
        after = list(Chunk.objects.values_list("id", "page"))
        assert Document.objects.get(pk=handbook["document"]).chunks_count == 4
    assert len(after) == 4 and not before & {chunk_id for chunk_id, _ in after}
    assert sorted(page for _, page in after) == [1, 2, 3, 4]
    assert acme.search("Xylofrost")[0]["page"] == 3


def test_documents_list_filters_and_collection_crud(acme, handbook):
    other = acme.collection("Empty")
    listed = acme.get(DOCS, collection=handbook["collection"]).json()
    failed = acme.get(DOCS, status="failed").json()

    assert [d["id"] for d in listed["results"]] == [handbook["document"]]
    assert failed["count"] == 0
    assert acme.get(DOCS, status="nope").status_code == 400
    collections = {c["name"]: c for c in acme.get(COLLECTIONS).json()["results"]}
    assert (collections["Handbook"]["documents_count"], collections["Empty"]["documents_count"]) == (1, 0)

    renamed = acme.client.patch(
        f"{COLLECTIONS}{other}/", {"name": "Brand"}, content_type="application/json", **acme.auth("member")
    )
    deleted = acme.client.delete(f"{COLLECTIONS}{handbook['collection']}/", **acme.auth("member"))

    assert (renamed.status_code, renamed.json()["name"]) == (200, "Brand")
    assert deleted.status_code == 204
    with schema_context(acme.schema):
        assert (Document.objects.count(), Chunk.objects.count(), DocumentFile.objects.count()) == (0, 0, 0)


@pytest.mark.parametrize("path", [DOCS, COLLECTIONS])
def test_list_endpoints_use_a_constant_number_of_queries(acme, path, django_assert_max_num_queries):
    for index in range(12):
        acme.uploaded(acme.collection(f"C{index}"), f"n{index}.txt", f"Note {index}.".encode())

    auth = acme.auth("viewer")

    with django_assert_max_num_queries(8):
        response = acme.client.get(path, **auth)

    assert response.status_code == 200
    assert response.json()["count"] == 12


# --- permissions and isolation -------------------------------------------------------------------------------


def test_viewers_read_and_search_but_cannot_upload_or_configure(acme, handbook):
    upload = acme.upload(handbook["collection"], "x.txt", b"hello there", role="viewer")
    create = acme.client.post(COLLECTIONS, {"name": "X"}, content_type="application/json", **acme.auth("viewer"))
    delete = acme.client.delete(f"{DOCS}{handbook['document']}/", **acme.auth("viewer"))
    reingest = acme.client.post(f"{DOCS}{handbook['document']}/reingest/", **acme.auth("viewer"))

    assert (upload.status_code, create.status_code, delete.status_code, reingest.status_code) == (403, 403, 403, 403)
    with schema_context(acme.schema):
        assert Document.objects.count() == 1 and KnowledgeCollection.objects.count() == 1
    assert acme.get(DOCS, role="viewer").json()["count"] == 1
    assert acme.search("Xylofrost", role="viewer")[0]["page"] == 3
    assert acme.client.get(SEARCH, {"q": "Xylofrost"}).status_code == 401


def test_another_tenant_can_neither_search_nor_see_the_documents(acme, globex, handbook):
    globex.collection("Their own")

    results = globex.search("Xylofrost guarantee")
    scoped = globex.search(PARAPHRASE, collection=str(handbook["collection"]))
    detail = globex.get(f"{DOCS}{handbook['document']}/")
    listed = globex.get(DOCS).json()
    delete = globex.client.delete(f"{DOCS}{handbook['document']}/", **globex.auth("owner"))

    assert results == [] and scoped == []
    assert detail.status_code == 404 and delete.status_code == 404
    assert listed["count"] == 0
    with schema_context(globex.schema):
        assert search("Xylofrost guarantee", limit=5) == []
    with schema_context(acme.schema):
        assert Document.objects.filter(pk=handbook["document"]).exists()


# --- embedders and chunking ----------------------------------------------------------------------------------


def _fake_vector(text: str, dims: int = 384) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    return [((seed[i % 32] + i) % 17) / 17 - 0.5 for i in range(dims)]


def test_an_openai_compatible_embedder_then_back_to_local_reembeds(acme, settings, httpserver):
    seen = []

    def embeddings_endpoint(request):
        from werkzeug import Response

        body = json.loads(request.data)
        seen.append((request.headers.get("Authorization"), body["model"], body["dimensions"], len(body["input"])))
        data = [{"object": "embedding", "index": i, "embedding": _fake_vector(t)} for i, t in enumerate(body["input"])]
        payload = {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 5}}
        return Response(json.dumps(payload), content_type="application/json")

    httpserver.expect_request("/v1/embeddings", method="POST").respond_with_handler(embeddings_endpoint)
    settings.KNOWLEDGE_EMBEDDER = "openai_compatible"
    settings.KNOWLEDGE_EMBEDDING_URL = httpserver.url_for("/v1")
    settings.KNOWLEDGE_EMBEDDING_MODEL = "text-embedding-3-small"
    settings.KNOWLEDGE_EMBEDDING_API_KEY = "sk-test-embed"
    collection = acme.collection()
    document = acme.uploaded(collection, "handbook.pdf", make_pdf(PAGES))

    assert acme.ingest(document["id"]) == "ready"
    assert seen == [("Bearer sk-test-embed", "text-embedding-3-small", 384, 4)]
    with schema_context(acme.schema):
        assert Document.objects.get(pk=document["id"]).embedding_model == "openai_compatible/text-embedding-3-small"
        remote = dict(Chunk.objects.values_list("id", "embedding"))

    settings.KNOWLEDGE_EMBEDDER = "local"
    with schema_context(acme.schema):
        count = embeddings.collection_reembed(collection=KnowledgeCollection.objects.get(pk=collection))
        again = embeddings.collection_reembed(collection=KnowledgeCollection.objects.get(pk=collection))
        assert Document.objects.get(pk=document["id"]).embedding_model == "local/all-MiniLM-L6-v2"
        local = dict(Chunk.objects.values_list("id", "embedding"))
    assert (count, again) == (4, 0)
    assert local.keys() == remote.keys() and all(list(local[k]) != list(remote[k]) for k in local)
    assert acme.search(PARAPHRASE)[0]["page"] == 3


def test_an_embedding_endpoint_with_the_wrong_dimensions_fails_the_document(acme, settings, httpserver):
    httpserver.expect_request("/v1/embeddings", method="POST").respond_with_json(
        {"object": "list", "data": [{"index": 0, "embedding": [0.1] * 1536}] * 4}
    )
    settings.KNOWLEDGE_EMBEDDER = "openai_compatible"
    settings.KNOWLEDGE_EMBEDDING_URL = httpserver.url_for("/v1")
    document = acme.uploaded(acme.collection(), "handbook.pdf", make_pdf(PAGES))

    assert acme.ingest(document["id"]) == "failed"

    detail = acme.get(f"{DOCS}{document['id']}/").json()
    assert "1536 dimensions; 384 are needed" in detail["error"]


def test_chunks_keep_their_page_stay_bounded_and_overlap():
    sentences = [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(120)]
    text = "\n\n".join(" ".join(sentences[i : i + 6]) for i in range(0, 120, 6))

    chunks = chunk_text(text, page=7)

    assert len(chunks) > 5
    assert all(c.page == 7 for c in chunks)
    assert all(len(c.text) <= 850 for c in chunks)
    assert all(c.text[0].isupper() for c in chunks)  # starts on a sentence boundary
    for previous, following in itertools.pairwise(chunks):
        assert following.text.split(".")[0] in previous.text  # the start of each chunk repeats the end of the last
    joined = " ".join(c.text for c in chunks)
    assert all(sentence in joined for sentence in sentences)
