"""Uploads are checked by what they would expand to before anything parses them: a Word zip bomb, a zip whose
directory lies, too many parts, an unusual compression method, a PDF with too many pages or too much text. A refusal
at upload is a 400 on `file` with nothing stored; a stored document over a bound (uploaded before the limit was
lowered) ends `failed` with the reason, and the worker's memory stays small throughout."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import pytest
from django_tenants.utils import schema_context

from apps.agents.models import Chunk, Document, DocumentFile
from tests.agents.test_knowledge import DOCS, PAGES, Org, make_docx, make_pdf

MB = 1024 * 1024
BOMB_INFLATED = 200 * MB


def _with_document_xml(write) -> bytes:
    """A package python-docx wrote (content types, relationships, styles...) whose word/document.xml `write` fills
    in, through a streaming zip member."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(make_docx(["Placeholder."]))) as template,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package,
    ):
        for item in template.infolist():
            if item.filename != "word/document.xml":
                package.writestr(item, template.read(item))
        with package.open("word/document.xml", "w") as stream:
            write(stream)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A Word file whose document.xml is 200 MB of zeros, deflated to about 200 KB; made a slice at a time."""

    def zeros(stream):
        block = bytes(MB)
        for _ in range(BOMB_INFLATED // MB):
            stream.write(block)

    return _with_document_xml(zeros)


def understated(data: bytes, member: str, size: int) -> bytes:
    """`data` with `member`'s uncompressed size rewritten to `size` in its local header and its directory entry
    (the CRC and the compressed bytes stay those of the real content)."""
    out, name = bytearray(data), member.encode()
    for signature, name_length_at, name_at, size_at in ((b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)):
        at = out.find(signature)
        while out[at + name_at : at + name_at + struct.unpack_from("<H", out, at + name_length_at)[0]] != name:
            at = out.find(signature, at + 4)
        struct.pack_into("<I", out, at + size_at, size)
    return bytes(out)


def blank_pdf(pages: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def expanded(data: bytes) -> str:
    """What the zip's directory says it expands to, as the reason states it."""
    return f"{sum(item.file_size for item in zipfile.ZipFile(io.BytesIO(data)).infolist()) / MB:.1f} MB"


