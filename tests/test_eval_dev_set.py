"""Checks on the development question set eval/dev/questions.jsonl (over corpus/dev).

Every line is well formed, the counts per type meet the set's minimum, each question carries the split of its
document (eval/dev/split.py; a near-miss unanswerable question carries the split of the document it misses),
and every gold quote is an exact single-line substring of its document's parsed text, found once, inside
exactly one turn whose label is the gold speaker (the parser of every layout in the corpus is checked with it).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SET = ROOT / "eval" / "dev" / "questions.jsonl"
CORPUS = ROOT / "corpus" / "dev"
sys.path.insert(0, str(ROOT / "eval" / "dev"))
from split import split_of  # noqa: E402

QS = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]
ANSWERABLE = [q for q in QS if q["type"] != "unanswerable"]
MINIMUM = {"number": 40, "fact": 35, "who-said": 25, "stance": 20, "two-turn": 15, "procedure": 25, "english": 25,
           "unanswerable": 30}


@lru_cache(maxsize=None)
def parsed(doc: str):
    from rag.sources.folder import parse_file

    return parse_file(next(CORPUS.rglob(doc)))


def test_structure_counts_and_splits():
    assert len(QS) >= 250 and len({q["id"] for q in QS}) == len(QS)
    counts = Counter(q["type"] for q in QS)
    assert all(counts[t] >= n for t, n in MINIMUM.items()), counts
    assert {q["split"] for q in QS} == {"dev", "test"}
    for q in ANSWERABLE:
        assert q["split"] == split_of(q["doc"]), q["id"]
        assert q["quote"] and q["speaker"] and isinstance(q["key_facts"], list), q["id"]
    for q in QS:
        if q["type"] == "unanswerable":
            assert q["quote"] is None and q["doc"] is None and q["key_facts"] == [], q["id"]
    assert len({q["doc"] for q in ANSWERABLE}) >= 30


@pytest.mark.parametrize("q", ANSWERABLE, ids=[q["id"] for q in ANSWERABLE])
def test_quotes_lie_in_the_gold_speakers_turn(q):
    d = parsed(q["doc"])
    evidence = q.get("evidence") or [{"speaker": q["speaker"], "quote": q["quote"]}]
    if q.get("evidence"):
        assert evidence[-1]["quote"] == q["quote"] and evidence[-1]["speaker"] == q["speaker"]
    for e in evidence:
        assert "\n" not in e["quote"] and d.text.count(e["quote"]) == 1, e["quote"]
        holders = [t for t in d.turns if e["quote"] in t.text]
        assert len(holders) == 1 and holders[0].speaker == e["speaker"], (e, [t.speaker for t in holders])
