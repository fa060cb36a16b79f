"""Answerers, one per mode, behind one interface (rag.answering.base.Answerer), registered here.

    make_answerer(settings, tools) -> Answerer     # the mode Settings.answer_mode names
    MODES: {"extractive", "openai-like", "ollama", "gguf"} -> builder(settings, tools)

`extractive` (default) quotes the retrieved sentences that answer, no LLM. The LLM modes
(rag.answering.llm) let a model write the answer and check it, falling back to the extractive answer
(built here for them) when the model cannot be used. Importing this package stays cheap: the
answerers, llama-index and xllamacpp are imported when one is built.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Callable

from rag.config import Settings

if TYPE_CHECKING:
    import numpy as np

    from rag.answering.base import Answerer
    from rag.answering.extractive import ExtractiveAnswerer
    from rag.records import Hit


@dataclass
class AnswerTools:
    """What the pipeline hands every answerer (all keyed by the store's turn keys)."""

    embed_query: Callable[[str], np.ndarray]
    # turn keys -> {turn key: [(start, end, vector)]}: the turns' sentences with the vectors stored at ingest
    sentence_vectors: Callable[[list[str]], dict[str, list[tuple[int, int, np.ndarray]]]]
    neighbours: Callable[[str], list[Hit]]  # turn key -> hits of the turns right around it (same meeting)


def _extractive(settings: Settings, tools: AnswerTools) -> ExtractiveAnswerer:
    from rag.answering.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer(tools.embed_query, tools.sentence_vectors, neighbours=tools.neighbours,
                              abstain_below=settings.abstain_below)


def _llm(mode: str, settings: Settings, tools: AnswerTools) -> Answerer:
    """An LLM mode, with the extractive answerer to fall back on. LLMError on a configuration that cannot work."""
    from rag.answering.llm import make_llm_answerer

    if settings.answer_mode != mode:
        settings = replace(settings, answer_mode=mode)
    return make_llm_answerer(settings, fallback=_extractive(settings, tools))


MODES: dict[str, Callable[[Settings, AnswerTools], Answerer]] = {
    "extractive": _extractive,
    "openai-like": partial(_llm, "openai-like"),
    "ollama": partial(_llm, "ollama"),
    "gguf": partial(_llm, "gguf"),
}


def make_answerer(settings: Settings, tools: AnswerTools) -> Answerer:
    """The answerer of Settings.answer_mode (Settings has already refused an unknown mode)."""
    return MODES[settings.answer_mode](settings, tools)
