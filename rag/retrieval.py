"""index -> retrieval: hybrid dense + keyword search over chunks, returned as turns.

Filters are resolved to the allowed chunk ids in SQLite first, and both FAISS (with an
ID selector) and BM25 (with a weight mask) rank only those: a filtered search never
loses results to a top-k cut taken before filtering.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rag.config import RETRIEVAL_MODES, env_number
from rag.language import is_english
from rag.records import Hit
from rag.store.catalog import Filters
from rag.store.index import Index
from rag.store.keyword import tokenize

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
KEYWORD_WEIGHT = env_number("RAG_KEYWORD_WEIGHT", "1.0", float)  # of BM25's ranks against the dense ranks
PROCEDURAL_WEIGHT = 0.5  # a chair calling the next speaker should not crowd out answers


class Retriever:
    def __init__(self, index: Index, embedder, mode: str = "hybrid"):
        if mode not in RETRIEVAL_MODES:
            raise ValueError(f"retrieval mode must be one of {RETRIEVAL_MODES}")
        self.index = index
        self.embedder = embedder
        self.mode = mode

    def search(self, query: str, k: int = 5, filters: Filters | None = None, mode: str | None = None,
               query_vector: np.ndarray | None = None) -> list[Hit]:
        mode = mode or self.mode
        allowed: list[int] | None = None
        if filters is not None and not filters.is_empty():
            allowed = self.index.catalog.chunk_ids(filters)
            if not allowed:
                return []
        candidates = max(50, 10 * k)
        qvec = None
        dense: list[tuple[int, float]] = []
        keyword: list[tuple[int, float]] = []
        if mode in ("hybrid", "dense"):
            qvec = query_vector if query_vector is not None else self.embedder.embed_query(query)
            dense = self.index.vectors.search(qvec, candidates, allowed)
        if mode == "hybrid" and is_english(query):
            mode = "dense"  # Japanese keywords cannot match an English question; they only add noise
        if mode in ("hybrid", "keyword"):
            toks = tokenize(query, self.index.manifest.tokenizer)
            keyword = self.index.keyword.search(toks, candidates, set(allowed) if allowed is not None else None)

        fused: dict[int, float] = {}
        for ranking, weight in ((dense, 1.0), (keyword, KEYWORD_WEIGHT)):
            for rank, (cid, _) in enumerate(ranking):
                fused[cid] = fused.get(cid, 0.0) + weight / (RRF_K + rank + 1)
        dense_of = dict(dense)
        kw_of = dict(keyword)

        chunks = self.index.catalog.chunks(list(fused))
        best: dict[int, tuple[float, int]] = {}  # turn id -> (score, chunk id)
        for cid, score in fused.items():
            row = chunks.get(cid)
            if row is None:
                continue
            if row.turn_id not in best or score > best[row.turn_id][0]:
                best[row.turn_id] = (score, cid)
        turns = self.index.catalog.turns(list(best))
        hits = []
        for turn_id, (score, cid) in best.items():
            turn, meeting = turns[turn_id]
            if turn.procedural:
                score *= PROCEDURAL_WEIGHT
            row = chunks[cid]
            d = dense_of.get(cid)
            if d is None and qvec is not None:
                d = float(self.index.vectors.get([cid])[0] @ qvec)
            hits.append(Hit(turn_id, turn, meeting, score, d, kw_of.get(cid), row.start, row.end))
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def context(self, turn_id: int, before: int = 2, after: int = 2):
        """The turns around a turn in the same meeting: [(turn_id, Turn, Meeting)] in order."""
        return self.index.catalog.neighbours(turn_id, before, after)


def as_llama_index(retriever: Retriever, k: int = 5, filters: Filters | None = None) -> Any:
    """The same retriever as a llama-index BaseRetriever, returning NodeWithScore with turn metadata."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    class MinutesRetriever(BaseRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            out = []
            for h in retriever.search(query_bundle.query_str, k=k, filters=filters):
                meta = {
                    "doc": h.meeting.doc, "source": h.meeting.source, "body": h.meeting.body,
                    "meeting": h.meeting.name, "date": h.meeting.date, "agenda": h.turn.agenda,
                    "speaker": h.turn.speaker, "speaker_name": h.turn.speaker_name,
                    "speaker_role": h.turn.speaker_role, "speaker_kind": h.turn.kind.value,
                    "turn": h.turn.order, "turn_id": h.turn_id,
                }
                node = TextNode(id_=f"turn-{h.turn_id}", text=h.turn.text, metadata=meta)
                out.append(NodeWithScore(node=node, score=h.score))
            return out

    return MinutesRetriever()
