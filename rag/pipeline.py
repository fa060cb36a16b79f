"""The one object the CLI, the UI and the evaluation share: store + embedder + retriever + answerer."""

from __future__ import annotations

import threading
from typing import Iterator, Sequence

from rag.answering.base import attribution_note, retrieved_entry
from rag.config import Settings
from rag.errors import BadQuestion, IndexMismatch
from rag.records import Answer, Filters, Hit

MAX_QUESTION_CHARS = 2000


class Pipeline:
    def __init__(self, settings: Settings | None = None, embedder=None):
        self.settings = settings or Settings()
        self._embedder = embedder
        self._store = None
        self._retriever = None
        self._answerer = None
        self._lock = threading.Lock()  # lazy loading from several UI sessions at once

    # ------------------------------------------------------------ lazy parts
    @property
    def embedder(self):
        if self._embedder is None:
            from rag.embedding.embedder import load_embedder
            from rag.store import embedding_backend

            s = self.settings
            backend = embedding_backend(s)  # queries are embedded as the index was
            self._embedder = load_embedder(s.model, s.model_cache, backend, s.embed_threads)
        return self._embedder

    @property
    def store(self):
        if self._store is None:
            from rag.store import open_store

            self._store = open_store(self.settings)
        return self._store

    @property
    def retriever(self):
        with self._lock:
            if self._retriever is None:
                from rag.retrieval import Retriever

                built, given = self.store.manifest.backend, self.embedder.backend
                if built != given:
                    raise IndexMismatch(f"the index in {self.settings.index_dir} was embedded with {built}; "
                                        f"questions embedded with {given} would not match it exactly")
                self._retriever = Retriever(self.store, self.embedder, self.settings.retrieval,
                                            self.settings.keyword_weight, self.settings.english_keyword_weight)
            return self._retriever

    @property
    def answerer(self):
        with self._lock:
            if self._answerer is None:
                from rag.answering import AnswerTools, make_answerer

                def neighbours(turn_key: str) -> list[Hit]:
                    return [Hit(k, t, m, 0.0) for k, t, m in self.retriever.context(turn_key, before=3, after=1)]

                tools = AnswerTools(embed_query=self.embedder.embed_query,
                                    sentence_vectors=lambda keys: self.store.sentences(keys), neighbours=neighbours)
                self._answerer = make_answerer(self.settings, tools)
            return self._answerer

    def reload(self) -> None:
        """Pick up a new index generation (after an ingest)."""
        with self._lock:
            # questions already running keep the old store (closed when garbage-collected)
            self._store = self._retriever = None

    # ------------------------------------------------------------ the work
    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None) -> list[Hit]:
        return self.retriever.search(_check(question), k or self.settings.top_k, filters)

    def _prepare(self, question: str, k: int | None, filters: Filters | None, history: Sequence[str]):
        question = _check(question)
        query = self.answerer.condense(question, history)  # the question itself when there is no history
        qvec = self.embedder.embed_query(query)
        # at least 8 turns to choose from, and at least --k of them listed as retrieved
        hits = self.retriever.search(query, max(k or self.settings.top_k, 8), filters, query_vector=qvec)
        return question, query, hits, qvec

    def ask(self, question: str, k: int | None = None, filters: Filters | None = None,
            history: Sequence[str] = ()) -> Answer:
        question, query, hits, qvec = self._prepare(question, k, filters, history)
        answer = self.answerer.answer(question, hits, history, query_vector=qvec, standalone=query)
        if k and answer.mode == "extractive":  # an LLM's text refers to all its citations by number
            answer.citations = answer.citations[:k]
        return _finish(answer, hits)

    def ask_stream(self, question: str, k: int | None = None, filters: Filters | None = None,
                   history: Sequence[str] = ()) -> Iterator[str | Answer]:
        """Text deltas as an LLM writes them, then exactly one checked Answer (only that, in extractive mode)."""
        question, query, hits, qvec = self._prepare(question, k, filters, history)
        for part in self.answerer.answer_stream(question, hits, history, query_vector=qvec, standalone=query):
            yield part if isinstance(part, str) else _finish(part, hits)


def _finish(answer: Answer, hits: list[Hit]) -> Answer:
    """What every answer carries whatever its mode: the turns it was chosen from, and the source notice of
    Diet minutes where it quotes them."""
    answer.retrieved = [retrieved_entry(i + 1, h) for i, h in enumerate(hits)]
    note = attribution_note(answer.citations or answer.related)
    if note and note not in answer.notes:
        answer.notes.append(note)
    return answer


def _check(question: str) -> str:
    q = (question or "").strip()
    if not q:
        raise BadQuestion("the question is empty")
    if len(q) > MAX_QUESTION_CHARS:
        raise BadQuestion(f"the question is too long ({len(q)} characters; at most {MAX_QUESTION_CHARS})")
    return q
