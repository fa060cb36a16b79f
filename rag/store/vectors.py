"""FAISS vectors keyed by chunk id, searched with an optional id restriction (filters before ranking)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

HNSW_M = 32
NEVER = 2**62  # a threshold no index reaches: exact search always


class VectorIndex:
    def __init__(self, index):
        self.index = index

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def kind(self) -> str:
        import faiss

        inner = faiss.downcast_index(self.index.index)
        return "hnsw" if isinstance(inner, faiss.IndexHNSWFlat) else "flat"

    @classmethod
    def empty(cls, dim: int, expected: int = 0, hnsw_threshold: int = NEVER) -> "VectorIndex":
        """An empty index: exact search, or an HNSW graph when `expected` vectors reach `hnsw_threshold`."""
        import faiss

        if expected >= hnsw_threshold:
            inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = 80
        else:
            inner = faiss.IndexFlatIP(dim)
        return cls(faiss.IndexIDMap2(inner))

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int]) -> None:
        import faiss

        if not ids:
            return
        if self.kind == "flat":
            self.index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))
            return
        # HNSW graphs cannot delete: rebuild from the vectors that stay
        gone = set(ids)
        all_ids, vecs = self.vectors()
        keep = np.array([i not in gone for i in all_ids], dtype=bool)
        fresh = VectorIndex.empty(self.index.d, expected=int(keep.sum()), hnsw_threshold=0)
        fresh.add(list(all_ids[keep]), vecs[keep])
        self.index = fresh.index

    def get(self, ids: list[int]) -> np.ndarray:
        """Stored vectors by id (ids must exist)."""
        if not ids:
            return np.zeros((0, self.index.d), np.float32)
        return np.vstack([self.index.reconstruct(int(i)) for i in ids])

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors), for rebuilding as another index type."""
        import faiss

        ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        return ids, self.get(list(ids))

    def rebalanced(self, hnsw_threshold: int) -> "VectorIndex":
        """The same vectors in the index type their count calls for."""
        want_hnsw = self.size >= hnsw_threshold
        if want_hnsw == (self.kind == "hnsw"):
            return self
        ids, vecs = self.vectors()
        fresh = VectorIndex.empty(self.index.d, expected=self.size, hnsw_threshold=hnsw_threshold)
        fresh.add(list(ids), vecs)
        return fresh

    def search(self, query: np.ndarray, k: int, allowed: list[int] | None = None) -> list[tuple[int, float]]:
        import faiss

        if self.size == 0 or k <= 0 or (allowed is not None and not allowed):
            return []
        params = None
        if allowed is not None:
            sel = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            if self.kind == "hnsw":
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(64, 2 * k))
            else:
                params = faiss.SearchParameters(sel=sel)
        elif self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(64, 2 * k))
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        scores, ids = self.index.search(q, min(k, self.size), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> "VectorIndex":
        import faiss

        return cls(faiss.read_index(str(path)))
