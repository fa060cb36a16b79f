"""Text clean-up shared by the text-like readers (plain text, HTML, PDF)."""

from __future__ import annotations

import re

from rag.parsing import labels as L

_TERMINAL = set("。．.！!？?」』）)〕】］]>＞～〜:：、,，…")
_NO_JOIN_START = set(L.MARKERS) | set("・【〔［[(（<＜～〜-－―─※◇◆■●□")
_HEADINGISH = re.compile(r"^([0-9０-９]+[\s\u3000.．]|[(（][0-9０-９]+[)）]|議題|日程第|[アイウエオカキクケコ][\s\u3000])")


def normalise_newlines(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\ufeff", "").replace("\u2028", "\n").replace("\x0c", "\n")


def _is_word_char(c: str) -> bool:
    return c.isalnum() or "\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" or c in "ー々〆"


def _is_label_line(line: str) -> bool:
    return bool(L.match_marker_label(line) or L.match_alone_label(line) or L.match_colon_label(line))


def rejoin_split_words(text: str) -> tuple[str, int]:
    """Join a word that a PDF page break split across blank lines (``…実施したア`` / ``ンケートでは…``).

    Conservative: only after the first speaker label, only when the first line is long (≥ 20
    characters) and stops mid-word (no closing punctuation), the next paragraph is not a label,
    heading or marker line, and that paragraph ends a sentence.
    """
    lines = text.split("\n")
    seen_label = False
    out: list[str] = []
    joined = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if not seen_label and _is_label_line(line):
            seen_label = True
        a = line.rstrip(" \u3000\t")
        if seen_label and len(a.strip()) >= 20 and _is_word_char(a[-1]) and not _is_label_line(a) and not _HEADINGISH.match(a.strip()):
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j > i + 1 and j < len(lines):
                b = lines[j]
                bs = b.strip(" \u3000\t")
                if (
                    len(bs) >= 10
                    and b[:1] not in " \u3000\t"
                    and bs[0] not in _NO_JOIN_START
                    and _is_word_char(bs[0])
                    and bs[-1] in "。！？!?」"
                    and not _HEADINGISH.match(bs)
                    and not _is_label_line(b)
                ):
                    lines[j] = a + b
                    joined += 1
                    i = j
                    continue
        out.append(line)
        i += 1
    return "\n".join(out), joined
