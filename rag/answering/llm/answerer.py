"""LLMAnswerer: answer / answer_stream / condense / close over any llama-index chat LLM (OpenAILike in
practice). The model's text goes through check_answer; when the model fails, times out, or cites nothing
it can be held to, the answer falls back to the extractive answerer and `notes` say why."""

from __future__ import annotations

import logging
import re
import secrets
import time
from pathlib import Path
from typing import Iterator, Sequence

from rag.answering.base import NO_ANSWER_EN, NO_ANSWER_JA, Answerer, citation, is_english
from rag.answering.llm.checking import MIN_SUPPORT, Checked, check_answer, content_grams
from rag.answering.llm.prompts import (
    MAX_CONTEXT_CHARS,
    MAX_TURN_CHARS,
    MAX_TURNS,
    Source,
    build_sources,
    clean,
    load_prompt,
    render,
    render_sources,
)
from rag.config import PROMPTS_DIR
from rag.records import Answer, Hit

log = logging.getLogger(__name__)


class LLMAnswerer:
    """answer / answer_stream / condense / close over any llama-index LLM (OpenAILike in practice)."""

    streams = True  # answer_stream yields the model's text deltas before the checked Answer
    condenses = True  # condense() asks the model to rewrite a follow-up

    def __init__(self, llm, name: str, fallback: Answerer | None = None, *, timeout: float = 120.0,
                 prompts_dir: Path | str = PROMPTS_DIR, max_turns: int = MAX_TURNS,
                 max_turn_chars: int = MAX_TURN_CHARS, max_context_chars: int = MAX_CONTEXT_CHARS,
                 min_support: float = MIN_SUPPORT, closer=None):
        self.llm = llm
        self.name = name
        self.fallback = fallback  # an Answerer (ExtractiveAnswerer) used when the LLM cannot be held to its sources
        self.timeout = timeout
        self.prompts_dir = Path(prompts_dir)
        self.max_turns, self.max_turn_chars, self.max_context_chars = max_turns, max_turn_chars, max_context_chars
        self.min_support = min_support
        self._closer = closer  # e.g. the embedded GGUF server
        # read once: a missing or broken prompt file fails at start, not at the first question
        self.prompts = {p: load_prompt(p, self.prompts_dir)
                        for p in ("answer_ja", "answer_en", "condense_ja", "condense_en", "turn_ja", "turn_en")}

    # ---------------------------------------------------------------- prompts
    def messages(self, question: str, sources: Sequence[Source], english: bool, nonce: str | None = None):
        from llama_index.core.llms import ChatMessage

        nonce = nonce or secrets.token_hex(4)
        p = self.prompts["answer_en" if english else "answer_ja"]
        no_answer = NO_ANSWER_EN if english else NO_ANSWER_JA
        system = render(p["system"], nonce=nonce, no_answer=no_answer)
        user = render(p["user"], question=clean(question), nonce=nonce, no_answer=no_answer,
                      sources=render_sources(sources, english, nonce, self.prompts["turn_en" if english else "turn_ja"]["text"]))
        return [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]

    # ---------------------------------------------------------------- condensing
    def condense(self, question: str, history: Sequence[str] = ()) -> str:
        """The query to search for: the follow-up made standalone by the LLM (see condense_detail)."""
        return self.condense_detail(question, history)[0]

    def condense_detail(self, question: str, history: Sequence[str] = ()) -> tuple[str, str, str]:
        """A follow-up ("その費用は？") rewritten by the LLM into a standalone question, for retrieval.

        No history: the question as it is. When the LLM fails or returns something unusable, the
        previous question and this one joined (what the extractive pipeline searches for).
        Returns (standalone question, how: "as-is" | "llm" | "joined", the LLM's raw output or the error).
        """
        history = tuple(h for h in history if h and h.strip())[-6:]
        if not history:
            return question, "as-is", ""
        from llama_index.core.llms import ChatMessage

        english = is_english(question)
        p = self.prompts["condense_en" if english else "condense_ja"]
        hist = "\n".join(f"- {clean(h)}" for h in history)
        msgs = [ChatMessage(role="system", content=p["system"]),
                ChatMessage(role="user", content=render(p["user"], history=hist, question=clean(question)))]
        joined = f"{history[-1]} {question}"
        try:
            t0 = time.monotonic()
            resp = self.llm.chat(msgs, max_tokens=96)
            raw = resp.message.content or ""
            log.info("condense took %.1f s", time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - any client failure means: use the plain join
            log.warning("condense failed (%s): %s", type(e).__name__, e)
            return joined, "joined", _reason(e)
        line = next((ln.strip() for ln in raw.splitlines() if ln.strip()), "")
        line = re.sub(r"^(書き直した質問|standalone question|rewritten question|新しい質問|new question|質問|question)"
                      r"\s*[:：]\s*", "", line, flags=re.I)
        line = line.strip(" 「」\"'`*")
        given = content_grams(" ".join(history) + " " + question, english)
        usable = (len(line) >= 4 and len(line) <= max(200, 3 * len(joined)) and not line.startswith("<")
                  and not line.endswith((":", "：")) and bool(content_grams(line, english) & given))
        return (line, "llm", raw) if usable else (joined, "joined", raw)

    # ---------------------------------------------------------------- answering
    def answer(self, question: str, hits: list[Hit], history: Sequence[str] = (), *, query_vector=None,
               standalone: str | None = None) -> Answer:
        final = None
        for item in self.answer_stream(question, hits, history, query_vector=query_vector, standalone=standalone):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def answer_stream(self, question: str, hits: list[Hit], history: Sequence[str] = (), *,
                      query_vector=None, standalone: str | None = None) -> Iterator[str | Answer]:
        """Yields the model's text deltas as they come, then the checked Answer (always last, always one).

        The final Answer's text replaces what was streamed: markers are renumbered, unsupported sentences
        flagged, or the whole answer is the extractive one when the LLM could not be used.
        ``standalone``: the follow-up already rewritten by :meth:`condense` (the pipeline does that before
        retrieval); condensed here when not given.
        """
        t0 = time.monotonic()
        english = is_english(question)
        standalone = standalone or self.condense(question, history)
        sources = build_sources(hits, self.max_turns, self.max_turn_chars, self.max_context_chars)
        if not sources:
            yield self._fall_back(question, hits, history, query_vector, "no turns were retrieved")
            return
        msgs = self.messages(standalone, sources, english)
        parts: list[str] = []
        try:
            stream = self.llm.stream_chat(msgs)
            try:
                for chunk in stream:
                    delta = chunk.delta or ""
                    if delta:
                        parts.append(delta)
                        yield delta
                    if time.monotonic() - t0 > self.timeout:
                        raise TimeoutError(f"no complete answer within {self.timeout:g} s")
            finally:
                close = getattr(stream, "close", None)
                if close:
                    close()
        except Exception as e:  # noqa: BLE001 - connection refused, HTTP errors, timeouts: all fall back
            yield self._fall_back(question, hits, history, query_vector, _reason(e))
            return
        raw = "".join(parts)
        elapsed = time.monotonic() - t0
        if not raw.strip():
            yield self._fall_back(question, hits, history, query_vector, "the LLM returned no text")
            return
        checked = check_answer(raw, sources, english, self.min_support)
        if checked.no_answer and not checked.citations:
            yield self._fall_back(question, hits, history, query_vector,
                                  "the LLM said the retrieved turns do not answer the question", raw=raw)
            return
        if not checked.citations:
            yield self._fall_back(question, hits, history, query_vector,
                                  "the LLM cited no turn that supports its answer", raw=raw, checked=checked)
            return
        notes = ["Quotes are in the original Japanese."] if english else []
        notes.append(f"Answer written by {self.name} in {elapsed:.1f} s; every sentence was checked against the "
                     f"turns it cites ({checked.supported} supported, {checked.flagged} unverified)")
        if standalone != question:
            notes.append(f"follow-up read as: {standalone}")
        notes.extend(checked.notes)
        yield Answer(question, checked.text, False, checked.citations, self.name, [], notes, checked.confidence)

    def _fall_back(self, question, hits, history, query_vector, reason: str, raw: str = "",
                   checked: Checked | None = None) -> Answer:
        log.warning("LLM answer unavailable (%s): %s", self.name, reason)
        note = f"LLM answer unavailable ({self.name}): {reason}; showing the extractive answer instead"
        if self.fallback is not None:
            ans = self.fallback.answer(question, hits, history, query_vector=query_vector)
        else:
            english = is_english(question)
            related = [citation(i + 1, h, h.piece_start, h.piece_end) for i, h in enumerate(hits[:3])]
            ans = Answer(question, NO_ANSWER_EN if english else NO_ANSWER_JA, True, [], "none", related, [], 0.0)
        ans.notes = [note] + list(ans.notes) + (checked.notes[:5] if checked else [])
        return ans

    def close(self) -> None:
        if self._closer is not None:
            self._closer.close()
            self._closer = None


def _reason(e: Exception) -> str:
    name = type(e).__name__
    if "Timeout" in name or isinstance(e, TimeoutError):
        return f"the LLM timed out ({e})" if str(e) else "the LLM timed out"
    if "Connection" in name:
        return f"cannot reach the LLM server ({name})"
    return f"{name}: {str(e)[:200]}"
