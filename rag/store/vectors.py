"""Vectors of the local store: chunk vectors in FAISS (searched, filters applied inside the search) and the
sentence vectors of the extractive answerer (looked up by turn, never searched).

Chunk vectors are kept as float16 codes (FAISS scalar quantizer QT_fp16: half the bytes of float32, scores
within ~1e-4 of float32's). Below `approx_threshold` vectors the index is exact (every vector scored); from
there on it is an inverted file (IVF: the vectors in `nlist` k-means cells, a search scores the cells nearest
the query). A filtered search is restricted inside FAISS by a bitmap of the allowed ids, and on the IVF it
scans more cells the narrower the filter (``nprobe × share^-0.4`` for the allowed share, up to all of them: exact
over the allowed vectors), so a filter does not cost recall the way a filtered graph walk does. Not
``nprobe / share``: the k best allowed vectors are the k/share best overall, a neighbourhood that grows far
slower than k/share, and allowed vectors cluster (a body's minutes speak of its own places). At 1M turns
(eval/BENCHMARKS.md, 60 questions against exact search) the exponent trades recall@10 for time as: 1 → 0.99–1.0;
0.5 → 0.94 (body, 1/6 of the vectors) / 0.99 (1/30), 31 / 27 ms; 0.4 → 0.92 / 0.96, 20 / 12 ms; ⅓ → 0.91 / 0.94.
0.4 keeps a filtered search clearly above the unfiltered recall (0.88) at about half the time of √share.

Sentence vectors are int8 codes with one float32 scale per vector (a quarter of float32's bytes), grouped by
turn; they are dequantised and renormalised on read (cosine to the float32 vector ≥ 0.9999).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

NEVER = 2**62  # a threshold no index reaches: exact search always
NPROBE_SHARE = 32  # an unfiltered IVF search scans nlist / NPROBE_SHARE cells (~3 % of the vectors)
MIN_NPROBE = 8
FILTER_PROBE_EXPONENT = 0.4  # a filtered IVF search scans nprobe × share^-exponent cells (module docstring)
RETRAIN_GROWTH = 4  # an IVF is trained again when its size calls for RETRAIN_GROWTH × as many cells


def nlist_for(n: int) -> int:
    """IVF cells for n vectors: the power of two nearest 2√n (158k → 1,024, 1.6M → 2,048), at least 16."""
    return max(16, 2 ** round(math.log2(max(1.0, 2 * math.sqrt(n)))))


class VectorIndex:
    def __init__(self, index):
        self.index = index
        self._max_id: int | None = None
        self._bitmaps: list[tuple[np.ndarray, int, np.ndarray, int]] = []  # (allowed, max id, bitmap, count)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def kind(self) -> str:
        import faiss

        return "ivf" if isinstance(self.index, faiss.IndexIVF) else "flat"

    @property
    def nprobe(self) -> int:
        return max(MIN_NPROBE, self.index.nlist // NPROBE_SHARE) if self.kind == "ivf" else 0

    @classmethod
    def empty(cls, dim: int, expected: int = 0, approx_threshold: int = NEVER,
              train: np.ndarray | None = None) -> "VectorIndex":
        """An empty index: exact, or an IVF (trained on `train`) when `expected` vectors reach `approx_threshold`."""
        import faiss

        fp16 = faiss.ScalarQuantizer.QT_fp16
        if expected < approx_threshold or train is None or len(train) == 0:
            return cls(faiss.IndexIDMap2(faiss.IndexScalarQuantizer(dim, fp16, faiss.METRIC_INNER_PRODUCT)))
        nlist = min(nlist_for(expected), max(1, len(train) // 39))  # k-means wants ≥ 39 points per cell
        nlist = 2 ** int(math.log2(nlist))
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, nlist, fp16,
                                              faiss.METRIC_INNER_PRODUCT, False)
        index.cp.niter = 10
        rng = np.random.default_rng(0)
        sample = train if len(train) <= 48 * nlist else train[rng.choice(len(train), 48 * nlist, replace=False)]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
        return cls(index)

    def add(self, ids: list[int] | np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            ids = np.asarray(ids, dtype=np.int64)
            for s in range(0, len(ids), 65536):  # bounded temporaries for the IVF's cell assignment
                self.index.add_with_ids(np.ascontiguousarray(vectors[s:s + 65536], dtype=np.float32), ids[s:s + 65536])
            self._max_id = None

    def remove(self, ids: list[int]) -> None:
        import faiss

        if not ids:
            return
        arr = np.asarray(ids, dtype=np.int64)
        if self.kind == "ivf":  # its hashtable direct map removes by an explicit array
            self.index.remove_ids(faiss.IDSelectorArray(len(arr), faiss.swig_ptr(arr)))
        else:
            self.index.remove_ids(faiss.IDSelectorBatch(arr))
        self._max_id = None

    def get(self, ids: list[int]) -> np.ndarray:
        """Stored vectors by id (ids must exist), as float32."""
        if not len(ids):
            return np.zeros((0, self.index.d), np.float32)
        return np.vstack([self.index.reconstruct(int(i)) for i in ids])

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, float32 vectors), for rebuilding as another index type (read from the codes, not one by one)."""
        import faiss

        d = self.index.d
        if self.kind == "flat":
            inner = faiss.downcast_index(self.index.index)
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            codes = faiss.vector_to_array(inner.codes).view(np.float16).reshape(-1, d)
            return ids, codes.astype(np.float32)
        inv = self.index.invlists
        all_ids, all_codes = [], []
        for cell in range(self.index.nlist):
            n = inv.list_size(cell)
            if n:
                all_ids.append(faiss.rev_swig_ptr(inv.get_ids(cell), n).copy())
                all_codes.append(faiss.rev_swig_ptr(inv.get_codes(cell), n * self.index.code_size).copy())
        if not all_ids:
            return np.zeros(0, np.int64), np.zeros((0, d), np.float32)
        ids = np.concatenate(all_ids).astype(np.int64)
        vecs = np.concatenate(all_codes).view(np.float16).reshape(-1, d).astype(np.float32)
        order = np.argsort(ids, kind="stable")
        return ids[order], vecs[order]

    def max_id(self) -> int:
        if self._max_id is None:
            ids, _ = self._ids_only()
            self._max_id = int(ids.max()) if len(ids) else -1
        return self._max_id

    def _ids_only(self) -> tuple[np.ndarray, None]:
        import faiss

        if self.kind == "flat":
            return faiss.vector_to_array(self.index.id_map), None
        inv = self.index.invlists
        parts = [faiss.rev_swig_ptr(inv.get_ids(c), inv.list_size(c)).copy()
                 for c in range(self.index.nlist) if inv.list_size(c)]
        return (np.concatenate(parts) if parts else np.zeros(0, np.int64)), None

    def rebalanced(self, approx_threshold: int) -> "VectorIndex":
        """The same vectors in the index type their count calls for (an IVF is retrained as it outgrows its cells;
        below half the threshold it turns exact again)."""
        n = self.size
        if self.kind == "flat":
            if n < approx_threshold:
                return self
        elif n >= approx_threshold // 2 and nlist_for(n) < RETRAIN_GROWTH * self.index.nlist:
            return self
        ids, vecs = self.vectors()
        fresh = VectorIndex.empty(self.index.d, expected=n, approx_threshold=approx_threshold, train=vecs)
        fresh.add(ids, vecs)
        return fresh

    def search(self, query: np.ndarray, k: int, allowed: list[int] | np.ndarray | None = None,
               nprobe: int | None = None) -> list[tuple[int, float]]:
        """Top-k (id, inner product). `allowed` restricts the search inside FAISS (a bitmap over the ids);
        on an IVF the probed cells grow as share^-0.4 of the allowed share, up to all cells (exact over them)."""
        import faiss

        if self.size == 0 or k <= 0 or (allowed is not None and not len(allowed)):
            return []
        ivf = self.kind == "ivf"
        probes = nprobe or self.nprobe
        sel = bits = None
        if allowed is not None:
            top = self.max_id()
            bits, count = self._bitmap(allowed, top)
            if not count:
                return []
            sel = faiss.IDSelectorBitmap(top + 1, faiss.swig_ptr(bits))
            if ivf:
                share = count / self.size
                probes = min(self.index.nlist, math.ceil(probes * max(share, 1e-12) ** -FILTER_PROBE_EXPONENT))
        if ivf:
            params = faiss.SearchParametersIVF(sel=sel, nprobe=min(probes, self.index.nlist)) if sel is not None \
                else faiss.SearchParametersIVF(nprobe=min(probes, self.index.nlist))
        else:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        scores, ids = self.index.search(q, min(k, self.size), params=params)
        del bits  # the selector points into it until the search is done
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _bitmap(self, allowed: list[int] | np.ndarray, top: int) -> tuple[np.ndarray, int]:
        """The allowed ids (up to `top`) as the bitmap FAISS's selector reads, and how many there are. The last
        few arrays are remembered by identity: a store hands the same (never modified) array for the same filter,
        and a question searches twice with it (at 1M turns a bitmap costs ~3 ms)."""
        for arr, at_top, bits, count in self._bitmaps:
            if arr is allowed and at_top == top:
                return bits, count
        ids = np.asarray(allowed, dtype=np.int64)
        ids = ids[ids <= top]
        mask = np.zeros(top + 1, dtype=bool)
        mask[ids] = True
        bits = np.packbits(mask, bitorder="little")
        if isinstance(allowed, np.ndarray):
            self._bitmaps = [(allowed, top, bits, len(ids))] + self._bitmaps[:3]
        return bits, len(ids)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> "VectorIndex":
        import faiss

        return cls(faiss.read_index(str(path)))


