"""Similar questions asked before: members' past questions on a topic, each with the officials' replies.

Given the text of a new question notice (質問通告: one or several numbered items) or a topic, every item is searched
as a timeline topic is (deep dense + keyword retrieval, the same sentence scoring), and the turns kept are members'
questions (or, in minutes that do not label speakers, turns that ask) at or above QUESTION_CUT. Each question is
paired with the replies that follow it in its meeting: the officials' turns after it, up to the next member's
turn (the chair calling on speakers is skipped). Pairs are listed newest first, undated last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.answering.base import citation, standard_form
from rag.records import Citation, Filters, Hit, Meeting, SpeakerKind, Turn
from rag.timeline.core import ANSWERING, Candidate, Searcher, _asks

QUESTION_CUT = 0.88  # a question's relevance to the notice item (calibrated with the timeline's RELEVANCE_CUT)
MAX_PAIRS = 10
ASKING_NEAR = 0.03
MAX_REPLIES = 3
REPLY_LOOKAHEAD = 8
_ITEM = re.compile(r"^\s*(?:[0-9０-９]+[.．、)）]|[（(][0-9０-９一二三四五六七八九十]+[)）]|[①-⑳]|[一二三四五六七八九十]+[、.．]|[・●○■□◆◇-])\s*")


_TITLE = re.compile(r"通告|質問事項|質問要旨|一般質問|代表質問")


@dataclass
class QAPair:
    question: Candidate
    q_span: tuple[int, int]
    replies: list[tuple[str, Turn, Meeting, tuple[int, int]]] = field(default_factory=list)
    item: int = 0  # which item of the notice it matched (0: the whole notice or topic)

    @property
    def meeting(self) -> Meeting:
        return self.question.meeting

    def question_citation(self, n: int = 1) -> Citation:
        c = self.question
        return citation(n, Hit(c.key, c.turn, c.meeting, c.relevance), *self.q_span)

    def reply_citations(self, n0: int = 2) -> list[Citation]:
        return [citation(n0 + i, Hit(k, t, m, 0.0), s, e) for i, (k, t, m, (s, e)) in enumerate(self.replies)]

    def to_dict(self) -> dict[str, Any]:
        def cite(c: Citation) -> dict[str, Any]:
            d = {k: v for k, v in c.to_dict().items() if k not in ("n", "text", "score")}
            d["standard_form"] = standard_form(c)
            return d

        return {"item": self.item, "relevance": round(self.question.relevance, 4), "date": self.meeting.date,
                "question": cite(self.question_citation()), "answers": [cite(c) for c in self.reply_citations()]}


def notice_items(notice: str) -> list[str]:
    """The items of a question notice: numbered or bulleted lines (with the lines that continue them); the whole
    text when it has no items."""
    lines = [ln.strip() for ln in notice.splitlines() if ln.strip()]
    if len(lines) > 1 and not _ITEM.match(lines[0]) and _TITLE.search(lines[0]) and len(lines[0]) <= 30:
        lines = lines[1:]  # 「一般質問通告書」「質問事項」: a heading, not a question
    items: list[str] = []
    for ln in lines:
        if _ITEM.match(ln) or not items:
            items.append(_ITEM.sub("", ln))
        else:
            items[-1] += ln
    items = [i for i in items if len(i) >= 4]
    return items if len(items) > 1 else [" ".join(lines)]


def _is_question(c: Candidate) -> bool:
    if c.turn.kind == SpeakerKind.MEMBER:
        return True
    if c.turn.kind in (SpeakerKind.UNKNOWN, SpeakerKind.CHAIR):
        best = c.sentences[0] if c.sentences else None
        return best is not None and _asks(c.turn.text[best.start:best.end]) and not c.turn.procedural
    return False


def _asking_span(c: Candidate) -> tuple[int, int]:
    """The question's best sentence, or a sentence that asks scoring nearly as well (within ASKING_NEAR)."""
    if not c.sentences:
        return 0, min(len(c.turn.text), 200)
    best = c.sentences[0]
    for x in c.sentences[:6]:
        if x.score < best.score - ASKING_NEAR:
            break
        if _asks(c.turn.text[x.start:x.end]):
            return x.start, x.end
    return best.start, best.end


def _replies(store, c: Candidate, q_vec: np.ndarray | None, topic_vec: np.ndarray):
    rows = store.neighbours(c.key, 0, REPLY_LOOKAHEAD)
    out = []
    for key, turn, meeting in rows:
        if turn.order <= c.turn.order:
            continue
        if turn.kind == SpeakerKind.MEMBER or (turn.kind in (SpeakerKind.UNKNOWN, SpeakerKind.CHAIR)
                                                and _asks(turn.text[:300]) and len(turn.text) > 15):
            break  # the next question (a committee chair asks too; 「市長」 calling on a speaker does not)
        if turn.kind not in ANSWERING and turn.kind != SpeakerKind.UNKNOWN:
            continue  # the chair calling on the speaker
        out.append((key, turn, meeting))
        if len(out) >= MAX_REPLIES:
            break
    if not out:
        return []
    stored = store.sentences([k for k, _, _ in out])
    result = []
    for key, turn, meeting in out:
        sents = stored.get(key) or []
        if not sents:
            result.append((key, turn, meeting, (0, min(len(turn.text), 200))))
            continue
        vecs = np.vstack([v for _, _, v in sents])
        score = vecs @ topic_vec + (vecs @ q_vec if q_vec is not None else 0.0)
        i = int(np.argmax(score))
        result.append((key, turn, meeting, (sents[i][0], sents[i][1])))
    return result


def similar_questions(searcher: Searcher, notice: str, filters: Filters | None = None, *, depth: int = 200,
                      cut: float = QUESTION_CUT, limit: int = MAX_PAIRS,
                      candidates: list[Candidate] | None = None, query_vector: np.ndarray | None = None
                      ) -> list[QAPair]:
    """Members' past questions on the notice's items with the replies they got, newest first.

    `candidates`/`query_vector`: a timeline's own candidates for the same text (spares searching it again)."""
    items = notice_items(notice)
    found: dict[str, tuple[Candidate, int, np.ndarray]] = {}
    searches = [(0, notice, candidates, query_vector)] if candidates is not None else []
    if candidates is None or len(items) > 1:
        searches += [(i + 1 if len(items) > 1 else 0, item, None, None) for i, item in enumerate(items)]
    for n, text, cands, qvec in searches:
        if cands is None:
            cands, qvec, _ = searcher.candidates(text, filters, depth)
        for c in cands:
            if c.relevance < cut or not _is_question(c):
                continue
            if c.key not in found or c.relevance > found[c.key][0].relevance:
                found[c.key] = (c, n, qvec)
    pairs = []
    for c, n, qvec in found.values():
        span = _asking_span(c)
        q_vec = c.vectors.get(span)
        pairs.append(QAPair(c, span, _replies(searcher.store, c, q_vec, qvec), n))
    pairs = [p for p in pairs if p.replies] + [p for p in pairs if not p.replies]
    pairs.sort(key=lambda p: (p.meeting.date is None, _neg_date(p.meeting.date), -p.question.relevance))
    answered = [p for p in pairs if p.replies]
    return (answered or pairs)[:limit]


def _neg_date(date: str | None) -> str:
    """Sort key for newest first: the date with every digit complemented."""
    return "".join(chr(ord("9") - ord(ch) + ord("0")) if ch.isdigit() else ch for ch in (date or ""))
