"""The one object the CLI, the UI and the evaluation share: index + embedder + retriever + answerer."""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Iterator, Sequence

from rag.config import Settings
from rag.errors import BadQuestion, IndexMismatch
from rag.records import Answer, Hit
from rag.store.catalog import Filters

if TYPE_CHECKING:
    import numpy as np

MAX_QUESTION_CHARS = 2000
# A follow-up that leans on the previous question ("その費用は？", "what about Sendai?")
_FOLLOW_UP = re.compile(r"^(その|それ|この|これ|あの|同じ|では|じゃあ|また|and |what about|how about)|[はも][？?]?$", re.I)


class Pipeline:
    def __init__(self, settings: Settings | None = None, embedder=None):
        self.settings = settings or Settings()
        self._embedder = embedder
        self._index = None
        self._retriever = None
        self._answerer = None
        self._lock = threading.Lock()  # lazy loading from several UI sessions at once

    # ------------------------------------------------------------ lazy parts
    @property
    def embedder(self):
        if self._embedder is None:
            from rag.embedding.embedder import load_embedder
            from rag.store.index import embedding_backend

            s = self.settings
            backend = embedding_backend(s.index_dir, s.embed_backend)  # queries as the index was embedded
            self._embedder = load_embedder(s.model, s.model_cache, backend, s.embed_threads)
        return self._embedder

    @property
    def index(self):
        if self._index is None:
            from rag.store.index import Index

            self._index = Index.open(self.settings.index_dir, model=self.settings.model)
        return self._index

    @property
    def retriever(self):
        with self._lock:
            if self._retriever is None:
                from rag.retrieval import Retriever

                built, given = self.index.manifest.backend, self.embedder.backend
                if built != given:
                    raise IndexMismatch(f"the index in {self.settings.index_dir} was embedded with {built}; "
                                        f"questions embedded with {given} would not match it exactly")
                self._retriever = Retriever(self.index, self.embedder, self.settings.retrieval)
            return self._retriever

    @property
    def answerer(self):
        with self._lock:
            if self._answerer is None:
                self._answerer = self._make_answerer()
            return self._answerer

    def _make_answerer(self):
        from rag.answering.extractive import ExtractiveAnswerer

        def neighbours(turn_id: int) -> list[Hit]:
            return [Hit(i, t, m, 0.0) for i, t, m in self.retriever.context(turn_id, before=1, after=1)]

        extractive = ExtractiveAnswerer(self.embedder.embed_query, self.sentence_vectors, neighbours=neighbours)
        if self.settings.answer_mode == "extractive":
            return extractive
        from rag.answering.llm import make_llm_answerer  # raises LLMError (a RagError) on bad configuration

        return make_llm_answerer(self.settings, fallback=extractive)

    def sentence_vectors(self, turn_ids: list[int]) -> dict[int, list[tuple[int, int, "np.ndarray"]]]:
        """Sentence spans of turns with the vectors stored for them at ingest."""
        index = self.index
        rows = index.catalog.sentences_of(turn_ids)
        ids = [sid for spans in rows.values() for sid, _, _ in spans]
        vecs = dict(zip(ids, index.sentences.get(ids)))
        return {t: [(s, e, vecs[sid]) for sid, s, e in spans] for t, spans in rows.items()}

    def reload(self) -> None:
        """Pick up a new index generation (after an ingest)."""
        with self._lock:
            # questions already running keep the old generation (closed when garbage-collected)
            self._index = self._retriever = None

    # ------------------------------------------------------------ the work
    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None) -> list[Hit]:
        return self.retriever.search(_check(question), k or self.settings.top_k, filters)

    def _prepare(self, question: str, k: int | None, filters: Filters | None, history: Sequence[str]):
        question = _check(question)
        condense = getattr(self.answerer, "condense", None)  # LLM modes rewrite follow-ups with the LLM
        query = condense(question, history) if (condense and history) else search_query(question, history)
        qvec = self.embedder.embed_query(query)
        hits = self.retriever.search(query, max(k or self.settings.top_k, 8), filters, query_vector=qvec)
        return question, query, hits, qvec

    def ask(self, question: str, k: int | None = None, filters: Filters | None = None,
            history: Sequence[str] = ()) -> Answer:
        question, query, hits, qvec = self._prepare(question, k, filters, history)
        answer = self.answerer.answer(question, hits, history, query_vector=qvec, standalone=query)
        if k and answer.mode == "extractive":  # an LLM's text refers to all its citations by number
            answer.citations = answer.citations[:k]
        return answer

    def ask_stream(self, question: str, k: int | None = None, filters: Filters | None = None,
                   history: Sequence[str] = ()) -> Iterator[str | Answer]:
        """Text deltas as an LLM writes them, then exactly one checked Answer (only that, in extractive mode)."""
        question, query, hits, qvec = self._prepare(question, k, filters, history)
        stream = getattr(self.answerer, "answer_stream", None)
        if stream is None:
            yield self.answerer.answer(question, hits, history, query_vector=qvec, standalone=query)
            return
        yield from stream(question, hits, history, query_vector=qvec, standalone=query)

def search_query(question: str, history: Sequence[str]) -> str:
    """Extractive follow-ups carry the previous question's terms forward."""
    if history and (len(question) <= 12 or _FOLLOW_UP.search(question.strip())):
        return f"{history[-1]} {question}"
    return question


def _check(question: str) -> str:
    q = (question or "").strip()
    if not q:
        raise BadQuestion("the question is empty")
    if len(q) > MAX_QUESTION_CHARS:
        raise BadQuestion(f"the question is too long ({len(q)} characters; at most {MAX_QUESTION_CHARS})")
    return q
