"""HTML pages of minutes: drop navigation/menus/footers, keep the minutes body as text lines."""

from __future__ import annotations

import re
from pathlib import PurePath

from rag.errors import SourceError
from rag.readers.encoding import decode
from rag.readers.text import TextReader, parse_text
from rag.records import ParsedDocument, RawDocument

_DROP_TAGS = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "button", "select", "iframe", "svg", "template"]
_DROP_ATTR = re.compile(
    r"(^|[\s_-])(nav|navi|gnav|global-?nav|menu|breadcrumbs?|pankuzu|topicpath|footer|header|sidebar|side|"
    r"skip|sns|share|banner|pagetop|page-top|utility|search)([\s_-]|$)",
    re.I,
)
_MAIN = ["main", "article", "#main", "#contents", "#content", "#main-contents", ".main", ".contents", "#tmp_contents", "#honbun"]
_BLOCK = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "dt", "dd", "dl",
    "pre", "section", "article", "blockquote", "hr", "main", "td", "th", "caption", "figure", "figcaption", "address",
}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)


class HtmlReader:
    name = "html"
    suffixes = (".html", ".htm", ".xhtml")
    label = "HTML（.html/.htm）"

    def accepts(self, name: str, head: bytes) -> bool:
        return PurePath(name).suffix.lower() in self.suffixes

    check = TextReader.check

    def read(self, raw: RawDocument) -> ParsedDocument:
        html = decode_html(raw.data, raw.name)
        text = html_to_text(html)
        if not text.strip():
            raise SourceError(f"{raw.name}: HTML page has no text")
        return parse_text(text, raw, self.name)


def decode_html(data: bytes, name: str) -> str:
    m = _CHARSET.search(data[:4096])
    if m:
        enc = m.group(1).decode("ascii", "replace").lower()
        enc = {"shift_jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "shift-jis": "cp932", "euc-jp": "euc_jp"}.get(enc, enc)
        try:
            return data.decode(enc)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode(data, name)[0]


def html_to_text(html: str) -> str:
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(html, "lxml")
    # the page's own headings (DB-Search's 令和６年第４回定例会（第５号） and its date sit in the page header,
    # outside the minutes body): kept as title lines, where the metadata is read
    headings = [(h, list(h.stripped_strings)) for h in soup.find_all(["h1", "h2"])
                if "visually-hidden" not in (h.get("class") or [])]
    for t in soup(_DROP_TAGS):
        t.decompose()
    for t in soup.find_all(True):
        if t.decomposed if hasattr(t, "decomposed") else False:
            continue
        attrs = getattr(t, "attrs", None)
        if not attrs:
            continue
        ident = " ".join([attrs.get("id", "") or ""] + list(attrs.get("class", []) or []))
        if ident and _DROP_ATTR.search(ident) and t.name not in ("body", "html", "main", "article"):
            t.decompose()
    root = None
    for sel in _MAIN:
        root = soup.select_one(sel)
        if root is not None and root.get_text(strip=True):
            break
        root = None
    root = root or soup.body or soup

    out: list[str] = []
    for h, strings in headings:
        if root is not soup and root not in h.parents:
            out += ["\n", *(f"{x}\n" for x in strings)]

    def walk(node) -> None:
        for ch in node.children:
            if isinstance(ch, NavigableString):
                if ch.__class__.__name__ in ("Comment", "Doctype", "ProcessingInstruction", "Declaration", "CData"):
                    continue
                out.append(re.sub(r"[ \t\r\n]+", " ", str(ch)))
            elif isinstance(ch, Tag):
                block = ch.name in _BLOCK
                if block:
                    out.append("\n")
                if ch.name == "pre":
                    out.append(ch.get_text())
                else:
                    walk(ch)
                if block:
                    out.append("\n")

    walk(root)
    text = "".join(out)
    lines = [ln.strip(" \t") for ln in text.split("\n")]
    # collapse runs of blank lines to one
    res: list[str] = []
    for ln in lines:
        if not ln and (not res or not res[-1]):
            continue
        res.append(ln)
    return "\n".join(res).strip("\n") + "\n"
