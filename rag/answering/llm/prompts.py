"""What the model is shown: prompt files (prompts/*.txt), {{name}} rendering, and the retrieved turns as
numbered sources [n], each a window of whole sentences around its best piece, wrapped in delimiters that
carry a per-request random id so that the data cannot forge them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from rag.answering.llm import LLMError
from rag.config import PROMPTS_DIR
from rag.indexing.chunking import sentence_spans
from rag.records import Hit

# Defaults of Settings.llm_max_turns / llm_turn_chars / llm_context_chars
MAX_TURNS = 6  # turns shown to the model
MAX_TURN_CHARS = 700  # window of each turn around its best piece
MAX_CONTEXT_CHARS = 4000  # all turns together


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


def clean(value: str | None) -> str:
    """Data may not forge a delimiter."""
    return re.sub(r"<{2,}|>{2,}", lambda m: "〈" * len(m.group(0)) if m.group(0)[0] == "<" else "〉" * len(m.group(0)),
                  value or "")


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
    seen: set[str] = set()
    used = 0
    for h in hits:
        if len(out) >= max_turns or used >= max_context_chars:
            break
        if h.turn_key in seen or not h.turn.text.strip():
            continue
        seen.add(h.turn_key)
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
            template, n=src.n, nonce=nonce, body=clean(m.body) or none, meeting=clean(m.name) or "", date=m.date or none,
            agenda=clean(t.agenda) or none, speaker=clean(t.speaker), role=clean(t.speaker_role) or none,
            kind=t.kind.value, text=clean(text),
        ))
    return "\n\n".join(blocks)
