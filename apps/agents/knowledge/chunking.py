"""Splits a page's text into passages for retrieval: on paragraph, then sentence, then word boundaries, with
some overlap so that a fact straddling two passages is whole in at least one of them."""

from __future__ import annotations

import re
from dataclasses import dataclass

CHUNK_CHARS = 800
OVERLAP_CHARS = 120

_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r"(?<=[.!?;:])\s+(?=\S)|\n")
_SPACES = re.compile(r"[ \t\f\v\r]+")


@dataclass(frozen=True)
class TextChunk:
    page: int | None
    text: str


def normalise(text: str) -> str:
    text = text.replace("\x00", "")
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _pieces(text: str, size: int) -> list[tuple[str, bool]]:
    """Units no longer than `size`, each with whether it starts a paragraph: paragraphs, else their sentences,
    else runs of words (else hard cuts)."""
    out: list[tuple[str, bool]] = []
    for paragraph in _PARAGRAPHS.split(text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= size:
            out.append((paragraph, True))
            continue
        mark = len(out)
        for sentence in _SENTENCES.split(paragraph):
            sentence = sentence.strip()
            if not sentence:
                continue
            if len(sentence) <= size:
                out.append((sentence, False))
                continue
            words, current = sentence.split(" "), ""
            for word in words:
                while len(word) > size:  # one "word" longer than a chunk (a URL, a hash, a table)
                    if current:
                        out.append((current, False))
                        current = ""
                    out.append((word[:size], False))
                    word = word[size:]
                if current and len(current) + 1 + len(word) > size:
                    out.append((current, False))
                    current = word
                else:
                    current = f"{current} {word}" if current else word
            if current:
                out.append((current, False))
        if len(out) > mark:
            out[mark] = (out[mark][0], True)
    return out


def _tail(text: str, overlap: int) -> str:
    """The end of a chunk carried into the next, starting at a sentence (or word) boundary."""
    if overlap <= 0 or len(text) <= overlap:
        return text if overlap > 0 else ""
    tail = text[-overlap:]
    for boundary in (". ", "? ", "! ", "\n"):
        at = tail.find(boundary)
        if at != -1 and at + len(boundary) < len(tail):
            return tail[at + len(boundary) :].strip()
    at = tail.find(" ")
    return tail[at + 1 :].strip() if at != -1 else tail


def chunk_text(text: str, *, page: int | None = None, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS):
    """The passages of one page, each at most about `size` characters, consecutive ones sharing up to `overlap`."""
    text = normalise(text)
    if not text:
        return []
    chunks: list[TextChunk] = []
    current = ""
    for piece, new_paragraph in _pieces(text, size - overlap if size > overlap * 2 else size):
        separator = ("\n\n" if new_paragraph else " ") if current else ""
        if current and len(current) + len(separator) + len(piece) > size:
            chunks.append(TextChunk(page, current))
            carried = _tail(current, overlap)
            current = f"{carried}{separator}{piece}" if carried else piece
        else:
            current = f"{current}{separator}{piece}"
    if current:
        chunks.append(TextChunk(page, current))
    return chunks