def peak_bytes(call):
    """What `call` returns, and the most memory Python allocated while it ran."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def acme(db):
    return Org("acme-bounds")


def stored(acme) -> tuple[int, int]:
    with schema_context(acme.schema):
        return Document.objects.count(), DocumentFile.objects.count()


def failure(acme, document_id: int) -> tuple[str, str, int]:
    detail = acme.get(f"{DOCS}{document_id}/").json()
    return detail["status"], detail["error"], detail["chunks_count"]


# --- Word ------------------------------------------------------------------------------------------------------


def test_a_word_zip_bomb_is_refused_at_upload_without_inflating_it(acme, bomb):
    collection = acme.collection()
    assert len(bomb) < MB

    response, peak = peak_bytes(lambda: acme.upload(collection, "bomb.docx", bomb))

    assert response.status_code == 400
    assert expanded(bomb).startswith("200.")  # document.xml, and the rest of the package
    assert response.json() == {
        "file": [f"The Word document would expand to {expanded(bomb)}, more than the 50.0 MB limit."]
    }
    assert stored(acme) == (0, 0)
    assert peak < 20 * MB


def test_a_word_file_compressed_beyond_the_ratio_is_refused_at_upload(acme, bomb, settings):
    settings.KNOWLEDGE_MAX_EXTRACTED_BYTES = 1024 * MB  # the size alone would pass: the ratio refuses it
    collection = acme.collection()

    response = acme.upload(collection, "bomb.docx", bomb)

    assert response.status_code == 400
    (reason,) = response.json()["file"]
    assert reason.startswith("The Word document's part word/document.xml is compressed more than 100 to 1 (")
    assert reason.endswith(" expanding to 200.0 MB); it looks like a zip bomb.")
    assert stored(acme) == (0, 0)


def test_a_stored_zip_bomb_fails_its_ingestion_before_parsing_and_the_worker_stays_small(acme, bomb, settings):
    collection = acme.collection()
    settings.KNOWLEDGE_MAX_EXTRACTED_BYTES = 1024 * MB  # as if uploaded before the limits were lowered
    settings.KNOWLEDGE_MAX_COMPRESSION_RATIO = 10**6
    document = acme.uploaded(collection, "bomb.docx", bomb)
    settings.KNOWLEDGE_MAX_EXTRACTED_BYTES = 50 * MB
    settings.KNOWLEDGE_MAX_COMPRESSION_RATIO = 100

    status, peak = peak_bytes(lambda: acme.ingest(document["id"]))

    assert status == "failed"
    assert failure(acme, document["id"]) == (
        "failed",
        f"The Word document would expand to {expanded(bomb)}, more than the 50.0 MB limit.",
        0,
    )
    assert peak < 20 * MB
    with schema_context(acme.schema):
        assert Chunk.objects.count() == 0


def test_a_zip_whose_directory_understates_a_part_is_read_with_a_cap_and_fails_as_damaged(acme, bomb):
    lying = understated(bomb, "word/document.xml", 4096)  # the directory claims 4 KB, the data inflates to 200 MB
    collection = acme.collection()
    document = acme.uploaded(collection, "lying.docx", lying)  # nothing in the directory is over a bound

    status, peak = peak_bytes(lambda: acme.ingest(document["id"]))

    assert status == "failed"
    assert failure(acme, document["id"]) == (
        "failed",
        "The Word document is damaged (Bad CRC-32 for file 'word/document.xml').",
        0,
    )
    assert peak < 20 * MB


def test_a_zip_with_more_parts_than_allowed_is_refused_before_it_is_opened(acme, settings):
    normal = make_docx(["Brand voice guide."])
    settings.KNOWLEDGE_MAX_ARCHIVE_MEMBERS = len(zipfile.ZipFile(io.BytesIO(normal)).infolist()) - 1
    collection = acme.collection()

    response = acme.upload(collection, "parts.docx", normal)

    assert response.status_code == 400
    parts = settings.KNOWLEDGE_MAX_ARCHIVE_MEMBERS
    assert response.json() == {"file": [f"The archive has more than the {parts} parts a Word document may have."]}
    assert stored(acme) == (0, 0)


def test_a_word_file_in_an_unusual_compression_method_is_refused(acme):
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(make_docx(["Brand voice guide."]))) as template,
        zipfile.ZipFile(out, "w", zipfile.ZIP_BZIP2) as package,
    ):
        for item in template.infolist():
            package.writestr(item.filename, template.read(item))
    collection = acme.collection()

    response = acme.upload(collection, "bz.docx", out.getvalue())

    assert response.status_code == 400
    assert response.json() == {
        "file": ["The Word document uses an unsupported compression method ([Content_Types].xml)."]
    }
    assert stored(acme) == (0, 0)


def test_a_normal_word_file_still_ingests(acme):
    collection = acme.collection()
    document = acme.uploaded(
        collection, "tone.docx", make_docx(["Brand voice guide.", "We write about our Quokkaberry jam warmly."])
    )

    assert acme.ingest(document["id"]) == "ready"

    assert failure(acme, document["id"]) == ("ready", "", 1)
    assert acme.search("Quokkaberry")[0]["document_id"] == document["id"]


# --- PDF -------------------------------------------------------------------------------------------------------


def test_a_pdf_over_the_page_limit_is_refused_at_upload(acme, settings):
    settings.KNOWLEDGE_MAX_PDF_PAGES = 3
    collection = acme.collection()

    response = acme.upload(collection, "long.pdf", blank_pdf(5))
    fits = acme.upload(collection, "short.pdf", blank_pdf(3))

    assert response.status_code == 400
    assert response.json() == {"file": ["The PDF has 5 pages, more than the 3 allowed; split it into smaller files."]}
    assert fits.status_code == 201
    with schema_context(acme.schema):
        assert list(Document.objects.values_list("filename", flat=True)) == ["short.pdf"]


def test_a_stored_pdf_over_the_page_limit_fails_its_ingestion_with_the_reason(acme, settings):
    collection = acme.collection()
    document = acme.uploaded(collection, "long.pdf", blank_pdf(5))
    settings.KNOWLEDGE_MAX_PDF_PAGES = 3

    assert acme.ingest(document["id"]) == "failed"

    assert failure(acme, document["id"]) == (
        "failed",
        "The PDF has 5 pages, more than the 3 allowed; split it into smaller files.",
        0,
    )


def test_pdf_extraction_stops_once_the_text_passes_the_limit(acme, settings):
    collection = acme.collection()
    document = acme.uploaded(collection, "handbook.pdf", make_pdf(PAGES))
    settings.KNOWLEDGE_MAX_EXTRACTED_BYTES = 500  # each page holds about 250 bytes of text

    assert acme.ingest(document["id"]) == "failed"

    assert failure(acme, document["id"]) == (
        "failed",
        "The PDF's text passes the 500 bytes limit at page 3; split it into smaller files.",
        0,
    )
    with schema_context(acme.schema):
        assert Chunk.objects.count() == 0
