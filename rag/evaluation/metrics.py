"""Metric functions of the evaluation: pure, no model, no index (unit-tested in tests/test_evaluation.py).

Text matching is done on a normalised form: NFKC, then every whitespace character removed, on
both sides. A retrieved turn (or chunk) "holds" a gold quote when its normalised text contains
the normalised quote.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

from rag.answering.base import nfkc

# ------------------------------------------------------------------ normalisation


def holds(text: str | None, quote: str | None) -> bool:
    """Does `text` contain `quote` once both are normalised? An empty quote is never held."""
    q = nfkc(quote)
    return bool(q) and q in nfkc(text)


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_UNITS = {"兆": 10**12, "億": 10**8, "万": 10**4}
# 1兆2,000億3万4,567 / 2万9190 / 1.5億 / 5万8000: at least one unit, units in descending order
_UNIT_NUMBER = re.compile(
    r"(?:(\d+(?:\.\d+)?)兆)?(?:(\d+(?:\.\d+)?)億)?(?:(\d+(?:\.\d+)?)万)?(\d+(?:\.\d+)?)?"
)


def _fmt(value: float) -> str:
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def normalise_numbers(text: str | None) -> str:
    """Numbers written in any of the usual ways become plain digits.

    Full-width digits (NFKC), thousands separators and the units 万/億/兆 are resolved, so
    "２万９，１９０人", "2万9,190人" and "29190人" all become "29190人"; "1.5億円" becomes
    "150000000円". Whitespace is removed as in :func:`norm`. Kanji numerals (三十) are left as they are.
    """
    s = nfkc(text)
    s = _THOUSANDS.sub("", s)

    def repl(m: re.Match[str]) -> str:
        cho, oku, man, rest = m.groups()
        if cho is None and oku is None and man is None:
            return m.group(0)
        value = 0.0
        for part, unit in ((cho, "兆"), (oku, "億"), (man, "万")):
            if part is not None:
                value += float(part) * _UNITS[unit]
        if rest is not None:
            value += float(rest)
        return _fmt(value)

    out, pos = [], 0
    for m in _UNIT_NUMBER.finditer(s):
        if not m.group(0):
            continue
        # a match must start a number: not in the middle of one (e.g. "12万" seen from "2万")
        if m.start() > 0 and (s[m.start() - 1].isdigit() or s[m.start() - 1] == "."):
            continue
        out.append(s[pos : m.start()])
        out.append(repl(m))
        pos = m.end()
    out.append(s[pos:])
    return "".join(out)


def fact_present(fact: str, answer_text: str | None) -> bool:
    """A key fact is present when its number-normalised form occurs in the number-normalised answer.

    A fact such as "15名" must not match "115名": a fact that starts with a digit must not be preceded
    by one in the answer.
    """
    f = normalise_numbers(fact)
    a = normalise_numbers(answer_text)
    if not f:
        return False
    start = 0
    while True:
        i = a.find(f, start)
        if i < 0:
            return False
        digit_glued = f[0].isdigit() and i > 0 and (a[i - 1].isdigit() or a[i - 1] == ".")
        tail = i + len(f)
        digit_glued_after = f[-1].isdigit() and tail < len(a) and a[tail].isdigit()
        if not digit_glued and not digit_glued_after:
            return True
        start = i + 1


def key_fact_rate(facts: Sequence[str], answer_text: str | None) -> float | None:
    """Fraction of the key facts present in the answer (None when there are none)."""
    if not facts:
        return None
    return sum(fact_present(f, answer_text) for f in facts) / len(facts)


# ------------------------------------------------------------------ retrieval


def first_rank(texts: Sequence[str], quote: str | None) -> int | None:
    """1-based rank of the first text holding the quote, None if none does."""
    for i, t in enumerate(texts, 1):
        if holds(t, quote):
            return i
    return None


def hit_at(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / rank


def retrieval_summary(ranks: Sequence[int | None], k: int = 10) -> dict[str, float | int]:
    """hit@1/3/5/10 (those ≤ k), MRR (@k) and the hit@k curve for a list of ranks (None = miss)."""
    n = len(ranks)
    out: dict[str, Any] = {"n": n}
    if not n:
        return out
    for kk in (1, 3, 5, 10):
        if kk <= k:
            out[f"hit@{kk}"] = sum(hit_at(r, kk) for r in ranks) / n
    out["mrr"] = sum(reciprocal_rank(r) for r in ranks if r is None or r <= k) / n
    out["curve"] = [sum(hit_at(r, kk) for r in ranks) / n for kk in range(1, k + 1)]
    return out


# ------------------------------------------------------------------ citations


def gold_quotes(q: dict[str, Any]) -> list[str]:
    """All gold evidence quotes of a question: the evidence list of a two-turn question, else the quote."""
    if q.get("evidence"):
        return [e["quote"] for e in q["evidence"]]
    return [q["quote"]] if q.get("quote") else []


def citation_metrics(citations: Sequence[dict[str, Any]], q: dict[str, Any]) -> dict[str, Any]:
    """Citation quality of one answered question.

    * precision: the fraction of citations whose turn text holds some gold evidence quote
    * recall: the fraction of gold evidence quotes held by some citation's turn text
    * quote_hit: some citation's quote overlaps the answering quote (one contains the other), i.e. the
      very sentence was quoted, not only its turn
    * speaker_ok / meeting_ok: for the first citation whose turn holds the answering quote, is the speaker
      label (normalised) the gold one, and are the meeting name, document and date the gold ones.
      None when no citation holds it.
    """
    golds = gold_quotes(q)
    answering = q.get("quote")
    texts = [c.get("text", "") for c in citations]
    precision = (sum(any(holds(t, g) for g in golds) for t in texts) / len(texts)) if texts else None
    recall = (sum(any(holds(t, g) for t in texts) for g in golds) / len(golds)) if golds else None
    holder = next((c for c in citations if holds(c.get("text", ""), answering)), None)
    qa = nfkc(answering)
    quote_hit = any(qa and (qa in nfkc(c.get("quote")) or (nfkc(c.get("quote")) and nfkc(c.get("quote")) in qa))
                    for c in citations)
    speaker_ok = meeting_ok = None
    if holder is not None:
        speaker_ok = nfkc(holder.get("speaker")) == nfkc(q.get("speaker"))
        meeting_ok = (nfkc(holder.get("meeting")) == nfkc(q.get("meeting")) and holder.get("doc") == q.get("doc")
                      and (q.get("date") is None or holder.get("date") == q.get("date")))
    return {"precision": precision, "recall": recall, "cites_answer": holder is not None, "quote_hit": quote_hit,
            "speaker_ok": speaker_ok, "meeting_ok": meeting_ok, "n_citations": len(citations)}


def quote_coverage(citations: Sequence[dict[str, Any]], q: dict[str, Any]) -> float:
    """The share of the gold quote's characters that the cited words cover (0 when no citation quotes its turn).
    Both are exact substrings of the turn text, so this is the overlap of two spans of it."""
    gold = q.get("quote") or ""
    best = 0.0
    for c in citations:
        text = c.get("text") or ""
        g = text.find(gold) if gold else -1
        if g < 0:
            continue
        overlap = max(0, min(g + len(gold), int(c.get("quote_end", 0))) - max(g, int(c.get("quote_start", 0))))
        best = max(best, overlap / len(gold))
    return best


def metadata_checks(citations: Sequence[dict[str, Any]], gold: dict[str, dict[str, Any]]) -> dict[str, list[bool]]:
    """For each citation whose document's gold metadata states a body or a date: is the citation's right?
    The gold describes a document's (first) meeting: a citation from another meeting of the same file (a Diet
    search result holding several meetings, an archive's threads of one day) is not checked against it."""
    out: dict[str, list[bool]] = {"body": [], "date": []}
    for c in citations:
        g = gold.get(c.get("doc") or "")
        if not g or not same_meeting(g.get("meeting"), c.get("meeting")):
            continue
        for field in ("body", "date"):
            if g.get(field):
                out[field].append(nfkc(c.get(field)) == nfkc(g[field]))
    return out


