"""What an upload is, decided from its bytes: the name and the browser's Content-Type are not trusted."""

from __future__ import annotations

import io
import re
import zipfile

import puremagic
from django.conf import settings
from django.core.exceptions import ValidationError

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
SUPPORTED = (PDF, DOCX, MARKDOWN, TEXT)

_MARKDOWN_HINTS = re.compile(
    r"^(#{1,6}\s+\S|[-*+]\s+\S|\d+\.\s+\S|>\s|```|\|.*\|\s*$)|\[[^\]\n]+\]\([^)\s]+\)|\*\*[^*\n]+\*\*",
    re.MULTILINE,
)


class KnowledgeError(Exception):
    """A failure the API shows as it is: `message` is safe for users, `status_code` is the HTTP answer."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnsupportedFileType(KnowledgeError):
    status_code = 415
    code = "unsupported_media_type"


class FileTooLarge(KnowledgeError):
    status_code = 413
    code = "file_too_large"


def too_many_parts(data: bytes) -> str | None:
    """Why a zip has more members than a Word document may have (KNOWLEDGE_MAX_ARCHIVE_MEMBERS), or None. Counted
    without reading its directory, which zipfile turns into one object per entry: every entry begins with the
    directory signature, so their number bounds how many entries zipfile could find."""
    most = settings.KNOWLEDGE_MAX_ARCHIVE_MEMBERS
    if data.count(b"PK\x01\x02") > most:
        return f"The archive has more than the {most} parts a Word document may have."
    return None


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return False


def _as_text(data: bytes) -> str | None:
    """The bytes as text when they are UTF-8 without control characters other than whitespace."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in text[:65536]):
        return None
    return text


def detect_content_type(data: bytes) -> str:
    """One of SUPPORTED, or UnsupportedFileType. A PNG renamed notes.pdf, a zip that is not a Word document or any
    other binary is refused; a zip with too many parts is a ValidationError on `file`, before it is opened."""
    if not data:
        raise UnsupportedFileType("The file is empty.")
    if b"%PDF-" in data[:1024]:  # the header may follow a little junk (PDF 1.7, annex H)
        return PDF
    if data.startswith(b"PK\x03\x04"):
        if reason := too_many_parts(data):
            raise ValidationError({"file": [reason]})
        if _is_docx(data):
            return DOCX
        raise UnsupportedFileType("This archive is not a Word (.docx) document; upload PDF, DOCX, Markdown or text.")
    text = _as_text(data)
    if text is None:
        raise UnsupportedFileType(f"Unsupported file type ({_binary_name(data)}); upload PDF, DOCX, Markdown or text.")
    return MARKDOWN if len(_MARKDOWN_HINTS.findall(text[:65536])) >= 2 else TEXT


def _binary_name(data: bytes) -> str:
    try:
        return puremagic.from_string(data[:8192], mime=True) or "binary"
    except puremagic.PureError:
        return "binary"
