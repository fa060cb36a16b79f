"""BM25 over the keyword tokens each chunk arrives with (rag.indexing.tokens makes them), stored compactly.

What is stored is what BM25 needs and nothing else: the term dictionary and, per term, the chunks that hold it
and how often (a term-major posting list: gaps between chunk positions and term frequencies, deflated) —
about 1 byte per (chunk, term) pair, where the token text in the catalog plus bm25s' score matrix took ~13.
The scores are computed when the index is loaded, with bm25s' formula ("lucene": k1 = 1.5, b = 0.75,
idf = ln(1 + (N − df + 0.5) / (df + 0.5))) and its float arithmetic, so they are the scores bm25s gives
(and Milvus' sparse vectors, rag/store/milvus.py, agree with them).

A writer keeps the postings as (term, chunk id, tf) triples, removes and appends, and writes them out at
commit; N, df and avgdl are those of the whole index at that commit.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from pathlib import Path
from typing import Iterable

import numba
import numpy as np

K1, B = 1.5, 0.75
FILE = "postings.npz"


class KeywordIndex:
    """BM25 over stored postings; positions (0..N-1) map to chunk ids (ascending).

    Read side: term-major arrays (indptr by term, chunk positions, tf) and the BM25 weights computed from them.
    Write side: the same postings as triples (term id, chunk id, tf), made on the first change."""

    def __init__(self, terms: list[str], chunk_ids: np.ndarray, indptr: np.ndarray, positions: np.ndarray,
                 tf: np.ndarray):
        self.terms = terms
        self.chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
        self.indptr, self.positions, self.tf = indptr, positions, tf
        self._triples: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # added, not yet merged
        self._scores: np.ndarray | None = None
        self._vocab: dict[str, int] | None = None

    # ------------------------------------------------------------------ writing
    @classmethod
    def empty(cls) -> "KeywordIndex":
        return cls([], np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint8))

    @classmethod
    def build(cls, rows: Iterable[tuple[int, list[str]]]) -> "KeywordIndex":
        """From (chunk id, tokens) rows."""
        out = cls.empty()
        out.add(rows)
        out._freeze()
        return out

    def _thaw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._triples is None:
            df = np.diff(self.indptr)
            term = np.repeat(np.arange(len(df), dtype=np.int32), df)
            chunk = self.chunk_ids[self.positions].astype(np.int32) if len(self.positions) else np.zeros(0, np.int32)
            self._triples = (term, chunk, self.tf)
        return self._triples

    def add(self, rows: Iterable[tuple[int, list[str]]]) -> None:
        """Append chunks (ids larger than any present, as the catalog hands them out)."""
        vocab = self.vocab
        ids, t, c, f = [], [], [], []
        for chunk_id, tokens in rows:
            ids.append(chunk_id)
            for term, n in Counter(tokens).items():
                t.append(vocab.setdefault(term, len(vocab)))
                c.append(chunk_id)
                f.append(n)
        if not ids:
            return
        self._thaw()
        self._pending.append((np.asarray(ids, np.int64), np.asarray(t, np.int32), np.asarray(c, np.int32),
                              np.minimum(np.asarray(f, np.int64), 255).astype(np.uint8)))
        self._scores = None

    def _merge(self) -> None:
        """Fold the added chunks into the triples (once, not per document)."""
        if not self._pending:
            return
        term, chunk, tf = self._thaw()
        self.terms = list(self.vocab)
        self.chunk_ids = np.concatenate([self.chunk_ids] + [p[0] for p in self._pending])
        self._triples = (np.concatenate([term] + [p[1] for p in self._pending]),
                         np.concatenate([chunk] + [p[2] for p in self._pending]),
                         np.concatenate([tf] + [p[3] for p in self._pending]))
        self._pending = []

    def remove(self, chunk_ids: list[int]) -> None:
        if not chunk_ids:
            return
        gone = np.asarray(chunk_ids, np.int64)
        self._merge()
        term, chunk, tf = self._thaw()
        self.chunk_ids = self.chunk_ids[~np.isin(self.chunk_ids, gone)]
        keep = ~np.isin(chunk, gone)
        self._triples = (term[keep], chunk[keep], tf[keep])
        self._scores = None

    def _freeze(self) -> None:
        """Triples -> term-major arrays; terms no chunk holds any more are dropped."""
        self._merge()
        if self._triples is None:
            return
        term, chunk, tf = self._triples
        self.chunk_ids = np.sort(self.chunk_ids)
        used = np.zeros(len(self.terms), bool)
        used[term] = True
        remap = (np.cumsum(used) - 1).astype(np.int32)
        self.terms = [x for x, u in zip(self.terms, used) if u]
        self._vocab = None
        t = remap[term]
        del remap, term
        pos = np.searchsorted(self.chunk_ids, chunk).astype(np.int32)
        del chunk
        # triples come term-major (the loaded postings) then by chunk (the added ones, whose ids are all larger):
        # a stable sort by term alone puts every term's positions in order
        order = np.argsort(t, kind="stable")
        t, pos, tf = t[order], pos[order], tf[order]
        del order
        if np.any((t[1:] == t[:-1]) & (pos[1:] <= pos[:-1])):  # not so (ids added out of order): sort fully
            order = np.lexsort((pos, t))
            t, pos, tf = t[order], pos[order], tf[order]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(t, minlength=len(self.terms)))]).astype(np.int64)
        self.positions, self.tf = pos, tf
        self._triples = None
        self._scores = None

    def save(self, folder: Path) -> None:
        """Term-major postings, each term's positions as gaps, deflated."""
        self._freeze()
        folder.mkdir(parents=True, exist_ok=True)
        pos = self.positions
        gaps = np.diff(pos, prepend=np.int32(0)).astype(np.uint32)
        starts = self.indptr[:-1][np.diff(self.indptr) > 0]
        gaps[starts] = pos[starts]  # each term's list starts from position 0
        vocab = zlib.compress(json.dumps(self.terms, ensure_ascii=False).encode("utf-8"), 6)
        np.savez_compressed(folder / FILE, chunk_ids=np.diff(self.chunk_ids, prepend=0),
                            df=np.diff(self.indptr).astype(np.uint32), gaps=gaps.astype(np.uint32),
                            tf=self.tf.astype(np.uint8), vocab=np.frombuffer(vocab, dtype=np.uint8))

    @classmethod
    def load(cls, folder: Path) -> "KeywordIndex":
        with np.load(folder / FILE) as z:
            chunk_ids = np.cumsum(z["chunk_ids"].astype(np.int64))
            df = z["df"].astype(np.int64)
            pos = z["gaps"].astype(np.int64)
            tf = z["tf"]
            terms = json.loads(zlib.decompress(z["vocab"].tobytes()).decode("utf-8"))
        indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        np.cumsum(pos, out=pos)
        starts = indptr[:-1][df > 0]
        # each list restarts at its first (absolute) position: subtract the running sum before it
        before = np.zeros(len(df), np.int64)
        nz = np.flatnonzero(df > 0)
        before[nz] = np.where(starts > 0, pos[np.maximum(starts - 1, 0)], 0)
        pos -= np.repeat(before, df)
        return cls(terms, chunk_ids, indptr, pos.astype(np.int32), tf)

    # ------------------------------------------------------------------ reading
    @property
    def vocab(self) -> dict[str, int]:
        if self._vocab is None:
            self._vocab = {x: i for i, x in enumerate(self.terms)}
        return self._vocab

    def _weights(self) -> np.ndarray:
        """BM25 weight of each posting, computed as bm25s computes them (in compiled code: 1M turns, ~300M
        postings, took ~18 s in numpy blocks)."""
        if self._scores is None:
            self._freeze()
            n = len(self.chunk_ids)
            df = np.diff(self.indptr)
            doc_len = _doc_lengths(self.positions, self.tf, n)  # the lengths bm25s counts: tokens per chunk
            avg = np.float64(doc_len.mean()) if n else np.float64(1.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                idf = np.where(df > 0, np.log(1 + (n - df + 0.5) / (df + 0.5)), 0.0).astype(np.float32)
            self._scores = _posting_weights(self.indptr, self.positions, self.tf, doc_len, avg,
                                            idf.astype(np.float64), K1, B)
        return self._scores

    def search(self, query_tokens: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (chunk_id, score), ties by chunk id; `allowed` (chunk ids) restricts the candidates before ranking.
        Every posting of the query's terms is added up, in compiled code (_top_k; eval/BENCHMARKS.md)."""
        vocab = self.vocab
        toks = np.asarray([vocab[t] for t in query_tokens if t in vocab], np.int64)
        if not len(toks) or not len(self.chunk_ids) or k <= 0:
            return []
        if allowed is not None:
            allowed = _positions_of(self.chunk_ids, np.sort(np.asarray(allowed, np.int64)))
            if not len(allowed):
                return []
        top, vals = _top_k(toks, self.indptr, self.positions, self._weights(), len(self.chunk_ids),
                           np.zeros(0, np.int64) if allowed is None else allowed, allowed is not None, k)
        order = np.lexsort((top, -vals))  # best first, equal scores by position (= by chunk id)
        top, vals = top[order], vals[order]
        return [(int(self.chunk_ids[p]), float(v)) for p, v in zip(top, vals)]


@numba.njit(cache=True, nogil=True)
def _doc_lengths(positions, tf, n):
    out = np.zeros(n, np.float64)
    for i in range(len(positions)):
        out[positions[i]] += tf[i]
    return out


@numba.njit(cache=True, nogil=True)
def _posting_weights(indptr, positions, tf, doc_len, avg, idf, k1, b):
    """bm25s: tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf) in float64, times idf (a float32 widened), to float32."""
    out = np.empty(len(tf), np.float32)
    for t in range(len(indptr) - 1):
        for i in range(indptr[t], indptr[t + 1]):
            f = np.float64(tf[i])
            out[i] = np.float32(f / (k1 * ((1 - b) + (b * doc_len[positions[i]]) / avg) + f) * idf[t])
    return out


@numba.njit(cache=True, nogil=True)
def _positions_of(chunk_ids, ids):
    """Positions in `chunk_ids` of those `ids` it holds (both ascending): one merge, not a binary search each."""
    out = np.empty(min(len(ids), len(chunk_ids)), np.int64)
    i = j = m = 0
    while i < len(chunk_ids) and j < len(ids):
        if chunk_ids[i] < ids[j]:
            i += 1
        elif chunk_ids[i] > ids[j]:
            j += 1
        else:
            out[m] = i
            m += 1
            i += 1
            j += 1
    return out[:m]


@numba.njit(cache=True, nogil=True)
def _top_k(terms, indptr, positions, weights, n, allowed, filtered, k):
    """BM25 scores summed term by term in float32, in query order (duplicates counted again, as bm25s does: the
    same sums bit for bit), then the k best positions with a score (unordered), among `allowed` ones if filtered.
    ~2.5 ns per posting against ~14 for the numpy scatter-add it replaces (1M turns: ~7M postings a query)."""
    scores = np.zeros(n, np.float32)
    for t in terms:
        for i in range(indptr[t], indptr[t + 1]):
            scores[positions[i]] += weights[i]
    # a min-heap of the k best (score desc, position asc) seen so far
    heap_s = np.empty(k, np.float32)
    heap_p = np.empty(k, np.int64)
    size = 0
    m = len(allowed) if filtered else n
    for j in range(m):
        p = allowed[j] if filtered else j
        v = scores[p]
        if v <= 0:
            continue
        if size < k:
            i = size
            size += 1
            while i > 0:  # sift up: the worst (lowest score, then highest position) at the root
                parent = (i - 1) // 2
                if heap_s[parent] < v or (heap_s[parent] == v and heap_p[parent] > p):
                    break
                heap_s[i], heap_p[i] = heap_s[parent], heap_p[parent]
                i = parent
            heap_s[i], heap_p[i] = v, p
        elif v > heap_s[0] or (v == heap_s[0] and p < heap_p[0]):
            i = 0
            while True:  # sift down from the root
                c = 2 * i + 1
                if c >= size:
                    break
                if c + 1 < size and (heap_s[c + 1] < heap_s[c]
                                     or (heap_s[c + 1] == heap_s[c] and heap_p[c + 1] > heap_p[c])):
                    c += 1
                if v < heap_s[c] or (v == heap_s[c] and p > heap_p[c]):
                    break
                heap_s[i], heap_p[i] = heap_s[c], heap_p[c]
                i = c
            heap_s[i], heap_p[i] = v, p
    return heap_p[:size], heap_s[:size]
