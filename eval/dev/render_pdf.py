"""Render published minutes text into A4 PDFs with a text layer (dev corpus, corpus/dev/other/*.pdf).

The minutes below were published as PDF, but only their *text* could be had from public repositories
(the search tool cannot return PDF bytes). This script lays that exact text out again as a PDF, the way
real minutes PDFs look: A4 pages, a CID Japanese font (HeiseiMin-W3, no font file needed), the meeting
title repeated as a page header and a ``- N -`` page number footer on every page. Nothing in the text is
changed: each source line is drawn as is (leading spaces kept), long lines wrap at the right margin.

Two source layouts (files under eval/dev/pdf_text/, provenance in corpus/dev/other/SOURCES.md):

* ``pages``: pypdf output of takk-o/pdf_transcription (``【page:N】 ---`` before and ``-------------``
  after each page's text, both added by that extraction script). Every source page starts a new PDF
  page, so the published page breaks are kept; a page that overflows continues on the next sheet.
* ``flow``: National Diet minutes (国会会議録), the speeches of one meeting in ``speechOrder`` joined by
  ``\\n`` exactly as the API's ``speech`` fields hold them; pages break where the sheet is full.

Re-run (deterministic output, ``invariant=True``)::

    .venv/bin/python eval/dev/render_pdf.py            # all documents
    .venv/bin/python eval/dev/render_pdf.py --check    # also extract the text back and compare
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

ROOT = Path(__file__).resolve().parents[2]
SRC_DIR = ROOT / "eval" / "dev" / "pdf_text"
OUT_DIR = ROOT / "corpus" / "dev" / "other"

FONT = "HeiseiMin-W3"
BODY_SIZE = 10.5
LEADING = 16.0
HEADER_SIZE = 9.0
MARGIN_X = 56.0  # ~20 mm
TOP = 60.0  # distance of the header baseline from the top edge
BODY_TOP = 90.0  # first body baseline, from the top edge
BOTTOM = 70.0  # lowest body baseline, from the bottom edge

Layout = Literal["pages", "flow"]
_PAGE_MARK = re.compile(r"【page:(\d+)】 ---\n")
_PAGE_END = "\n-------------\n"


@dataclass(frozen=True)
class Doc:
    """One document to render: its source text, the PDF to write and the header on every page."""

    source: str
    output: str
    header: str
    layout: Layout


DOCS: tuple[Doc, ...] = (
    Doc("digital-shakai-suishin-kaigi_20230606.txt", "digital-shakai-suishin-kaigi_20230606.pdf",
        "第４回デジタル社会推進会議　議事録", "pages"),
    Doc("sangiin_19471114.txt", "sangiin_19471114.pdf",
        "第1回国会　参議院　労働委員会請願及び陳情に関する小委員会　第1号　1947-11-14", "flow"),
    Doc("sangiin_20231206.txt", "sangiin_20231206.pdf",
        "第212回国会　参議院　本会議　第9号　2023-12-06", "flow"),
    Doc("shugiin_20231101.txt", "shugiin_20231101.pdf",
        "第212回国会　衆議院　文部科学委員会　第1号　2023-11-01", "flow"),
    Doc("shohisha-kyoiku-suishin-kaigi_20190726.txt", "shohisha-kyoiku-suishin-kaigi_20190726.pdf",
        "第25回消費者教育推進会議　議事録", "pages"),
)


def split_pages(text: str, layout: Layout) -> list[str]:
    """Return the text of each source page (one element for ``flow`` sources)."""
    if layout == "flow":
        return [text]
    parts = _PAGE_MARK.split(text)
    if parts[0] != "":
        raise ValueError("pages source must start with a 【page:N】 marker")
    pages: list[str] = []
    for number, body in zip(parts[1::2], parts[2::2]):
        if not body.endswith(_PAGE_END):
            raise ValueError(f"page {number} lacks the closing separator")
        pages.append(body[: -len(_PAGE_END)])
    return pages


def wrap(line: str, width: float) -> list[str]:
    """Break one source line into pieces no wider than ``width`` points (character-wise, CJK style)."""
    pieces: list[str] = []
    current = ""
    for ch in line:
        if current and pdfmetrics.stringWidth(current + ch, FONT, BODY_SIZE) > width:
            pieces.append(current)
            current = ch
        else:
            current += ch
    pieces.append(current)
    return pieces


def render(doc: Doc, src_dir: Path = SRC_DIR, out_dir: Path = OUT_DIR) -> Path:
    """Lay out ``doc`` and write its PDF; returns the output path."""
    text = (src_dir / doc.source).read_text(encoding="utf-8")
    page_w, page_h = A4
    width = page_w - 2 * MARGIN_X
    out = out_dir / doc.output
    canvas = Canvas(str(out), pagesize=A4, invariant=True)
    canvas.setTitle(doc.header)
    state = {"page": 0, "y": 0.0}

    def new_page() -> None:
        if state["page"]:
            canvas.showPage()
        state["page"] += 1
        canvas.setFont(FONT, HEADER_SIZE)
        canvas.drawCentredString(page_w / 2, page_h - TOP, doc.header)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN_X, page_h - TOP - 6, page_w - MARGIN_X, page_h - TOP - 6)
        canvas.drawCentredString(page_w / 2, 40, f"- {state['page']} -")
        canvas.setFont(FONT, BODY_SIZE)
        state["y"] = page_h - BODY_TOP

    for source_page in split_pages(text, doc.layout):
        new_page()
        for line in source_page.split("\n"):
            for piece in wrap(line, width):
                if state["y"] < BOTTOM:
                    new_page()
                canvas.drawString(MARGIN_X, state["y"], piece)
                state["y"] -= LEADING
    canvas.showPage()
    canvas.save()
    return out


# The CID font has no ToUnicode map, so extractors map some JIS code points back to a different
# Unicode character than the one drawn (as in many real Japanese PDFs). Drawn -> extracted:
CID_ROUND_TRIP = {"～": "〜", "－": "−", "—": "\u0336"}


def check(doc: Doc, src_dir: Path = SRC_DIR, out_dir: Path = OUT_DIR) -> bool:
    """Extract the PDF's text layer (pdfplumber) and compare it with the source text.

    Whitespace is ignored, the header and ``- N -`` footers are removed from the extracted text, and the
    source is passed through ``CID_ROUND_TRIP`` first; anything else that differs makes the check fail.
    """
    import pdfplumber  # runtime dependency of the project

    strip = re.compile(r"\s+")
    header = strip.sub("", doc.header.translate(str.maketrans(CID_ROUND_TRIP)))
    body_lines: list[str] = []
    with pdfplumber.open(out_dir / doc.output) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            lines = (page.extract_text() or "").split("\n")
            if lines and strip.sub("", lines[0]) == header:
                lines = lines[1:]  # the repeated page header
            if lines and strip.sub("", lines[-1]) == f"-{number}-":
                lines = lines[:-1]  # the page number footer
            body_lines.extend(lines)
    want = "".join(split_pages((src_dir / doc.source).read_text(encoding="utf-8"), doc.layout))
    want = want.translate(str.maketrans(CID_ROUND_TRIP))
    return strip.sub("", "".join(body_lines)) == strip.sub("", want)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare each PDF's text layer with its source")
    args = parser.parse_args(argv)
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    ok = True
    for doc in DOCS:
        if not (SRC_DIR / doc.source).exists():
            print(f"skip {doc.source}: source text not present", file=sys.stderr)
            continue
        out = render(doc)
        line = f"{out.relative_to(ROOT)}  {out.stat().st_size} bytes"
        if args.check:
            same = check(doc)
            ok &= same
            line += "  text layer matches" if same else "  TEXT LAYER DIFFERS"
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
