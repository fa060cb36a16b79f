"""Retrieval units: one per turn, long turns split at sentence ends into overlapping pieces."""

from __future__ import annotations

import re

from rag.records import Meeting, Turn

# A sentence ends after 。！？!? (and any closing bracket right after them) or at a line break.
_SENTENCE_END = re.compile(r"(?<=[。！？!?])[」』）)]*|\n+")

MIN_SENTENCE_CHARS = 6  # shorter "sentences" (はい。) are never worth quoting on their own
MAX_CHARS = 320  # ≈ 200–260 e5 tokens of Japanese: well inside the 512-token window
OVERLAP_SENTENCES = 1


# text extracted from a PDF keeps the page's line breaks mid-sentence (「これまでの降\n雪委託料」): such a break is no
# sentence end when its line runs (nearly) to the page's width and ends without a sentence's punctuation
_ENDS_SENTENCE = tuple("。！？!?」』）)：:")
_OPENS_LINE = tuple("○◯〇◎●◆■□△▲（(〔「・")
WRAP_MIN = 20  # narrower lines are headings and lists, not a wrapped page


def wrap_width(text: str) -> int | None:
    """The width a hard-wrapped text breaks its lines at, or None when its lines are not wrapped."""
    widths = [len(ln.strip()) for ln in text.split("\n")[:-1] if len(ln.strip()) >= WRAP_MIN]
    if len(widths) < 3:
        return None
    width = max(set(widths), key=lambda w: (sum(abs(x - w) <= 1 for x in widths), w))
    near = sum(abs(x - width) <= 1 for x in widths)
    return width if near >= 3 and near >= 0.3 * len(widths) else None


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, whitespace trimmed, none empty."""
    spans, pos = [], 0
    width = wrap_width(text) if "\n" in text else None
    for m in _SENTENCE_END.finditer(text):
        if width and m.group(0) == "\n":
            line = text[text.rfind("\n", 0, m.start()) + 1:m.start()].strip()
            # (a line may break early before a long figure: ６,０２２万４,０００円 is not split across lines)
            if len(line) >= 0.8 * width and not line.endswith(_ENDS_SENTENCE) and \
                    not text[m.end():m.end() + 1].startswith(_OPENS_LINE):
                continue  # a wrapped line: the sentence goes on
        spans.append((pos, m.end()))
        pos = m.end()
    spans.append((pos, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def chunk_spans(text: str, max_chars: int = MAX_CHARS) -> list[tuple[int, int]]:
    """Pieces of a turn's text: whole sentences up to `max_chars`, one sentence of overlap."""
    sents = sentence_spans(text)
    if not sents:
        return [(0, len(text))] if text.strip() else []
    # a single over-long sentence is cut into windows
    units: list[tuple[int, int]] = []
    for s, e in sents:
        while e - s > max_chars:
            units.append((s, s + max_chars))
            s += max_chars - max_chars // 8
        units.append((s, e))
    chunks, i = [], 0
    while i < len(units):
        j = i
        while j + 1 < len(units) and units[j + 1][1] - units[i][0] <= max_chars:
            j += 1
        chunks.append((units[i][0], units[j][1]))
        if j + 1 >= len(units):
            break
        back = j + 1 - OVERLAP_SENTENCES
        # overlap only when the overlapping sentences fit together with the next one
        fits = back > i and units[j + 1][1] - units[back][0] <= max_chars
        i = back if fits else j + 1
    return chunks




def embedding_text(chunk: str, turn: Turn, meeting: Meeting, context: str) -> str:
    """The text embedded for a chunk, optionally prefixed with who said it and where."""
    if context == "none":
        return chunk
    who = turn.speaker_role or turn.speaker
    if turn.speaker_name and turn.speaker_name not in who:
        who = f"{who} {turn.speaker_name}"
    if context == "speaker":
        return f"{who}: {chunk}"
    where = " ".join(x for x in (meeting.body, meeting.name, meeting.date, turn.agenda) if x)
    return f"{where} / {who}: {chunk}"
