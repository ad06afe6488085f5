"""Text out of an upload, page by page: pypdf for PDF (pages 1..n), python-docx for Word (no pages), text as is."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from apps.agents.knowledge import detect

logger = logging.getLogger(__name__)


class ExtractionError(Exception):
    """The document cannot be read; `reason` is shown to users on the failed document."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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


def _pdf(data: bytes) -> Extraction:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # an owner-only password still lets anyone read
            raise ExtractionError("The PDF is encrypted (password-protected); upload an unprotected copy.")
        total = len(reader.pages)
    except ExtractionError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise ExtractionError(f"The PDF is damaged or not a valid PDF ({_short(exc)}).") from None
    except NotImplementedError as exc:  # an encryption scheme pypdf does not support
        raise ExtractionError(f"The PDF uses an unsupported feature: {_short(exc)}.") from None
    if total == 0:
        raise ExtractionError("The PDF has no pages.")

    def pages() -> Iterator[Page]:
        for number in range(1, total + 1):
            try:
                text = reader.pages[number - 1].extract_text() or ""
            except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
                raise ExtractionError(f"Page {number} of the PDF could not be read ({_short(exc)}).") from None
            yield Page(number, text)

    return Extraction(total, pages())


def _docx(data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

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


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]
