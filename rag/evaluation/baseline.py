"""A plain llama-index baseline to measure the project's retrieval against.

Whole documents (the same parsed text the product indexes, read from every format) are split with llama-index's `SentenceSplitter`
(its default chunk size and overlap), embedded with the SAME embedding model as the project (through
a small `BaseEmbedding` adapter over `rag.embedding.embedder.Embedder`) into an in-memory
`VectorStoreIndex`, and the top-k chunks are retrieved. No speaker turns, no keyword search, no
metadata. A hit is a chunk containing the gold quote (normalised as everywhere in the evaluation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def make_embedding(embedder: Any, batch_size: int = 8):
    """A llama-index BaseEmbedding over the project's Embedder (query / passage prompts kept)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class MinutesEmbedding(BaseEmbedding):
        _embedder: Any = PrivateAttr()
        _batch: int = PrivateAttr()

        def __init__(self, emb: Any, batch: int, **kw: Any):
            super().__init__(model_name=getattr(emb, "model_id", "embedder"), embed_batch_size=max(1, batch), **kw)
            self._embedder = emb
            self._batch = batch

        @classmethod
        def class_name(cls) -> str:
            return "MinutesEmbedding"

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embedder.embed_query(query).tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embedder.embed_passages([text], batch_size=1)[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embedder.embed_passages(list(texts), batch_size=self._batch).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        async def _aget_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embedding(text)

    return MinutesEmbedding(embedder, batch_size)


class LlamaIndexBaseline:
    """Build once (embeds every chunk), then `retrieve(question, k) -> list[str]` of chunk texts."""

    def __init__(self, corpus: Path, embedder: Any, batch_size: int = 8):
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter

        from rag.errors import SourceError
        from rag.readers import read
        from rag.sources import FolderSource, Skipped

        docs = []
        for raw in FolderSource([Path(corpus)]).documents():  # the same parsed text the product indexes
            if isinstance(raw, Skipped):
                continue
            try:
                text = read(raw).text
            except SourceError:
                continue
            docs.append(Document(text=text, metadata={"doc": raw.name},
                                 excluded_embed_metadata_keys=["doc"], excluded_llm_metadata_keys=["doc"]))
        self.documents = [d.metadata["doc"] for d in docs]
        self.splitter = SentenceSplitter()
        nodes = self.splitter.get_nodes_from_documents(docs)
        self.chunks = len(nodes)
        self.chunk_size = self.splitter.chunk_size
        self.chunk_overlap = self.splitter.chunk_overlap
        # tokens the embedder sees of each chunk (e5 truncates at 512): reported, since it limits the baseline
        try:
            counts = embedder.token_count([n.get_content() for n in nodes])
            self.truncated = sum(c > embedder.max_tokens for c in counts)
        except Exception:  # pragma: no cover - a model without a tokenizer
            self.truncated = None
        self.index = VectorStoreIndex(nodes, embed_model=make_embedding(embedder, batch_size), show_progress=False)

    def retrieve(self, question: str, k: int = 10) -> list[str]:
        retriever = self.index.as_retriever(similarity_top_k=k)
        return [n.node.get_content() for n in retriever.retrieve(question)]

    def describe(self) -> dict[str, Any]:
        return {"pipeline": "llamaindex", "splitter": "SentenceSplitter", "chunk_size": self.chunk_size,
                "chunk_overlap": self.chunk_overlap, "chunks": self.chunks, "documents": self.documents,
                "chunks_truncated_by_embedder": self.truncated, "vector_store": "SimpleVectorStore (in memory)"}
