"""Plain-text minutes (.txt): decode, normalise newlines, rejoin page-split words, segment."""

from __future__ import annotations

from pathlib import Path

from rag.parsing.normalize import normalise_newlines, rejoin_split_words
from rag.parsing.turns import segment_text
from rag.records import ParsedDocument, sha256_bytes
from rag.sources.base import SourceError, load_sidecar
from rag.sources.encoding import decode

TEXT_SUFFIXES = {".txt", ".text", ""}


class TextReader:
    name = "text"

    def accepts(self, path: Path, head: bytes) -> bool:
        return path.suffix.lower() in TEXT_SUFFIXES

    def read(self, path: Path) -> ParsedDocument:
        data = Path(path).read_bytes()
        return parse_text_bytes(data, path, self.name)


def parse_text_bytes(data: bytes, path: Path, fmt: str = "text", meta: dict | None = None) -> ParsedDocument:
    text, enc = decode(data, path.name)
    return parse_text(text, path, fmt, sha256_bytes(data), meta if meta is not None else load_sidecar(path), encoding=enc)


def parse_text(text: str, path: Path, fmt: str, content_hash: str, meta: dict, encoding: str | None = None) -> ParsedDocument:
    text = normalise_newlines(text)
    if not text.strip():
        raise SourceError(f"{path.name}: no text (empty or whitespace only)")
    warnings: list[str] = []
    text, joined = rejoin_split_words(text)
    if joined:
        warnings.append(f"rejoined {joined} word(s) split across page breaks")
    if encoding and encoding not in ("utf-8",):
        warnings.append(f"decoded as {encoding}")
    return segment_text(text, path.name, str(path), fmt, content_hash, meta, warnings)
