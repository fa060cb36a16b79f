"""ParsedDocument -> PreparedDocument: stable keys, chunks with keyword tokens, sentences; then their vectors."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from rag.indexing.chunking import MIN_SENTENCE_CHARS, chunk_spans, embedding_text, sentence_spans
from rag.indexing.tokens import tokenize
from rag.records import ChunkUnit, ParsedDocument, PreparedDocument, SentenceUnit


def prepare(key: str, fingerprint: str, parsed: ParsedDocument, tokenizer: str, context: str) -> PreparedDocument:
    """Keys, chunks and sentences of a document (vectors still empty: see `embed`)."""
    parsed = _scoped_meeting_ids(key, parsed)
    meetings = {m.id: m for m in parsed.meetings}
    turn_keys = [f"{t.meeting_id}:{t.order}" for t in parsed.turns]
    chunks: list[ChunkUnit] = []
    sentences: list[SentenceUnit] = []
    for turn_key, turn in zip(turn_keys, parsed.turns):
        meeting = meetings[turn.meeting_id]
        for n, (s, e) in enumerate(chunk_spans(turn.text)):
            piece = turn.text[s:e]
            chunks.append(ChunkUnit(f"{turn_key}:c{n}", turn_key, s, e, tokenize(piece, tokenizer),
                                    embedding_text(piece, turn, meeting, context)))
        sentences += [SentenceUnit(turn_key, s, e) for s, e in sentence_spans(turn.text) if e - s >= MIN_SENTENCE_CHARS]
    return PreparedDocument(key, fingerprint, parsed, turn_keys, chunks, sentences)


def texts_to_embed(docs: Sequence[PreparedDocument]) -> int:
    return sum(len(d.chunks) + len(d.sentences) for d in docs)


def embed(docs: Sequence[PreparedDocument], embed_passages: Callable[[list[str]], np.ndarray], batch: int = 64,
          progress: Callable[[int], None] | None = None) -> int:
    """Fill in the vectors of every chunk and sentence, in length-sorted batches (less padding); returns the count."""
    units: list[tuple[ChunkUnit | SentenceUnit, str]] = []
    for d in docs:  # turn by turn, chunks then sentences: the order ties keep in the sort below
        by_turn: dict[str, list[tuple[ChunkUnit | SentenceUnit, str]]] = {k: [] for k in d.turn_keys}
        turn_text = dict(zip(d.turn_keys, (t.text for t in d.parsed.turns)))
        for c in d.chunks:
            by_turn[c.turn_key].append((c, c.embed_text))
        for x in d.sentences:
            by_turn[x.turn_key].append((x, turn_text[x.turn_key][x.start:x.end]))
        units += [u for k in d.turn_keys for u in by_turn[k]]
    units.sort(key=lambda u: len(u[1]))
    for i in range(0, len(units), batch):
        part = units[i : i + batch]
        vectors = embed_passages([text for _, text in part])
        for (unit, _), vector in zip(part, vectors):
            unit.vector = np.asarray(vector, dtype=np.float32)
        if progress:
            progress(len(part))
    return len(units)


def _scoped_meeting_ids(key: str, parsed: ParsedDocument) -> ParsedDocument:
    """Meeting ids unique across the store and stable for the same source: derived from the document's key."""
    ids = {m.id: hashlib.sha1(f"{key}\0{m.id}".encode()).hexdigest()[:16] for m in parsed.meetings}
    return replace(
        parsed,
        meetings=[replace(m, id=ids[m.id]) for m in parsed.meetings],
        turns=[replace(t, meeting_id=ids.get(t.meeting_id, t.meeting_id)) for t in parsed.turns],
    )
