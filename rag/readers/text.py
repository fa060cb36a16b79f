"""Plain-text minutes (.txt): decode, normalise newlines, rejoin page-split words, segment."""

from __future__ import annotations

from pathlib import PurePath

from rag.errors import SourceError
from rag.parsing.normalize import normalise_newlines, rejoin_split_words
from rag.parsing.turns import segment_text
from rag.readers.encoding import decode
from rag.records import ParsedDocument, RawDocument, sha256_bytes


class TextReader:
    name = "text"
    suffixes = (".txt", ".text")
    label = "テキスト（.txt、UTF-8/Shift_JIS/EUC-JP）"

    def accepts(self, name: str, head: bytes) -> bool:
        suffix = PurePath(name).suffix.lower()
        return suffix in self.suffixes or suffix == ""

    def check(self, name: str, head: bytes) -> str | None:
        if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "テキストではありません（バイナリファイルのようです）"
        return None

    def read(self, raw: RawDocument) -> ParsedDocument:
        text, enc = decode(raw.data, raw.name)
        return parse_text(text, raw, self.name, encoding=enc)


def parse_text(text: str, raw: RawDocument, fmt: str, encoding: str | None = None) -> ParsedDocument:
    """Segment decoded text into meetings and turns; `raw` gives the name, origin, bytes and metadata."""
    text = normalise_newlines(text)
    if not text.strip():
        raise SourceError(f"{raw.name}: no text (empty or whitespace only)")
    warnings: list[str] = []
    text, joined = rejoin_split_words(text)
    if joined:
        warnings.append(f"rejoined {joined} word(s) split across page breaks")
    if encoding and encoding not in ("utf-8",):
        warnings.append(f"decoded as {encoding}")
    return segment_text(text, raw.name, raw.origin, fmt, sha256_bytes(raw.data), raw.metadata, warnings)
