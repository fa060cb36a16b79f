"""Decode bytes of Japanese text: BOM, UTF-8, then CP932 / EUC-JP (charset-normalizer as arbiter)."""

from __future__ import annotations

import codecs
import re

from rag.errors import SourceError

_BOMS = [
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
_JA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\u3000-\u303f\uff01-\uff5e]")
_KANA = re.compile(r"[\u3040-\u30ff]")


def looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if any(head.startswith(b) for b, _ in _BOMS):
        return False
    if b"\x00" in head:
        return True
    ctrl = sum(1 for c in head if c < 9 or 13 < c < 32 and c != 27)
    return ctrl > max(8, len(head) // 50)


def _score(text: str) -> float:
    """How Japanese-looking a decoded text is (kana are the strongest evidence)."""
    if not text:
        return 0.0
    n = len(text)
    bad = text.count("\ufffd") + sum(1 for c in text if "\ue000" <= c <= "\uf8ff")
    return (len(_JA.findall(text)) + 2 * len(_KANA.findall(text)) - 20 * bad) / n


def decode(data: bytes, name: str = "") -> tuple[str, str]:
    """Return (text, encoding). Raises SourceError if the bytes are not text."""
    if not data:
        raise SourceError(f"{name}: empty file")
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as e:
                raise SourceError(f"{name}: undecodable bytes after a {enc} byte-order mark at {e.start}") from e
    if looks_binary(data):
        raise SourceError(f"{name}: binary file, not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates = []
    for enc in ("cp932", "euc_jp", "iso2022_jp"):
        try:
            candidates.append((_score(data.decode(enc)), enc))
        except UnicodeDecodeError:
            continue
    if candidates:
        candidates.sort(reverse=True)
        best_score, enc = candidates[0]
        if best_score > 0.15:
            return data.decode(enc), enc
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
    except Exception:  # pragma: no cover - library failure
        best = None
    if best is not None and best.encoding:
        text = str(best)
        ascii_ok = sum(1 for c in text if c.isascii() and (c.isprintable() or c in "\r\n\t")) >= 0.95 * max(1, len(text))
        if (_score(text) > 0.15 or ascii_ok) and "\ufffd" not in text:
            return text, best.encoding
    raise SourceError(f"{name}: undecodable bytes (not UTF-8, Shift_JIS/CP932 or EUC-JP)")