def same_meeting(gold: str | None, got: str | None) -> bool:
    """Equal after NFKC without spaces, or one inside the other give or take a few characters of chrome (令和８年,
    第5号); a gold that states no meeting matches any."""
    if not gold:
        return True
    a, b = (re.sub(r"\s+", "", nfkc(x or "")) for x in (gold, got))
    return a == b or (bool(b) and (a in b or b in a) and abs(len(a) - len(b)) <= 6)


# ------------------------------------------------------------------ abstention


def outcome(answerable: bool, abstained: bool, correct: bool) -> str:
    """One of: correct, incorrect (answered, not supported), wrong_abstention, correct_abstention, wrong_answer."""
    if answerable:
        if abstained:
            return "wrong_abstention"
        return "correct" if correct else "incorrect"
    return "correct_abstention" if abstained else "wrong_answer"


def threshold_sweep(items: Sequence[dict[str, Any]], thresholds: Iterable[float] | None = None,
                    step: float = 0.005) -> list[dict[str, Any]]:
    """What abstaining below t would give, for each t, without re-running anything.

    Each item has `answerable` (bool), `confidence` (float) and `correct` (bool: the answer the
    pipeline gives when it does not abstain is supported). Abstaining below t means answered iff
    confidence >= t, which is exactly the ExtractiveAnswerer's rule.
    """
    items = list(items)
    if thresholds is None:
        confs = [float(i["confidence"]) for i in items] or [0.0]
        lo = math.floor(min(confs) / step) * step - step
        hi = math.ceil(max(confs) / step) * step + step
        n = int(round((hi - lo) / step))
        thresholds = [round(lo + j * step, 4) for j in range(n + 1)]
    rows = []
    for t in thresholds:
        c = {"correct": 0, "incorrect": 0, "wrong_abstention": 0, "correct_abstention": 0, "wrong_answer": 0}
        for i in items:
            c[outcome(bool(i["answerable"]), float(i["confidence"]) < t, bool(i["correct"]))] += 1
        answered = c["correct"] + c["incorrect"] + c["wrong_answer"]
        rows.append({"threshold": t, **c, "score": c["correct"] + c["correct_abstention"],
                     "answered": answered,
                     "precision": (c["correct"] / answered) if answered else None})
    return rows


def suggest_threshold(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The threshold maximising correct answers + correct abstentions: the middle of the widest best plateau."""
    if not rows:
        return None
    best = max(r["score"] for r in rows)
    runs, cur = [], []
    for r in rows:
        if r["score"] == best:
            cur.append(r)
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    widest = max(runs, key=len)
    mid = widest[(len(widest) - 1) // 2]
    return {**mid, "plateau": [widest[0]["threshold"], widest[-1]["threshold"]]}


# ------------------------------------------------------------------ aggregation


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), None for no values."""
    vals = sorted(values)
    if not vals:
        return None
    pos = (len(vals) - 1) * p / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
