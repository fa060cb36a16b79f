"""A deterministic, model-free embedder: hashed character bigrams, L2-normalised.

For tests that exercise the real wiring (ingest, every store backend, retrieval) in milliseconds, and
for nothing else: it knows no meaning, only shared characters. Loaded like the real runtimes,
`load_embedder(model, cache, "hashing")`.
"""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np

from rag.embedding.embedder import Embedder

DIMENSION = 384


class HashingEmbedder(Embedder):
    backend = "hashing"

    def __init__(self, model_id: str = "hashing-bigrams", dimension: int = DIMENSION):
        self.model_id = model_id
        self.dimension = dimension
        self.max_tokens = 512
        self.query_prompt = self.passage_prompt = ""

    def _vector(self, text: str) -> np.ndarray:
        s = unicodedata.normalize("NFKC", text).lower()
        v = np.zeros(self.dimension, dtype=np.float32)
        for gram in (s[i : i + 2] for i in range(max(1, len(s) - 1))):
            h = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "little")
            v[h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
        n = float(np.linalg.norm(v))
        if n == 0.0:
            v[0], n = 1.0, 1.0
        return v / n

    def _encode(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)

    def token_count(self, texts: list[str]) -> list[int]:
        return [max(1, len(t) - 1) for t in texts]


def load(model: str, path: str | None, cache_dir, threads: int) -> HashingEmbedder:
    return HashingEmbedder()
