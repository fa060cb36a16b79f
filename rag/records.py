"""Typed records: the contract between pipeline stages.

sources/             ->  RawDocument (stable key, name, origin, bytes, metadata the source states)
readers/ + parsing/  ->  ParsedDocument (Meeting, Turn, Segment)
indexing/            ->  PreparedDocument (the parsed document with its chunks, tokens and vectors)
store/               ->  keeps them behind one interface (backend: local = SQLite + FAISS + BM25)
retrieval            ->  Hit (a Turn with its Meeting and scores), restricted by Filters
answering/           ->  Answer (text + Citations)
cli / app / eval     ->  Answer.to_dict() is the JSON contract of `ask --json`

Offsets (`start`, `end`, `pieces`) are character offsets into ParsedDocument.text,
the document text as the reader produced it (decoded, newlines normalised to "\\n",
PDF page furniture removed). The whole document text is stored, so any quote can be
shown in place and checked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class SpeakerKind(str, Enum):
    CHAIR = "chair"  # 議長, 委員長, 会長, 座長 ... presiding
    MEMBER = "member"  # 議員, 委員, numbered seats (１８番)
    EXECUTIVE = "executive"  # 市長, 部長, 課長, 理事者, 大臣 ... officials answering
    SECRETARIAT = "secretariat"  # 事務局
    UNKNOWN = "unknown"


class SegmentKind(str, Enum):
    FRONT_MATTER = "front_matter"  # title block, attendance lists, navigation before the minutes
    BACK_MATTER = "back_matter"  # contact details, copyright, footers after the minutes
    SPEAKER_LABEL = "speaker_label"  # the printed label that opens a turn (○議長（山田太郎君）)
    STAGE_DIRECTION = "stage_direction"  # 〔登壇〕 （拍手） 〔「異議なし」と呼ぶ者あり〕
    PROCEDURE = "procedure"  # 休憩（午前１１時３０分）, 日程第３, 閉会
    AGENDA_HEADING = "agenda_heading"  # 議題1 …, (1) …
    SEPARATOR = "separator"  # ――――, ◇, page markers
    OTHER = "other"  # anything else that is not speech (say why in `note`)


@dataclass
class Meeting:
    id: str  # stable: derived from the document's source and the meeting's position in it
    doc: str  # source file name (e.g. 003_cfdc2b6f806e86f8.txt)
    source: str  # path or URL the document came from
    body: str | None = None  # 長崎市, 下関市議会, 衆議院 ...
    name: str | None = None  # 令和5年度第3回 長崎市DX推進委員会
    date: str | None = None  # ISO YYYY-MM-DD
    agenda: list[str] = field(default_factory=list)
    place: str | None = None
    content_hash: str = ""  # sha256 of the document bytes it was parsed from


@dataclass
class Turn:
    meeting_id: str
    order: int  # 1-based position of the turn in its meeting
    speaker: str  # label exactly as printed: 総合政策部長(岸本芳郎君), 事務局
    text: str  # what was said, stage directions removed
    # Spans of ParsedDocument.text that make up `text`: text == "\n".join(doc[s:e] for s, e in pieces)
    pieces: list[tuple[int, int]]
    speaker_name: str | None = None  # 岸本芳郎
    speaker_role: str | None = None  # 総合政策部長
    speaker_group: str | None = None  # party / 会派, when given
    kind: SpeakerKind = SpeakerKind.UNKNOWN
    agenda: str | None = None  # the agenda item the turn falls under
    procedural: bool = False  # chair calling the next speaker, opening/closing formulas
    url: str | None = None  # a per-turn source URL when the source gives one (Diet API speechURL)

    @property
    def start(self) -> int:
        return self.pieces[0][0] if self.pieces else 0

    @property
    def end(self) -> int:
        return self.pieces[-1][1] if self.pieces else 0

    def doc_offset(self, i: int) -> int:
        """Map an offset in `text` to an offset in the document text."""
        pos = 0
        for s, e in self.pieces:
            if i <= pos + (e - s):
                return s + (i - pos)
            pos += (e - s) + 1  # the "\n" that joins pieces
        return self.end

    def locate(self, quote: str) -> tuple[int, int] | None:
        """Document span of the first occurrence of `quote` in this turn's text."""
        i = self.text.find(quote)
        if i < 0:
            return None
        return self.doc_offset(i), self.doc_offset(i + len(quote))


@dataclass
class Segment:
    """A stretch of the document that is not speech, kept so that nothing is lost."""

    kind: SegmentKind
    start: int
    end: int
    text: str
    meeting_id: str | None = None
    note: str | None = None


