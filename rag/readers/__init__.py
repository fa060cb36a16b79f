"""Readers: the bytes of one document (a RawDocument) -> ParsedDocument (meetings, turns, segments).

    read(raw) -> ParsedDocument        # raises SourceError(one-line reason) on bad input
    reader_for(name, head) -> Reader | None
    accepted_suffixes(), formats_text()  # the one list of accepted formats (CLI, upload tab, errors)

A new format is one module with a class like the ones below, and one line in `_readers`.
"""

from __future__ import annotations

from typing import Protocol

from rag.errors import SourceError
from rag.records import ParsedDocument, RawDocument

# Bump when reading changes what turns or metadata come out of a document: `ingest` then re-reads unchanged files.
PARSER_VERSION = "6"
HEAD_BYTES = 4096


class Reader(Protocol):
    name: str  # the format's name, recorded as ParsedDocument.format
    suffixes: tuple[str, ...]  # file name endings it reads, e.g. (".html", ".htm")
    label: str  # how the upload tab names the format

    def accepts(self, name: str, head: bytes) -> bool: ...

    def check(self, name: str, head: bytes) -> str | None:
        """Why an upload of this name and first bytes is refused (in Japanese, for the UI), or None."""

    def read(self, raw: RawDocument) -> ParsedDocument: ...


_READERS: list[Reader] = []


def readers() -> list[Reader]:
    """Registered readers, in the order they are asked whether they accept a document."""
    if not _READERS:
        from rag.readers.csv_records import CsvReader
        from rag.readers.html import HtmlReader
        from rag.readers.json_records import JsonReader
        from rag.readers.pdf import PdfReader
        from rag.readers.text import TextReader

        _READERS.extend([JsonReader(), CsvReader(), HtmlReader(), PdfReader(), TextReader()])
    return _READERS


def reader_for(name: str, head: bytes) -> Reader | None:
    return next((r for r in readers() if r.accepts(name, head)), None)


def accepted_suffixes() -> list[str]:
    return [s for r in readers() for s in r.suffixes]


def formats_text() -> str:
    """".txt, .text, .html, .htm, .xhtml, .pdf or .json" — for error messages."""
    suffixes = accepted_suffixes()
    return ", ".join(suffixes[:-1]) + " or " + suffixes[-1]


def read(raw: RawDocument) -> ParsedDocument:
    """Parse one raw document. Raises SourceError with a one-line reason on bad input."""
    if not raw.data:
        raise SourceError(f"{raw.name}: empty file")
    r = reader_for(raw.name, raw.data[:HEAD_BYTES])
    if r is None:
        raise SourceError(f"{raw.name}: unsupported format (expected {formats_text()})")
    try:
        return r.read(raw)
    except SourceError:
        raise
    except Exception as e:  # a reader bug or a malformed file: report it as bad input, one line
        raise SourceError(f"{raw.name}: could not be parsed as {r.name}: {type(e).__name__}: {e}".splitlines()[0]) from e
