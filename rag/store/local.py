"""The `local` store backend: an index folder of generations (SQLite catalog, FAISS vectors, BM25), switched atomically.

    index/
      CURRENT              name of the live generation, replaced with os.replace()
      gen-000002/          catalog.sqlite, vectors.faiss, sentences/, keyword/, chunk_map.npz, manifest.json
      .lock                held by the one writer at a time

A writer copies the live generation into a temporary folder, changes it, writes it out
completely (fsync), renames it into place and only then switches CURRENT. Killing it at
any point leaves the previous generation as it was.

What it keeps, per turn (format 4; eval/BENCHMARKS.md measures it): the turn's text once, deflated, with
offsets for its chunks and quotable sentences (catalog.py); chunk vectors as float16 codes, searched exactly
or, from RAG_HNSW_THRESHOLD chunks on, through an IVF with the filter applied inside the search (vectors.py);
sentence vectors as int8 codes with a scale each (vectors.py); BM25 postings, about a byte per (chunk, term)
pair (keyword.py).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
from collections import OrderedDict
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.config import CONTEXT_MODES, TOKENIZERS, Settings
from rag.errors import IndexMismatch, RagError
from rag.records import ChunkRef, Filters, Meeting, PreparedDocument, Turn
from rag.store.base import Manifest
from rag.store.catalog import Catalog, ChunkMap
from rag.store.keyword import KeywordIndex
from rag.store.vectors import SentenceVectors, VectorIndex

CATALOG, VECTORS, KEYWORD, MANIFEST = "catalog.sqlite", "vectors.faiss", "keyword", "manifest.json"
SENTENCES = "sentences"  # sentence vectors, embedded at ingest so answers need no embedding at query time


def current_generation(folder: Path) -> Path | None:
    pointer = folder / "CURRENT"
    if not pointer.exists():
        return None
    gen = folder / pointer.read_text().strip()
    return gen if (gen / MANIFEST).exists() else None


def manifest_of(folder: Path) -> Manifest | None:
    """The manifest of the index in ``folder`` (None if there is none yet); IndexMismatch for another format."""
    gen = current_generation(Path(folder))
    if gen is None:
        return None
    manifest = Manifest.from_json((gen / MANIFEST).read_text(encoding="utf-8"))
    manifest.check_format(str(folder))
    return manifest


class LocalStore:
    """Read side of an index folder: the live generation. The catalog opens at once; FAISS and BM25 load on
    first use, so reading fingerprints (ingest), stats or facets never loads the vectors."""

    def __init__(self, folder: Path, generation: Path):
        self.folder = folder
        self.location = str(folder)
        self.generation = generation
        self.manifest = Manifest.from_json((generation / MANIFEST).read_text(encoding="utf-8"))
        self.manifest.check_format(str(folder))  # before anything is loaded
        self.catalog = Catalog(generation / CATALOG, readonly=True)
        self._allowed: OrderedDict[Filters, np.ndarray] = OrderedDict()  # a question searches twice with one filter

    @cached_property
    def vectors(self) -> VectorIndex:
        return VectorIndex.load(self.generation / VECTORS)

    @cached_property
    def sentence_index(self) -> SentenceVectors:
        return SentenceVectors.load(self.generation / SENTENCES, self.manifest.dimension)

    @cached_property
    def keyword(self) -> KeywordIndex:
        return KeywordIndex.load(self.generation / KEYWORD)

    @cached_property
    def chunk_map(self) -> ChunkMap:
        return ChunkMap.load(self.generation) or ChunkMap.of(self.catalog)

    # ------------------------------------------------------------ search
    def _allowed_ids(self, filters: Filters | None) -> np.ndarray | None:
        if filters is None or filters.is_empty():
            return None
        allowed = self._allowed.get(filters)
        if allowed is None:  # searches run in several threads: never read back what another may have evicted
            allowed = self._allowed[filters] = self.chunk_map.allowed(self.catalog, filters)
            while len(self._allowed) > 16:
                self._allowed.popitem(last=False)
        return allowed

    def _refs(self, ranked: list[tuple[int, float]]) -> list[tuple[ChunkRef, float]]:
        refs = self.catalog.chunks_by_id([i for i, _ in ranked])
        return [(refs[i], s) for i, s in ranked if i in refs]

    def search_dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[ChunkRef, float]]:
        allowed = self._allowed_ids(filters)
        if allowed is not None and not len(allowed):
            return []
        return self._refs(self.vectors.search(vector, k, allowed))

    def search_keyword(self, tokens: Sequence[str], k: int,
                       filters: Filters | None = None) -> list[tuple[ChunkRef, float]]:
        allowed = self._allowed_ids(filters)
        if allowed is not None and not len(allowed):
            return []
        return self._refs(self.keyword.search(list(tokens), k, allowed))

    def keyword_df(self, tokens: Sequence[str]) -> tuple[dict[str, int], int]:
        kw = self.keyword
        vocab, indptr = kw.vocab, kw.indptr
        out = {}
        for t in tokens:
            i = vocab.get(t)
            out[t] = int(indptr[i + 1] - indptr[i]) if i is not None and i + 1 < len(indptr) else 0
        return out, int(len(kw.chunk_ids))

    # ------------------------------------------------------------ records
    def chunk_vectors(self, keys: Sequence[str]) -> np.ndarray:
        ids = self.catalog.chunk_ids_of(list(keys))
        return self.vectors.get([ids[k] for k in keys])

    def turns(self, keys: Sequence[str]) -> dict[str, tuple[Turn, Meeting]]:
        return self.catalog.turns(list(keys))

    def neighbours(self, turn_key: str, before: int = 2, after: int = 2) -> list[tuple[str, Turn, Meeting]]:
        return self.catalog.neighbours(turn_key, before, after)

    def sentences(self, turn_keys: Sequence[str]) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        rows = self.catalog.sentences_of(list(turn_keys))
        vecs = self.sentence_index.get([tid for tid, _ in rows.values()])
        out: dict[str, list[tuple[int, int, np.ndarray]]] = {k: [] for k in turn_keys}
        for key, (tid, spans) in rows.items():
            got = vecs.get(tid)
            if got is not None and len(got) == len(spans):
                out[key] = [(s, e, v) for (s, e), v in zip(spans, got)]
        return out

    def fingerprints(self, doc_keys: Sequence[str]) -> dict[str, str]:
        return self.catalog.fingerprints(list(doc_keys))

    def facets(self) -> dict[str, list[str]]:
        return self.catalog.facets()

    def stats(self) -> dict[str, Any]:
        return {**self.catalog.stats(), "size_bytes": self.size_on_disk(), "store": "local",
                "generation": self.generation.name}

    def documents(self) -> list[dict[str, Any]]:
        return self.catalog.documents()

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.generation.rglob("*") if p.is_file())

    def close(self) -> None:
        self.catalog.close()


class LocalStoreWriter:
    """Add, replace and remove documents in a new generation; nothing is visible until commit()."""

    def __init__(self, folder: Path, manifest: Manifest, *, hnsw_threshold: int, rebuild: bool = False):
        self.folder = folder
        self.hnsw_threshold = hnsw_threshold
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = open(folder / ".lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexMismatch(f"another ingest is writing to {folder}; wait for it to finish") from None
        if manifest.tokenizer not in TOKENIZERS or manifest.context not in CONTEXT_MODES:
            self._release()
            raise RagError(f"keyword tokenizer must be one of {TOKENIZERS} and context prefix one of "
                           f"{CONTEXT_MODES} (got {manifest.tokenizer!r}, {manifest.context!r})")
        live = None if rebuild else current_generation(folder)
        self.number = 1 + max([int(p.name[4:]) for p in folder.glob("gen-*") if p.name[4:].isdigit()] or [0])
        self.tmp = folder / f".tmp-gen-{self.number:06d}-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        if live is not None:
            try:
                old = manifest_of(folder)
            except IndexMismatch:
                self.abort()
                raise
            assert old is not None
            if (old.model, old.dimension, old.backend) != (manifest.model, manifest.dimension, manifest.backend):
                self.abort()
                raise IndexMismatch(
                    f"the index in {folder} was built with embedding model {old.model!r} ({old.backend}); refusing "
                    f"to mix it with {manifest.model!r} ({manifest.backend}). Rebuild it: python -m rag ingest PATH "
                    f"--index {folder} --rebuild --model {manifest.model} --embed-backend {manifest.backend}"
                )
            # an existing index keeps how its units were made
            manifest.tokenizer, manifest.context = old.tokenizer, old.context
            src = sqlite3.connect(live / CATALOG)
            dst = sqlite3.connect(self.tmp / CATALOG)
            src.backup(dst)
            src.close()
            dst.close()
            self.vectors = VectorIndex.load(live / VECTORS)
            self.sentence_index = SentenceVectors.load(live / SENTENCES, manifest.dimension, mmap=False)
            self._keyword_from: Path | None = live / KEYWORD
        else:
            self._keyword_from = None
            self.vectors = VectorIndex.empty(manifest.dimension)
            self.sentence_index = SentenceVectors.empty(manifest.dimension)
        self.manifest = manifest
        self.catalog = Catalog(self.tmp / CATALOG)
        self.removed_chunks: list[int] = []

    @cached_property
    def keyword(self) -> KeywordIndex:  # loaded on the first change: an ingest with nothing new never reads it
        return KeywordIndex.load(self._keyword_from) if self._keyword_from else KeywordIndex.empty()

    # -------------------------------------------------------------- changes
    def fingerprints(self, doc_keys: Sequence[str]) -> dict[str, str]:
        return self.catalog.fingerprints(list(doc_keys))

    def add(self, doc: PreparedDocument) -> None:
        existing = self.catalog.document_id(doc.key)
        if existing is not None:
            self._remove_id(existing)
        chunk_ids, turn_ids = self.catalog.add_document(doc)
        if doc.chunks:
            self.vectors.add(chunk_ids, np.vstack([c.vector for c in doc.chunks]))
            self.keyword.add((i, c.tokens) for i, c in zip(chunk_ids, doc.chunks))
        by_turn: dict[str, list[np.ndarray]] = {}
        for x in doc.sentences:  # in turn order, each turn's sentences in text order (as the catalog keeps spans)
            by_turn.setdefault(x.turn_key, []).append(x.vector)
        for key, vecs in by_turn.items():
            self.sentence_index.add(turn_ids[key], np.vstack(vecs))

    def remove(self, name: str) -> list[str]:
        rows = self.catalog.find_documents(name)
        for r in rows:
            self._remove_id(r["id"])
        return [r["doc"] for r in rows]

    def _remove_id(self, document_id: int) -> None:
        # ids are never reused (AUTOINCREMENT), so the vectors can leave FAISS at commit
        self.removed_chunks += self.catalog.chunk_ids_of_document(document_id)
        self.sentence_index.remove_turns(self.catalog.turn_ids_of_document(document_id))
        self.catalog.delete_document(document_id)

    # -------------------------------------------------------------- commit
    def commit(self) -> None:
        self.vectors.remove(self.removed_chunks)
        self.keyword.remove(self.removed_chunks)
        self.vectors = self.vectors.rebalanced(self.hnsw_threshold)
        self.manifest.vector_index = self.vectors.kind
        self.catalog.commit()
        self.catalog.db.execute("ANALYZE")  # statistics let filtered searches start from meetings (×45 at 10k turns)
        self.catalog.db.execute("VACUUM")
        ChunkMap.of(self.catalog).save(self.tmp)
        self.catalog.close()
        self.vectors.save(self.tmp / VECTORS)
        self.sentence_index.save(self.tmp / SENTENCES)
        self.keyword.save(self.tmp / KEYWORD)
        (self.tmp / MANIFEST).write_text(self.manifest.to_json(), encoding="utf-8")
        _fsync_tree(self.tmp)
        final = self.folder / f"gen-{self.number:06d}"
        os.rename(self.tmp, final)
        pointer_tmp = self.folder / "CURRENT.tmp"
        pointer_tmp.write_text(final.name)
        _fsync_file(pointer_tmp)
        os.replace(pointer_tmp, self.folder / "CURRENT")
        _fsync_file(self.folder)
        self._prune(keep={final.name})
        self._release()

    def abort(self) -> None:
        try:
            self.catalog.close()
        except Exception:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._release()

    def _prune(self, keep: set[str]) -> None:
        """Delete older generations and leftovers of killed writers (the live one stays)."""
        for p in self.folder.iterdir():
            if p.is_dir() and (p.name.startswith("gen-") or p.name.startswith(".tmp-gen-")) and p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)

    def _release(self) -> None:
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def __enter__(self) -> "LocalStoreWriter":
        return self

    def __exit__(self, exc_type, *_: object) -> None:
        if exc_type is not None or self.tmp.exists():
            self.abort()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            _fsync_file(p)
    for p in [root, *[d for d in root.rglob("*") if d.is_dir()]]:
        _fsync_file(p)


# ---------------------------------------------------------------- registration (rag.store.STORES)


def built_with(settings: Settings) -> Manifest | None:
    return manifest_of(settings.index_dir)


def open_store(settings: Settings) -> LocalStore:
    generation = current_generation(settings.index_dir)
    if generation is None:
        raise IndexMismatch(f"the index in {settings.index_dir} changed while it was opened; try again")
    return LocalStore(settings.index_dir, generation)


def open_writer(settings: Settings, manifest: Manifest, rebuild: bool) -> LocalStoreWriter:
    return LocalStoreWriter(settings.index_dir, manifest, hnsw_threshold=settings.hnsw_threshold, rebuild=rebuild)