@dataclass
class ParsedDocument:
    doc: str  # file name
    source: str  # path or URL
    format: str  # text, html, pdf, diet-json
    text: str  # the parsed document text all offsets refer to
    content_hash: str
    meetings: list[Meeting]
    turns: list[Turn]
    segments: list[Segment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. "no speaker labels found: fell back to paragraphs"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for t, td in zip(self.turns, d["turns"]):
            td["start"], td["end"] = t.start, t.end
        return _plain(d)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class RawDocument:
    """A document as a source hands it over, before any reader has looked at it."""

    key: str  # stable and unique across sources: "file:/abs/path", "upload:<sha256>", "kokkai:<issueID>"
    name: str  # file name shown to users (becomes ParsedDocument.doc)
    origin: str  # path or URL shown as the source of citations
    data: bytes
    # what the source itself states about the document (a sidecar, a fetcher's listing): body, meeting, date,
    # url, place, sessions; it overrides what the reader finds in the text
    metadata: dict[str, Any] = field(default_factory=dict)
    fetched_at: str | None = None  # ISO time, for fetched documents

    def fingerprint(self, parser_version: str) -> str:
        """What decides whether a document must be read again: its bytes, its metadata, the parser version."""
        h = hashlib.sha256(parser_version.encode())
        h.update(self.data)
        if self.metadata:
            h.update(json.dumps(self.metadata, sort_keys=True, ensure_ascii=False).encode())
        return h.hexdigest()


# ---------------------------------------------------------------- retrieval units (indexing -> store)


@dataclass
class ChunkUnit:
    """A retrieval unit: a piece of one turn's text, with its keyword tokens and (once embedded) its vector."""

    key: str  # "<turn key>:c<n>"
    turn_key: str
    start: int  # offsets in the turn text
    end: int
    tokens: list[str]
    embed_text: str  # what is embedded: the chunk, prefixed with its context as the index is configured
    vector: Any = None  # numpy float32 (dimension,), set by indexing.embed


@dataclass
class SentenceUnit:
    """A sentence answers may quote, with its vector (embedded at ingest so answering embeds nothing)."""

    turn_key: str
    start: int  # offsets in the turn text
    end: int
    vector: Any = None


@dataclass
class PreparedDocument:
    """What every store backend receives: a parsed document with stable keys, chunks and sentences."""

    key: str  # RawDocument.key
    fingerprint: str
    parsed: ParsedDocument  # meeting ids already unique across the store
    turn_keys: list[str]  # parallel to parsed.turns
    chunks: list[ChunkUnit]
    sentences: list[SentenceUnit]


@dataclass(frozen=True)
class ChunkRef:
    """Where a stored chunk lies: the store's answer to a search."""

    key: str
    turn_key: str
    start: int
    end: int


@dataclass(frozen=True)
class Filters:
    """Metadata restrictions, applied before ranking (plain data: each store backend translates them)."""

    body: str | None = None  # substring of the body name
    meeting: str | None = None  # substring of the meeting name
    since: str | None = None  # ISO date, inclusive
    until: str | None = None  # ISO date, inclusive
    speaker: str | None = None  # substring of the speaker name (spaces ignored) or printed label
    kind: str | None = None  # SpeakerKind value, or a comma-separated list of them
    agenda: str | None = None  # substring of the agenda item
    doc: str | None = None  # file name

    def is_empty(self) -> bool:
        return all(v in (None, "") for v in self.__dict__.values())

    @property
    def kinds(self) -> list[str]:
        return [k.strip() for k in (self.kind or "").split(",") if k.strip()]


def _plain(obj: Any) -> Any:
    """Enums to their values, tuples to lists: JSON-ready."""
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# ---------------------------------------------------------------- answers


@dataclass
class Hit:
    """A retrieved turn, with its meeting and where the best-matching piece lies."""

    turn_key: str  # stable key of the turn in the store
    turn: Turn
    meeting: Meeting
    score: float  # fused score, higher is better
    dense_score: float | None = None
    keyword_score: float | None = None
    piece_start: int = 0  # offsets in turn.text of the best-matching chunk
    piece_end: int = 0


@dataclass
class Citation:
    n: int
    doc: str
    source: str
    body: str | None
    meeting: str | None
    date: str | None
    agenda: str | None
    speaker: str
    speaker_name: str | None
    speaker_role: str | None
    speaker_kind: str
    turn: int
    text: str  # the whole turn
    quote: str  # the cited words, an exact substring of text
    quote_start: int  # where the quote lies in the turn text
    quote_end: int
    start: int  # where the quote lies in the parsed document text
    end: int
    score: float
    turn_key: str
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    mode: str = "extractive"
    related: list[Citation] = field(default_factory=list)  # shown as "related, not an answer" when abstaining
    notes: list[str] = field(default_factory=list)  # e.g. "quotes are in the original Japanese"
    confidence: float = 0.0  # the answerer's evidence score (what abstention thresholds compare against)
    # the turns the answer was chosen from, best first: citation fields without a quote (for evaluation runs)
    retrieved: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "related": [c.to_dict() for c in self.related],
            "notes": list(self.notes),
            "confidence": round(float(self.confidence), 4),
            "retrieved": list(self.retrieved),
        }
