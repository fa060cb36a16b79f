"""BM25 (bm25s) over the keyword tokens each chunk arrives with (rag.indexing.tokens makes them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class KeywordIndex:
    """BM25 over stored token lists; positions map to chunk ids."""

    def __init__(self, retriever, chunk_ids: np.ndarray):
        self.bm25 = retriever
        self.chunk_ids = chunk_ids
        self.position = {int(c): i for i, c in enumerate(chunk_ids)}
        vocab = getattr(retriever, "vocab_dict", None) or {}
        self.vocab = set(vocab)

    @classmethod
    def build(cls, rows: list[tuple[int, str]]) -> "KeywordIndex":
        import bm25s

        ids = np.array([r[0] for r in rows], dtype=np.int64)
        corpus = [r[1].split(" ") if r[1] else [] for r in rows]
        retriever = bm25s.BM25()
        if corpus:
            retriever.index(corpus, show_progress=False)
        return cls(retriever, ids)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "chunk_ids.npy", self.chunk_ids)
        if len(self.chunk_ids):
            self.bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> "KeywordIndex":
        import bm25s

        ids = np.load(folder / "chunk_ids.npy")
        retriever = bm25s.BM25.load(str(folder), show_progress=False) if len(ids) else bm25s.BM25()
        return cls(retriever, ids)

    def search(self, query_tokens: list[str], k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """Top-k (chunk_id, score); `allowed` restricts the candidates before ranking."""
        toks = [t for t in query_tokens if t in self.vocab]
        if not toks or not len(self.chunk_ids):
            return []
        mask = None
        if allowed is not None:
            mask = np.zeros(len(self.chunk_ids), dtype=np.float32)
            for c in allowed:
                p = self.position.get(c)
                if p is not None:
                    mask[p] = 1.0
        scores = self.bm25.get_scores(toks, weight_mask=mask)
        k = min(k, int((scores > 0).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(self.chunk_ids[i]), float(scores[i])) for i in top]
