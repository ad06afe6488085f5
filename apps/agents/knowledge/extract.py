"""Text out of an upload, page by page: pypdf for PDF (pages 1..n), python-docx for Word (no pages), text as is.

Nothing is parsed before it is known to fit in memory. A Word file is a zip: its directory is checked first
(members, their total expanded size, each one's compression ratio, the compression method), then every member is
inflated in slices, counted as it comes out, before python-docx reads any of it; a header that lies ends the read
at the cap or at zipfile's CRC check. A PDF is refused over KNOWLEDGE_MAX_PDF_PAGES pages, and its extraction
stops once the text passes KNOWLEDGE_MAX_EXTRACTED_BYTES (pypdf bounds each stream it inflates on its own).
Markdown and text are bounded by the upload size.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from apps.agents.knowledge import detect

logger = logging.getLogger(__name__)


class ExtractionError(Exception):
    """The document cannot be read; `reason` is shown to users on the failed document."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TooLargeToExtract(ExtractionError):
    """The document is over one of the bounds on what extraction may expand or read."""


@dataclass(frozen=True)
class Page:
    number: int | None  # 1-based for paged formats, None otherwise
    text: str


class Extraction:
    """`pages_total` is known before the first page is read, so progress can be shown while `pages()` runs."""

    def __init__(self, pages_total: int, pages: Iterator[Page]):
        self.pages_total = pages_total
        self._pages = pages

    def pages(self) -> Iterator[Page]:
        return self._pages


def extract(data: bytes, content_type: str) -> Extraction:
    if content_type == detect.PDF:
        return _pdf(data)
    if content_type == detect.DOCX:
        return Extraction(1, iter([Page(None, _docx(data))]))
    if content_type in (detect.MARKDOWN, detect.TEXT):
        return Extraction(1, iter([Page(None, data.decode("utf-8-sig", errors="replace"))]))
    raise ExtractionError(f"Unsupported content type {content_type!r}.")


def precheck(data: bytes, content_type: str) -> None:
    """The bounds that can be read cheaply at upload (the zip directory, the PDF's declared page count): an upload
    over them raises ExtractionError at once. Anything else wrong is left for ingestion to report; extraction
    checks every bound again, on what it really reads."""
    if content_type == detect.DOCX:
        try:
            _open_archive(data).close()
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            return  # damaged: ingestion says so
    elif content_type == detect.PDF:
        from pypdf import PdfReader

        try:
            declared = int(PdfReader(io.BytesIO(data)).trailer["/Root"]["/Pages"]["/Count"])  # type: ignore[index]
        except Exception:  # a damaged or encrypted PDF: ingestion says what is wrong with it
            return
        _check_pages(declared)


def _pdf(data: bytes) -> Extraction:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # an owner-only password still lets anyone read
            raise ExtractionError("The PDF is encrypted (password-protected); upload an unprotected copy.")
        total = len(reader.pages)
    except ExtractionError:
        raise
    except LimitReachedError as exc:
        raise TooLargeToExtract(f"The PDF is too large to read safely ({_short(exc)}).") from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise ExtractionError(f"The PDF is damaged or not a valid PDF ({_short(exc)}).") from None
    except NotImplementedError as exc:  # an encryption scheme pypdf does not support
        raise ExtractionError(f"The PDF uses an unsupported feature: {_short(exc)}.") from None
    if total == 0:
        raise ExtractionError("The PDF has no pages.")
    _check_pages(total)
    limit = settings.KNOWLEDGE_MAX_EXTRACTED_BYTES

    def pages() -> Iterator[Page]:
        extracted = 0
        for number in range(1, total + 1):
            try:
                text = reader.pages[number - 1].extract_text() or ""
            except LimitReachedError as exc:
                raise TooLargeToExtract(
                    f"Page {number} of the PDF is too large to read safely ({_short(exc)})."
                ) from None
            except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
                raise ExtractionError(f"Page {number} of the PDF could not be read ({_short(exc)}).") from None
            extracted += len(text.encode("utf-8", errors="replace"))
            if extracted > limit:
                raise TooLargeToExtract(
                    f"The PDF's text passes the {human_size(limit)} limit at page {number}; "
                    "split it into smaller files."
                )
            yield Page(number, text)

    return Extraction(total, pages())


def _docx(data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        with _open_archive(data) as archive:
            _inflate_bounded(archive)
    except ExtractionError:
        raise
    except Exception as exc:  # BadZipFile (a CRC that does not match), zlib.error, EOFError, an encrypted member...
        raise ExtractionError(f"The Word document is damaged ({_short(exc)}).") from None
    try:
        document = docx.Document(io.BytesIO(data))
    except PackageNotFoundError:
        raise ExtractionError("The Word document is damaged (not a valid package).") from None
    except Exception as exc:  # zipfile, lxml and python-docx each raise their own family for broken parts
        logger.info("docx parse failed: %s", type(exc).__name__)
        raise ExtractionError(f"The Word document is damaged ({_short(exc)}).") from None
    blocks = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            blocks.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n\n".join(block for block in blocks if block.strip())


# Below this a member's ratio says nothing: a few KB of repeated markup compress far past any sane ratio.
RATIO_CHECK_FROM_BYTES = 1024 * 1024
INFLATE_SLICE = 1024 * 1024


def _open_archive(data: bytes) -> zipfile.ZipFile:
    """The zip, once its member count and its directory (sizes, ratios, methods) are within bounds; nothing has
    been inflated yet."""
    if reason := detect.too_many_parts(data):
        raise TooLargeToExtract(reason)
    archive = zipfile.ZipFile(io.BytesIO(data))
    try:
        _check_directory(archive.infolist())
    except ExtractionError:
        archive.close()
        raise
    return archive


def _check_directory(members: list[zipfile.ZipInfo]) -> None:
    limit = settings.KNOWLEDGE_MAX_EXTRACTED_BYTES
    total = sum(member.file_size for member in members)
    if total > limit:
        raise TooLargeToExtract(
            f"The Word document would expand to {human_size(total)}, more than the {human_size(limit)} limit."
        )
    ratio = settings.KNOWLEDGE_MAX_COMPRESSION_RATIO
    for member in members:
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # Word writes only these; bzip2 and lzma inflate a whole block at once, past any slice size
            raise ExtractionError(f"The Word document uses an unsupported compression method ({member.filename}).")
        if member.file_size > RATIO_CHECK_FROM_BYTES and member.file_size > ratio * max(member.compress_size, 1):
            raise TooLargeToExtract(
                f"The Word document's part {member.filename} is compressed more than {ratio} to 1 "
                f"({human_size(member.compress_size)} expanding to {human_size(member.file_size)}); "
                "it looks like a zip bomb."
            )


def _inflate_bounded(archive: zipfile.ZipFile) -> None:
    """Inflates every member in slices and counts what really comes out (its CRC checked at the end), so a directory
    that understates sizes cannot get more than the limit past this point."""
    limit = settings.KNOWLEDGE_MAX_EXTRACTED_BYTES
    total = 0
    for member in archive.infolist():
        with archive.open(member) as stream:
            while chunk := stream.read(INFLATE_SLICE):
                total += len(chunk)
                if total > limit:
                    raise TooLargeToExtract(f"The Word document expands to more than the {human_size(limit)} limit.")


def _check_pages(pages: int) -> None:
    most = settings.KNOWLEDGE_MAX_PDF_PAGES
    if pages > most:
        raise TooLargeToExtract(
            f"The PDF has {pages} pages, more than the {most} allowed; split it into smaller files."
        )


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} bytes"


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]
