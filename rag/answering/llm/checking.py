"""The checker (pure functions: no I/O, no model): every sentence of the model's text is held to the turns
it cites.

  * a marker [n] that points at no turn is removed;
  * a sentence with no marker, or sharing too few character bigrams with the turn it cites, is kept but
    flagged "（未確認）"/"(unverified)", and a note says why;
  * each Citation quotes the sentence of the cited turn that overlaps the answer sentence most, an exact
    substring of the turn text (offsets included) so the UI can highlight it; citations are renumbered
    in order of appearance and the markers in the text rewritten to match;
  * sentences of a turn that read like instructions to a model ("ignore previous instructions ...") are
    never accepted as support nor quoted; echoes of the prompt's own delimiters are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Sequence

from rag.answering.base import citation
from rag.answering.llm.prompts import Source
from rag.indexing.chunking import sentence_spans
from rag.indexing.tokens import bigrams
from rag.records import Citation

MIN_SUPPORT = 0.3  # default of Settings.llm_min_support: share of a sentence's bigrams found in its turn
UNVERIFIED_JA = "（未確認）"
UNVERIFIED_EN = "(unverified) "

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


def content_grams(text: str, english: bool) -> set[str]:
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
    """Hold every sentence of `raw` to the turns it cites (see the module doc)."""
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
        grams = content_grams(claim, english)
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
