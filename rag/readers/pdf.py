"""PDF with a text layer: text in reading order, page furniture removed, split words rejoined."""

from __future__ import annotations

import re
from collections import Counter
import io
from pathlib import PurePath

from rag.errors import SourceError
from rag.parsing import labels as L
from rag.readers.text import parse_text
from rag.records import ParsedDocument, RawDocument

_PAGE_NO = re.compile(r"^[-－―‐ー（(]?\s*[pPｐＰ]?\.?\s*[0-9０-９]{1,4}\s*[-－―‐ー）)]?$|^[0-9０-９]{1,4}\s*[/／]\s*[0-9０-９]{1,4}$|^第?\s*[0-9０-９]{1,4}\s*(頁|ページ)$")
_TERMINAL = set("。．！？!?」』）)〕】］]>＞～〜:：")
_DIGITS = re.compile(r"[0-9０-９]+")
_MARGIN = 0.09  # top/bottom fraction of the page treated as header/footer zone
_PRINT_URL = re.compile(r"https?://|www\.|\.pdf\b|印刷日時|出力日時", re.I)


class PdfReader:
    name = "pdf"
    suffixes = (".pdf",)
    label = "PDF（.pdf、テキスト層のあるもの）"

    def accepts(self, name: str, head: bytes) -> bool:
        return PurePath(name).suffix.lower() == ".pdf" or head.startswith(b"%PDF-")

    def check(self, name: str, head: bytes) -> str | None:
        return None if head.startswith(b"%PDF") else "PDF ではありません（拡張子と中身が一致しません）"

    def read(self, raw: RawDocument) -> ParsedDocument:
        if not raw.data.startswith(b"%PDF-"):
            raise SourceError(f"{raw.name}: not a PDF (no %PDF- header)")
        text, warnings = pdf_to_text(raw.data, raw.name)
        if not text.strip():
            raise SourceError(f"{raw.name}: PDF has no text layer (scanned image?); OCR is not supported")
        doc = parse_text(text, raw, self.name)
        doc.warnings[:0] = warnings
        return doc


def _page_lines(page) -> list[dict]:
    try:
        lines = page.extract_text_lines(layout=False, strip=True, return_chars=False)
    except TypeError:  # older pdfplumber
        lines = page.extract_text_lines()
    return [ln for ln in lines if ln.get("text", "").strip()]


def pdf_to_text(data: bytes, name: str) -> tuple[str, list[str]]:
    import pdfplumber

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except Exception as e:
        raise SourceError(f"{name}: broken PDF: {type(e).__name__}: {e}".splitlines()[0]) from e
    with pdf:
        pages = []
        for page in pdf.pages:
            lines = _page_lines(page)
            lines.sort(key=lambda ln: (round(ln["top"] / 3), ln["x0"]))
            pages.append((float(page.height), float(page.width), lines))
    # Page furniture: page numbers, print URLs, and running headers/footers: the first or last lines of a page,
    # in its margin, repeated (digits ignored) on at least a third of the pages. Speech is never furniture: a
    # line with a speaker mark or a sentence end stays, however often a chair says 「１８番。」.
    rep: Counter[str] = Counter()
    for h, w, lines in pages:
        rep.update({_DIGITS.sub("#", ln["text"].strip()) for ln in _edge_lines(lines, h)})
    needed = max(2, -(-len(pages) // 3))
    removed = 0
    titles_kept: set[str] = set()  # a running header's first printing stays: it is the title of the minutes
    page_texts: list[list[tuple[str, float, float]]] = []
    for h, w, lines in pages:
        edge = {id(ln) for ln in _edge_lines(lines, h)}
        kept = []
        for ln in lines:
            t = ln["text"].strip()
            furniture = id(ln) in edge and (
                _PAGE_NO.match(t) or _PRINT_URL.search(t)
                or (len(pages) > 1 and rep[_DIGITS.sub("#", t)] >= needed and not _is_speech(t)))
            key = _DIGITS.sub("#", t)
            if furniture and not _PAGE_NO.match(t) and not _PRINT_URL.search(t) and key not in titles_kept \
                    and ln["top"] < h * _MARGIN:
                titles_kept.add(key)
                furniture = False
            if furniture:
                removed += 1
                continue
            kept.append((t, float(ln["x0"]), float(ln["x1"])))
        page_texts.append(kept)
    # right edge of full lines (to tell a wrapped line from the end of a paragraph)
    # (the 90th percentile, so that one long line, a table or a URL, does not set the margin for all)
    edges = sorted(x1 for p in page_texts for _, _, x1 in p)
    right = edges[int(0.9 * (len(edges) - 1))] if edges else 0.0
    out: list[str] = []
    joined = 0
    prev_full = False
    for p in page_texts:
        for li, (t, x0, x1) in enumerate(p):
            if out and _continues(out[-1], t, prev_full):
                out[-1] = out[-1] + t
                if li == 0:
                    joined += 1
            else:
                out.append(t)
            prev_full = x1 >= right - 14  # within about one character of the right margin
    warnings = []
    if removed:
        warnings.append(f"removed {removed} header/footer/page-number line(s)")
    if joined:
        warnings.append(f"joined {joined} line(s) across page breaks")
    return "\n".join(out) + "\n", warnings




def _edge_lines(lines: list[dict], height: float) -> list[dict]:
    """The first two and last two lines of a page, when they lie in its top or bottom margin."""
    edge = lines[:2] + lines[-2:]
    return [ln for ln in edge if ln["top"] < height * _MARGIN or ln["bottom"] > height * (1 - _MARGIN)]


def _is_speech(text: str) -> bool:
    return text[:1] in L.MARKERS or text.rstrip()[-1:] in "。」" or bool(L.match_marker_label(text))


def _continues(prev: str, nxt: str, prev_full: bool) -> bool:
    """Is `nxt` the continuation of the wrapped line `prev`?"""
    if not prev_full or not prev or prev[-1] in _TERMINAL:
        return False
    if nxt[:1] in L.MARKERS or L.match_marker_label(nxt) or L.match_alone_label(nxt) or L.match_colon_label(nxt):
        return False
    if L.match_marker_label(prev) and len(prev) < 30:
        return False
    return True
