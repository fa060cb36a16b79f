"""The coverage invariant: every non-whitespace character of the document text lies in exactly one
turn piece or one segment; spans do not overlap; each turn's text is the join of its pieces."""

from __future__ import annotations

from rag.records import ParsedDocument


def coverage_problems(doc: ParsedDocument, limit: int = 10) -> list[str]:
    problems: list[str] = []
    text = doc.text
    n = len(text)
    owner = [0] * (n + 1)
    spans: list[tuple[int, int, str]] = []
    for t in doc.turns:
        joined = "\n".join(text[s:e] for s, e in t.pieces)
        if joined != t.text:
            problems.append(f"turn {t.meeting_id}#{t.order} text differs from the join of its pieces")
        for s, e in t.pieces:
            spans.append((s, e, f"turn {t.order} ({t.speaker})"))
    for g in doc.segments:
        if text[g.start : g.end] != g.text:
            problems.append(f"segment {g.kind.value} {g.start}-{g.end} text differs from the document")
        spans.append((g.start, g.end, f"segment {g.kind.value}"))
    for s, e, what in spans:
        if not (0 <= s <= e <= n):
            problems.append(f"{what}: span {s}-{e} outside the text")
            continue
        for k in range(s, e):
            owner[k] += 1
    for k, c in enumerate(text):
        if owner[k] > 1 and not c.isspace():
            problems.append(f"offset {k} ({c!r}) is covered {owner[k]} times: {text[max(0, k - 15):k + 15]!r}")
        elif owner[k] == 0 and not c.isspace():
            problems.append(f"offset {k} ({c!r}) is not covered: {text[max(0, k - 15):k + 15]!r}")
        if len(problems) >= limit:
            break
    # overlaps (even on whitespace)
    ordered = sorted((s, e, w) for s, e, w in spans if s < e)
    for (s1, e1, w1), (s2, e2, w2) in zip(ordered, ordered[1:]):
        if s2 < e1:
            problems.append(f"{w1} {s1}-{e1} overlaps {w2} {s2}-{e2}")
            if len(problems) >= limit:
                break
    return problems[:limit]
