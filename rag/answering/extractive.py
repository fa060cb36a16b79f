"""The default answerer: quote the sentences that answer, each with its citation. No LLM, nothing invented.

Sentences of the retrieved turns are scored against the question (embedding similarity,
shared keywords, and the kind of question: a number question wants the sentence with the
number), the best few are quoted verbatim, and when the evidence is too weak the answer
says so instead of quoting something unrelated.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from rag.answering.base import NO_ANSWER_EN, NO_ANSWER_JA, citation, is_english, nfkc, to_wareki
from rag.records import Answer, Citation, Hit, SpeakerKind
from rag.store.chunking import sentence_spans
from rag.store.keyword import bigrams

# Calibrated on eval/questions.jsonl (see eval/README.md): below this, abstain.
ABSTAIN_BELOW = float(os.environ.get("RAG_ABSTAIN_BELOW", "0.84"))
MAX_SENTENCES = 3
MAX_PER_TURN = 2
EXTRA_SENTENCES = 3  # per hit, beyond the matching chunk
NEAR_BEST = 0.03  # further sentences must score within this of the best one

_NUMBER_Q = re.compile(
    r"いくら|何[人件%％割円回年月日台か箇ヶ校名社]|どの(くらい|程度|位)|どれ(くらい|だけ)|いつ|期限|時期|金額|人数|件数|割合|"
    r"how (many|much|long)|when|what year|percent|number|date|deadline",
    re.I,
)
_WHO_Q = re.compile(r"誰|だれ|どなた|どの(委員|議員|部長|課長)|\bwho\b|which (member|official)", re.I)
_HAS_NUMBER = re.compile(r"[0-9０-９]|[一二三四五六七八九十百千万億]+(?:[年月日円人件回割台校名社]|か所|箇所|%)|元年")
_QUESTION_TURN = re.compile(r"か。|ですか|ますか|ください|伺いたい|伺います|お聞き|教えて|お示し|いかが|どう")


@dataclass
class _Sentence:
    hit: Hit
    start: int
    end: int
    score: float = 0.0
    cos: float = 0.0


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, embed_sentences: Callable[[list[str]], np.ndarray],
                 neighbours: Callable[[int], list[Hit]] | None = None,
                 abstain_below: float = ABSTAIN_BELOW):
        self.embed_sentences = embed_sentences
        self.neighbours = neighbours  # turn id -> the hits of the turns just before it (same meeting)
        self.abstain_below = abstain_below

    def answer(self, question: str, hits: list[Hit], history: Sequence[str] = (),
               query_vector: np.ndarray | None = None) -> Answer:
        english = is_english(question)
        notes = ["Quotes are in the original Japanese."] if english else []
        sentences = self._score(question, hits, query_vector)
        confidence = sentences[0].score if sentences else 0.0
        if confidence < self.abstain_below:
            related = [citation(i + 1, h, h.piece_start, h.piece_end) for i, h in enumerate(hits[:3])]
            return Answer(question, NO_ANSWER_EN if english else NO_ANSWER_JA, True, [], self.name, related, notes,
                          confidence)

        best = sentences[0]
        chosen = [best]
        for s in sentences[1:]:
            if len(chosen) >= MAX_SENTENCES or s.score < best.score - NEAR_BEST:
                break
            same_turn = sum(c.hit.turn_id == s.hit.turn_id for c in chosen)
            if same_turn < MAX_PER_TURN and all(nfkc(_text(s)) != nfkc(_text(c)) for c in chosen):
                chosen.append(s)
        asked = self._question_before(best, question, query_vector)
        if asked is not None:
            chosen.append(asked)
        # in the order they were said: a question before its reply
        chosen.sort(key=lambda s: (s.hit.meeting.date or "", s.hit.meeting.id, s.hit.turn.order, s.start))
        citations = _merge(chosen)
        return Answer(question, _compose(citations, question, english), False, citations, self.name, [], notes,
                      confidence)

    # ------------------------------------------------------------------ scoring
    def _score(self, question: str, hits: list[Hit], qvec: np.ndarray | None) -> list[_Sentence]:
        q_grams = set(bigrams(question))
        cands = [c for h in hits for c in _candidates(h, q_grams)]
        if not cands:
            return []
        vecs = self.embed_sentences([_text(c) for c in cands])
        q = qvec if qvec is not None else self.embed_sentences([question])[0]
        cos = vecs @ q
        wants_number = bool(_NUMBER_Q.search(question))
        top_turn = {h.turn_id: i for i, h in enumerate(hits)}
        for c, sim in zip(cands, cos):
            text = _text(c)
            overlap = len(q_grams & set(bigrams(text))) / len(q_grams) if q_grams else 0.0
            c.cos = float(sim)
            c.score = (
                float(sim)
                + 0.10 * overlap
                + (0.02 if wants_number and _HAS_NUMBER.search(text) else 0.0)
                - 0.004 * top_turn[c.hit.turn_id]  # a little trust in the retriever's order
                - (0.03 if c.hit.turn.procedural else 0.0)
            )
        cands.sort(key=lambda c: -c.score)
        return cands

    def _question_before(self, best: _Sentence, question: str, qvec: np.ndarray | None) -> _Sentence | None:
        """When the best sentence is an official's reply, the member's question it answers."""
        if self.neighbours is None or best.hit.turn.kind not in (SpeakerKind.EXECUTIVE, SpeakerKind.SECRETARIAT):
            return None
        before = [h for h in self.neighbours(best.hit.turn_id) if h.turn.order == best.hit.turn.order - 1]
        if not before or before[0].turn.kind not in (SpeakerKind.MEMBER, SpeakerKind.CHAIR, SpeakerKind.UNKNOWN):
            return None
        prev = before[0]
        sents = [_Sentence(prev, s, e) for s, e in sentence_spans(prev.turn.text) if e - s >= 6]
        sents = [s for s in sents if _QUESTION_TURN.search(_text(s))]
        if not sents:
            return None
        vecs = self.embed_sentences([_text(s) for s in sents])
        q = qvec if qvec is not None else self.embed_sentences([question])[0]
        i = int(np.argmax(vecs @ q))
        if float(vecs[i] @ q) < best.cos - 0.05:
            return None
        sents[i].cos = sents[i].score = float(vecs[i] @ q)
        return sents[i]


def _candidates(hit: Hit, q_grams: set[str], extra: int = EXTRA_SENTENCES) -> list[_Sentence]:
    """Sentences worth embedding: those of the chunk that matched, plus the few elsewhere in the
    turn that share the most terms with the question (long answers run to dozens of sentences)."""
    spans = [(s, e) for s, e in sentence_spans(hit.turn.text) if e - s >= 6]
    inside = [(s, e) for s, e in spans if s < hit.piece_end and e > hit.piece_start]
    if hit.piece_end <= hit.piece_start:
        inside = spans
    rest = [(s, e) for s, e in spans if (s, e) not in inside]
    rest.sort(key=lambda se: -len(q_grams & set(bigrams(hit.turn.text[se[0]:se[1]]))))
    return [_Sentence(hit, s, e) for s, e in sorted(inside + rest[:extra])]


def _text(s: _Sentence) -> str:
    return s.hit.turn.text[s.start : s.end]


def _merge(chosen: list[_Sentence]) -> list[Citation]:
    """One citation per turn and quote; neighbouring sentences of one turn become one quote."""
    groups: list[list[_Sentence]] = []
    for s in chosen:
        last = groups[-1][-1] if groups else None
        if last is not None and last.hit.turn_id == s.hit.turn_id and _adjacent(last, s):
            groups[-1].append(s)
        else:
            groups.append([s])
    out: list[Citation] = []
    seen: dict[tuple[int, int, int], int] = {}
    for g in groups:
        key = (g[0].hit.turn_id, g[0].start, g[-1].end)
        if key in seen:
            continue
        seen[key] = len(out) + 1
        out.append(citation(len(out) + 1, g[0].hit, g[0].start, g[-1].end))
    return out


def _adjacent(a: _Sentence, b: _Sentence) -> bool:
    between = a.hit.turn.text[a.end : b.start]
    return 0 <= b.start - a.end and not between.strip()


def _compose(citations: list[Citation], question: str, english: bool) -> str:
    lines = []
    if _WHO_Q.search(question) and citations:
        names = "、".join(dict.fromkeys(c.speaker for c in citations))
        lines.append(f"Speaker: {names}" if english else f"発言者: {names}")
    elif english:
        lines.append("From the minutes (quoted in the original Japanese):")
    for c in citations:
        when = (c.date or "") if english else (to_wareki(c.date) if c.date else "")
        meta = ", ".join(p for p in (c.body, c.meeting, when) if p) if english else " ".join(
            p for p in (c.body, c.meeting, when) if p
        )
        lines.append(f"{c.speaker}（{meta}）：「{c.quote}」[{c.n}]" if not english
                     else f"{c.speaker} ({meta}): 「{c.quote}」 [{c.n}]")
    return "\n".join(lines)