# ---------------------------------------------------------------------------------------- sentence vectors
def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and a per-vector scale (max |x| / 127): x ≈ codes * scale."""
    v = np.asarray(vectors, dtype=np.float32)
    scale = np.abs(v).max(axis=1) / 127.0 if len(v) else np.zeros(0, np.float32)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    codes = np.clip(np.rint(v / scale[:, None]), -127, 127).astype(np.int8)
    return codes, scale


def dequantise(codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float32 vectors from int8 codes, renormalised to unit length (the model's vectors are unit vectors)."""
    v = codes.astype(np.float32) * scale[:, None]
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


class SentenceVectors:
    """Sentence vectors grouped by turn id: ``turn_ids`` (ascending), ``offsets`` (rows of each turn in
    ``codes``/``scales``: offsets[i]..offsets[i+1]), ``codes`` (int8, n × d), ``scales`` (float32, n).
    Files: sentences/{turn_ids,offsets,codes,scales}.npy, memory-mapped when read."""

    FILES = ("turn_ids", "offsets", "codes", "scales")

    def __init__(self, dim: int, turn_ids: np.ndarray, offsets: np.ndarray, codes: np.ndarray, scales: np.ndarray):
        self.dim = dim
        self.turn_ids, self.offsets, self.codes, self.scales = turn_ids, offsets, codes, scales
        self._new: list[tuple[int, np.ndarray, np.ndarray]] = []  # (turn id, codes, scales) added since load
        self._gone: set[int] = set()

    @classmethod
    def empty(cls, dim: int) -> "SentenceVectors":
        return cls(dim, np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros((0, dim), np.int8),
                   np.zeros(0, np.float32))

    @classmethod
    def load(cls, folder: Path, dim: int, mmap: bool = True) -> "SentenceVectors":
        arrays = [np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None) for name in cls.FILES]
        return cls(dim, *arrays)

    @property
    def size(self) -> int:
        return int(self.offsets[-1]) + sum(len(c) for _, c, _ in self._new)

    def add(self, turn_id: int, vectors: np.ndarray) -> None:
        codes, scales = quantise(vectors)
        self._new.append((int(turn_id), codes, scales))

    def remove_turns(self, turn_ids: list[int]) -> None:
        self._gone.update(int(t) for t in turn_ids)

    def get(self, turn_ids: list[int]) -> dict[int, np.ndarray]:
        """turn id -> its sentences' vectors (float32, in stored order); turns without sentences are left out."""
        out: dict[int, np.ndarray] = {}
        if len(self.turn_ids) and turn_ids:
            want = np.asarray(turn_ids, dtype=np.int64)
            pos = np.searchsorted(self.turn_ids, want)
            for t, p in zip(want, pos):
                if p < len(self.turn_ids) and self.turn_ids[p] == t and int(t) not in self._gone:
                    s, e = int(self.offsets[p]), int(self.offsets[p + 1])
                    out[int(t)] = dequantise(np.asarray(self.codes[s:e]), np.asarray(self.scales[s:e]))
        for t, codes, scales in self._new:
            if t in turn_ids:
                out[t] = dequantise(codes, scales)
        return out

    def save(self, folder: Path) -> None:
        """Write the kept and added turns (in turn id order) to `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        counts = np.diff(self.offsets)
        keep = ~np.isin(self.turn_ids, np.fromiter(self._gone, np.int64, len(self._gone))) if self._gone else \
            np.ones(len(self.turn_ids), bool)
        rows = np.repeat(keep, counts)
        new = [(t, c, s) for t, c, s in self._new if t not in self._gone]
        turn_ids = np.concatenate([self.turn_ids[keep], np.array([t for t, _, _ in new], np.int64)])
        sizes = np.concatenate([counts[keep], np.array([len(c) for _, c, _ in new], np.int64)])
        codes = np.concatenate([np.asarray(self.codes)[rows]] + [c for _, c, _ in new]) if new or len(rows) else \
            np.zeros((0, self.dim), np.int8)
        scales = np.concatenate([np.asarray(self.scales)[rows]] + [s for _, _, s in new]).astype(np.float32) \
            if new or len(rows) else np.zeros(0, np.float32)
        order = np.argsort(turn_ids, kind="stable")
        if len(order) and np.any(order != np.arange(len(order))):  # new turns have larger ids: normally sorted
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
            take = np.concatenate([np.arange(starts[i], starts[i] + sizes[i]) for i in order])
            codes, scales, turn_ids, sizes = codes[take], scales[take], turn_ids[order], sizes[order]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        for name, arr in zip(self.FILES, (turn_ids.astype(np.int64), offsets, codes.astype(np.int8),
                                          scales.astype(np.float32))):
            np.save(folder / f"{name}.npy", arr)
