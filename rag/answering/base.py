"""retrieval -> answer: one Answerer per mode behind one interface, and the citation builder they share."""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol, Sequence

from rag.language import is_english  # noqa: F401  (re-exported: answerers pick their language with it)
from rag.records import Answer, Citation, Hit

NO_ANSWER_JA = "コーパス中に、この質問に答える発言は見つかりませんでした。"
NO_ANSWER_EN = "No statement answering this question was found in the indexed minutes."


class Answerer(Protocol):
    name: str

    def answer(self, question: str, hits: list[Hit], history: Sequence[str] = ()) -> Answer: ...


def citation(n: int, hit: Hit, quote_start: int, quote_end: int) -> Citation:
    t, m = hit.turn, hit.meeting
    return Citation(
        n=n, doc=m.doc, source=t.url or m.source, body=m.body, meeting=m.name, date=m.date, agenda=t.agenda,
        speaker=t.speaker, speaker_name=t.speaker_name, speaker_role=t.speaker_role, speaker_kind=t.kind.value,
        turn=t.order, text=t.text, quote=t.text[quote_start:quote_end], quote_start=quote_start,
        quote_end=quote_end, start=t.doc_offset(quote_start), end=t.doc_offset(quote_end),
        score=round(float(hit.score), 6), turn_id=hit.turn_id, url=t.url,
    )


def standard_form(c: Citation) -> str:
    """「…」（令和6年9月18日 下関市議会 本会議 総合政策部長） — the form staff paste into drafts."""
    when = to_wareki(c.date) if c.date else ""
    role = c.speaker_role or c.speaker
    if c.speaker_name and c.speaker_name not in role:
        role = f"{role} {c.speaker_name}"
    meta = " ".join(p for p in (when, c.body, c.meeting, role) if p)
    return f"「{c.quote}」（{meta}）"


def nfkc(text: str | None) -> str:
    """NFKC with all whitespace removed: how quotes, labels and answers are compared everywhere."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


_ERAS = (("令和", "2019-05-01", 2018), ("平成", "1989-01-08", 1988), ("昭和", "1926-12-25", 1925))


def to_wareki(iso_date: str) -> str:
    """2024-09-18 -> 令和6年9月18日 (元年 for the first year)."""
    y, m, d = (int(x) for x in iso_date.split("-"))
    for era, start, offset in _ERAS:
        if iso_date >= start:
            n = y - offset
            return f"{era}{'元' if n == 1 else n}年{m}月{d}日"
    return f"{y}年{m}月{d}日"
