"""retrieval -> answer: one Answerer per mode behind one interface, and the citation builder they share."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Iterator, Protocol, Sequence

from rag.language import is_english  # noqa: F401  (re-exported: answerers pick their language with it)
from rag.records import Answer, Citation, Hit

if TYPE_CHECKING:
    import numpy as np

NO_ANSWER_JA = "コーパス中に、この質問に答える発言は見つかりませんでした。"
NO_ANSWER_EN = "No statement answering this question was found in the indexed minutes."


# A follow-up that leans on the previous question ("その費用は？", "what about Sendai?")
_FOLLOW_UP = re.compile(r"^(その|それ|この|これ|あの|同じ|では|じゃあ|また|and |what about|how about)|[はも][？?]?$", re.I)
FOLLOW_UP_MAX_CHARS = 12  # a question this short leans on the previous one too


class Answerer(Protocol):
    """What the pipeline calls, in every answer mode (rag.answering.MODES builds one per mode)."""

    name: str  # the mode as shown in Answer.mode and notes ("extractive", "gguf:<model>" ...)
    streams: bool  # answer_stream yields text deltas before the final Answer
    condenses: bool  # condense() asks a model to rewrite follow-ups (False: join_follow_up)

    def answer(self, question: str, hits: list[Hit], history: Sequence[str] = (), *,
               query_vector: np.ndarray | None = None, standalone: str | None = None) -> Answer:
        """``query_vector``: the embedded search query (spares embedding it again); ``standalone``: the search
        query condense() made of a follow-up."""

    def answer_stream(self, question: str, hits: list[Hit], history: Sequence[str] = (), *,
                      query_vector: np.ndarray | None = None,
                      standalone: str | None = None) -> Iterator[str | Answer]:
        """Text deltas (only when ``streams``), then exactly one Answer, always last."""

    def condense(self, question: str, history: Sequence[str]) -> str:
        """The query to search for: the question itself, or a follow-up made standalone."""

    def close(self) -> None:
        """Release what the answerer holds (an embedded model server)."""


def join_follow_up(question: str, history: Sequence[str]) -> str:
    """A follow-up (short, or leaning on the previous question) is searched with the previous question's terms."""
    if history and (len(question) <= FOLLOW_UP_MAX_CHARS or _FOLLOW_UP.search(question.strip())):
        return f"{history[-1]} {question}"
    return question


# the Diet minutes API's terms ask that its source be shown wherever text from it is shown
ATTRIBUTION = "出典: 国会会議録検索システム（国立国会図書館 https://kokkai.ndl.go.jp/ ）"
_ISSUE_FILE = re.compile(r"[0-9A-Za-z]{21}\.json")


def is_kokkai(citation: object) -> bool:
    """Whether a citation (Citation or its dict) quotes minutes fetched from the Diet's minutes API."""
    get = citation.get if isinstance(citation, dict) else (lambda k: getattr(citation, k, None))
    links = " ".join(str(get(k) or "") for k in ("url", "source"))
    return "kokkai.ndl.go.jp/" in links or bool(_ISSUE_FILE.fullmatch(str(get("doc") or "")))


def attribution_note(citations) -> str | None:
    """出典: 国会会議録検索システム when any of the citations quotes fetched Diet minutes (the API's terms ask
    that the source be shown wherever its text is shown), else None."""
    return ATTRIBUTION if any(is_kokkai(c) for c in citations or []) else None


def retrieved_entry(rank: int, hit: Hit) -> dict:
    """A retrieved turn as `ask --json` lists it: the citation fields, without a quote."""
    t, m = hit.turn, hit.meeting
    return {"rank": rank, "doc": m.doc, "source": t.url or m.source, "body": m.body, "meeting": m.name,
            "date": m.date, "agenda": t.agenda, "speaker": t.speaker, "speaker_name": t.speaker_name,
            "speaker_role": t.speaker_role, "speaker_kind": t.kind.value, "turn": t.order, "text": t.text,
            "score": round(float(hit.score), 6), "turn_key": hit.turn_key, "url": t.url}


def citation(n: int, hit: Hit, quote_start: int, quote_end: int) -> Citation:
    t, m = hit.turn, hit.meeting
    return Citation(
        n=n, doc=m.doc, source=t.url or m.source, body=m.body, meeting=m.name, date=m.date, agenda=t.agenda,
        speaker=t.speaker, speaker_name=t.speaker_name, speaker_role=t.speaker_role, speaker_kind=t.kind.value,
        turn=t.order, text=t.text, quote=t.text[quote_start:quote_end], quote_start=quote_start,
        quote_end=quote_end, start=t.doc_offset(quote_start), end=t.doc_offset(quote_end),
        score=round(float(hit.score), 6), turn_key=hit.turn_key, url=t.url,
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
