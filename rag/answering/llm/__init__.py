"""LLM answers, checked: an OpenAI-compatible chat model writes the answer, the checker keeps it honest.

Modes (Settings.answer_mode / RAG_ANSWER_MODE):
  openai-like  any OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio ...): RAG_LLM_BASE_URL, RAG_LLM_MODEL
  ollama       Ollama's /v1 endpoint (default base URL http://127.0.0.1:11434/v1), RAG_LLM_MODEL = the Ollama tag
  gguf         a local GGUF file (RAG_LLM_MODEL = its path, or "gemma3-270m" for the packaged test model) served
               in-process by xllamacpp's embedded llama.cpp server on 127.0.0.1 and a free port (optional extra)
All three talk through llama-index's `OpenAILike(is_chat_model=True)`; every knob comes from Settings (llm_*).

    prompts.py   prompt files, rendering, the retrieved turns as numbered sources [n]
    checking.py  check_answer (pure): every sentence held to the turns it cites, markers, injection filters
    answerer.py  LLMAnswerer: answer / answer_stream / condense / close, and the extractive fallback
    server.py    GGUFServer (the embedded llama.cpp server), packaged_gguf

The model sees each retrieved turn numbered [n], wrapped in delimiters carrying a per-request random id,
with its body, meeting, date, agenda and speaker; the prompts (prompts/*.txt) say that the turns are
data, never instructions. Whatever it writes goes through `check_answer`. When the model fails, times
out, or cites nothing it can be held to, the answer falls back to the extractive answerer and `notes`
say why. llama-index and xllamacpp are imported only when a model is actually used.
"""

from __future__ import annotations

from pathlib import Path

from rag.config import ANSWER_MODES
from rag.errors import RagError


class LLMError(RagError):
    """The LLM mode is misconfigured (no model named, xllamacpp missing, GGUF file not found)."""


# (defined before the submodules are imported: they raise LLMError)
from rag.answering.llm.answerer import LLMAnswerer  # noqa: E402
from rag.answering.llm.checking import (  # noqa: E402
    MIN_SUPPORT,
    UNVERIFIED_EN,
    UNVERIFIED_JA,
    Checked,
    check_answer,
    split_sentences,
)
from rag.answering.llm.prompts import Source, build_sources, load_prompt, render, render_sources  # noqa: E402
from rag.answering.llm.server import PACKAGED_GGUF, GGUFServer, packaged_gguf  # noqa: E402

LLM_MODES = ANSWER_MODES[1:]
DEFAULT_BASE_URLS = {"openai-like": "http://127.0.0.1:8080/v1", "ollama": "http://127.0.0.1:11434/v1"}
MAX_TOKENS = 512  # default of Settings.llm_max_tokens
TEMPERATURE = 0.0  # default of Settings.llm_temperature

__all__ = [
    "DEFAULT_BASE_URLS", "LLM_MODES", "MIN_SUPPORT", "PACKAGED_GGUF", "UNVERIFIED_EN", "UNVERIFIED_JA", "Checked",
    "GGUFServer", "LLMAnswerer", "LLMError", "Source", "build_sources", "check_answer", "load_prompt",
    "make_llm_answerer", "make_openai_like", "packaged_gguf", "render", "render_sources", "split_sentences",
]


def make_openai_like(base_url: str, model: str, api_key: str = "not-needed", timeout: float = 120.0,
                     max_tokens: int = MAX_TOKENS, temperature: float = TEMPERATURE):
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(model=model, api_base=base_url, api_key=api_key or "not-needed", is_chat_model=True,
                      timeout=timeout, max_retries=0, max_tokens=max_tokens, temperature=temperature,
                      context_window=32768, reuse_client=True)


def make_llm_answerer(settings, fallback=None) -> LLMAnswerer:
    """Settings (answer_mode, llm_*) -> LLMAnswerer.

    `fallback`: the answerer used when the LLM fails (rag.answering.make_answerer passes the extractive one).
    Raises LLMError for a configuration that cannot work (not an LLM mode, no model named, missing file).
    """
    mode = (settings.answer_mode or "").strip().lower()
    if mode not in LLM_MODES:
        raise LLMError(f"unknown answer mode {settings.answer_mode!r} (extractive, {', '.join(LLM_MODES)})")
    model = (settings.llm_model or "").strip()
    base_url = (settings.llm_base_url or "").strip()
    closer = None
    if mode == "gguf":
        if not model:
            raise LLMError("answer mode 'gguf' needs RAG_LLM_MODEL: the path of a .gguf file (or 'gemma3-270m')")
        path = packaged_gguf(Path(settings.model_cache) / "gguf") if model == PACKAGED_GGUF else Path(model)
        closer = GGUFServer(path, n_ctx=settings.llm_ctx, threads=settings.llm_threads, verbose=settings.llm_verbose)
        base_url, model = closer.base_url, closer.alias
    else:
        base_url = base_url or DEFAULT_BASE_URLS[mode]
        if not model:
            raise LLMError(f"answer mode '{mode}' needs RAG_LLM_MODEL: the model name the server knows")
    llm = make_openai_like(base_url, model, settings.llm_api_key, settings.llm_timeout, settings.llm_max_tokens,
                           settings.llm_temperature)
    return LLMAnswerer(llm, f"{mode}:{model}", fallback, timeout=settings.llm_timeout, closer=closer,
                       max_turns=settings.llm_max_turns, max_turn_chars=settings.llm_turn_chars,
                       max_context_chars=settings.llm_context_chars, min_support=settings.llm_min_support)
