"""Where prepared documents are kept and searched: one interface (rag.store.base), backends registered here.

    open_store(settings)                 -> Store (read side; IndexMissing when there is none)
    open_writer(settings, dimension=…, embed_backend=…, rebuild=…)  -> StoreWriter
    built_with(settings)                 -> Manifest | None (how the existing index was built)

`settings.store` names the backend: "local" (SQLite + FAISS + BM25 in settings.index_dir).
A new backend is one module with the three functions below, and one line in STORES.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from rag.errors import ConfigError, IndexMissing

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.store.base import Manifest, Store, StoreWriter

STORES = {"local": "rag.store.local", "milvus": "rag.store.milvus"}  # settings.store scheme -> module


def _backend(settings: "Settings"):
    scheme = settings.store.split(":", 1)[0]
    if scheme not in STORES:
        raise ConfigError(f"RAG_STORE={settings.store!r}: unknown store backend (known: {', '.join(STORES)})")
    return import_module(STORES[scheme])


def built_with(settings: "Settings") -> "Manifest | None":
    return _backend(settings).built_with(settings)


def require_index(settings: "Settings") -> "Manifest":
    manifest = built_with(settings)
    if manifest is None:
        raise IndexMissing(f"no index in {settings.index_dir}: build one with "
                           f"`python -m rag ingest PATH --index {settings.index_dir}`")
    return manifest


def open_store(settings: "Settings", check_model: bool = True) -> "Store":
    manifest = require_index(settings)
    if check_model:
        manifest.check_model(settings.model, str(settings.index_dir))
    return _backend(settings).open_store(settings)


def open_writer(settings: "Settings", *, dimension: int, embed_backend: str, parser_version: str,
                rebuild: bool = False) -> "StoreWriter":
    from rag.store.base import Manifest

    manifest = Manifest(model=settings.model, dimension=dimension, parser_version=parser_version,
                        backend=embed_backend, tokenizer=settings.keyword_tokenizer, context=settings.context_prefix,
                        store=settings.store.split(":", 1)[0])
    return _backend(settings).open_writer(settings, manifest, rebuild)


def embedding_backend(settings: "Settings") -> str:
    """The runtime to embed with: the one the existing index was built with, else the configured one
    (vectors of two runtimes differ a little, so one index never mixes them)."""
    built = built_with(settings)
    return built.backend if built is not None else settings.embed_backend
