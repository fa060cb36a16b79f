"""答弁の経過: every statement on a topic across meetings, in date order, with the changes between them.

    from rag.timeline import build_timeline
    tl = build_timeline(pipeline, "システム標準化", Filters(body="長崎市"), notice=None)
    tl.to_dict()          # the JSON shape below (`python -m rag timeline … --json`)
    tl.to_markdown()      # the 答弁経過 brief (`--md`; rag.timeline.brief)

How (rag.timeline.core): the topic (a phrase or a whole question) is searched deep — DEPTH (200) chunks by
embedding similarity and 200 by BM25, filters applied before ranking — and every turn found is scored: its best
sentence against the topic (the extractive answerer's sentence scoring) plus the share of the topic's words in
it (each word weighted by its rarity across the index), less a penalty for a turn that holds only the topic's
common words (条例, 改正), names it once in a long speech, or lists the meeting's business (議事日程, 諸般の報告).
Turns at or above a relevance cut calibrated on
eval/timeline/ are kept, and with the clearest of them the other side of their exchange (the question a reply
answers, the replies to a question) when it is on the topic at all, as follow-ups that never name it often are;
near-duplicates (the same words in two documents) are folded into the first; entries are grouped by meeting in
date order, undated meetings last. Each entry quotes its key sentences (exact substrings of the turn), names the
member's question a reply answers (the nearest member's turn before it, past the chair and other officials), and
lists the turns around it.
Changes between statements are found by rules (rag.timeline.changes); similar past questions with their replies
by rag.timeline.similar.

JSON shape (`timeline --json`; all offsets are characters, `quote_*` in the turn text, `start`/`end` in the parsed
document text, as in `ask --json`):

    {
      "topic": str, "notice": str | null,
      "filters": {"body"?, "meeting"?, "since"?, "until"?, "speaker"?, "kind"?, "agenda"?},
      "relevance_cut": float,
      "counts": {"candidates": int, "entries": int, "folded": int, "meetings": int, "undated_entries": int},
      "notes": [str],                       # e.g. that undated meetings are listed last
      "meetings": [{"meeting_id", "body", "meeting", "date" (ISO | null), "doc", "source",
                    "entries": [entry id]}],             # date order, undated last
      "entries": [{                                      # the same order, grouped by meeting
          "id": "e1", "turn_key", "doc", "source", "body", "meeting", "date", "agenda",
          "speaker" (label as printed), "speaker_name", "speaker_role", "speaker_kind", "turn" (order in the
          meeting), "url", "relevance",
          "quotes": [{"quote", "quote_start", "quote_end", "start", "end", "standard_form"}],
          "question_turn": null | {"turn_key", "speaker", "speaker_kind", "turn", "quote", "quote_start",
                                   "quote_end", "standard_form"},   # the member's question a reply answers
          "neighbours": [{"turn_key", "turn", "speaker"}],         # the turns around it (same meeting)
          "folded": [{"turn_key", "doc", "body", "meeting", "date", "speaker", "turn"}],  # near-duplicates
          "changes": [change id],
          "exchange_of": null | turn_key}],   # kept as the exchange partner of that entry, not by the cut
      "changes": [{"id": "c1", "kind": "figure" | "stance" | "reference", "label", "thing", "summary", "note",
                   "before": side | null, "after": side, "reply": side | null}],
           # figure/stance: before = the earlier statement, after = the later one (both always present);
           # reference: after = the statement referring to an earlier answer, before = that earlier answer when
           # the index holds it (else null, said in "note"), reply = the answer the referring question received
           # side = {"entry", "turn_key", "doc", "source", "body", "meeting", "date", "speaker", "speaker_kind",
           #         "turn", "quote", "quote_start", "quote_end", "start", "end", "standard_form", "value"?}
      "similar_questions": [{"item", "relevance", "date",
                             "question": citation, "answers": [citation]}],  # newest first
           # citation = the fields of `ask --json` citations without n/text/score, plus "standard_form"
      "timings_ms": {stage: float}
    }
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rag.errors import BadQuestion
from rag.records import Filters, Meeting
from rag.timeline.changes import Change, detect_changes
from rag.timeline.core import DEPTH, RELEVANCE_CUT, Entry, Searcher, build_entries, entry_dict
from rag.timeline.similar import QAPair, similar_questions

__all__ = ["Timeline", "build_timeline", "RELEVANCE_CUT", "DEPTH"]

MAX_TOPIC_CHARS = 2000
UNDATED_NOTE = "日付の分からない会議の発言は、最後にまとめています。"


@dataclass
class Timeline:
    topic: str
    filters: Filters | None
    cut: float
    entries: list[Entry]
    changes: list[Change]
    similar: list[QAPair]
    candidates: int
    notice: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def groups(self) -> list[tuple[Meeting, list[Entry]]]:
        out: list[tuple[Meeting, list[Entry]]] = []
        for e in self.entries:
            if out and out[-1][0].id == e.meeting.id:
                out[-1][1].append(e)
            else:
                out.append((e.meeting, [e]))
        return out

    @property
    def notes(self) -> list[str]:
        notes = []
        if any(e.meeting.date is None for e in self.entries):
            notes.append(UNDATED_NOTE)
        if not self.entries:
            notes.append("この話題についての発言は見つかりませんでした。言い換えるか、絞り込みを外してみてください。")
        return notes

    def to_dict(self) -> dict[str, Any]:
        groups = self.groups()
        return {
            "topic": self.topic, "notice": self.notice,
            "filters": {k: v for k, v in (self.filters.__dict__ if self.filters else {}).items() if v},
            "relevance_cut": self.cut,
            "counts": {"candidates": self.candidates, "entries": len(self.entries),
                       "folded": sum(len(e.folded) for e in self.entries), "meetings": len(groups),
                       "undated_entries": sum(e.meeting.date is None for e in self.entries)},
            "notes": self.notes,
            "meetings": [{"meeting_id": m.id, "body": m.body, "meeting": m.name, "date": m.date, "doc": m.doc,
                          "source": m.source, "entries": [e.id for e in es]} for m, es in groups],
            "entries": [entry_dict(e) for e in self.entries],
            "changes": [c.to_dict() for c in self.changes],
            "similar_questions": [p.to_dict() for p in self.similar],
            "timings_ms": {k: round(v, 1) for k, v in self.timings.items()},
        }

    def to_markdown(self, chart: str | None = None) -> str:
        from rag.timeline.brief import brief_markdown

        return brief_markdown(self.to_dict(), chart)


def build_timeline(pipe, topic: str, filters: Filters | None = None, *, notice: str | None = None,
                   cut: float | None = None, depth: int = DEPTH, query_vector=None, changes: bool = True,
                   similar: bool = True) -> Timeline:
    """The timeline of `topic` over the pipeline's index. `notice`: the text of a question notice whose items are
    searched for similar past questions (the topic's own questions are used when there is none)."""
    started = time.perf_counter()
    topic = (topic or "").strip()
    if not topic and notice and notice.strip():  # a notice alone: its items are the topic
        from rag.timeline.similar import notice_items

        topic = " ".join(notice_items(notice))[:300]
    if not topic:
        raise BadQuestion("the topic is empty")
    if len(topic) > MAX_TOPIC_CHARS:
        raise BadQuestion(f"the topic is too long ({len(topic)} characters; at most {MAX_TOPIC_CHARS})")
    if filters is not None and filters.is_empty():
        filters = None
    cut = RELEVANCE_CUT if cut is None else cut
    timings: dict[str, float] = {}
    searcher = Searcher(pipe.store, pipe.embedder.embed_query)
    entries, cands, qvec, terms = build_entries(searcher, topic, filters, cut, depth, query_vector, timings)
    t = time.perf_counter()
    found: list[Change] = []
    if changes:
        from rag.timeline.changes import _content_nouns

        found = detect_changes(entries, _content_nouns(topic))
        for c in found:
            for side in c.sides():
                if c.id not in side.entry.changes:
                    side.entry.changes.append(c.id)
    timings["changes"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    pairs: list[QAPair] = []
    if similar:
        if notice and notice.strip():
            pairs = similar_questions(searcher, notice.strip(), filters, depth=depth)
        else:
            pairs = similar_questions(searcher, topic, filters, depth=depth, candidates=cands, query_vector=qvec)
    timings["similar"] = (time.perf_counter() - t) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    return Timeline(topic, filters, cut, entries, found, pairs, len(cands), notice, timings)
