"""Meeting metadata read from the documents themselves (no sidecars), against the gold of every document of
the development corpus (eval/dev/metadata.jsonl): per field and per split, with regression floors.

The frozen `test` split (eval/dev/split.py) is measured here and never tuned on; its floors are the figures
measured when it was first run, so that a change that breaks unseen layouts fails.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from rag.evaluation.metrics import same_meeting

from rag.sources.folder import parse_file

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "eval" / "dev" / "metadata.jsonl"
CORPUS = ROOT / "corpus" / "dev"
FIELDS = ("body", "meeting", "date", "place")
# The target is 0.95 for every field. dev (43 documents, tuned on) holds it; the frozen test split (26
# documents, never tuned on) is guarded at what it measured on 2026-11-30 (body 23/26, meeting 21/26, date and
# place 26/26): a regression floor, not the target
FLOORS = {"dev": {"body": 0.95, "meeting": 0.95, "date": 0.95, "place": 0.95},
          "test": {"body": 0.88, "meeting": 0.80, "date": 0.95, "place": 0.95}}


def _norm(s: str | None) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s or ""))


def same(field: str, gold: str | None, got: str | None) -> bool:
    """Equal after NFKC and without spaces; a meeting name may add or lack a few characters of chrome
    (令和８年 before 警察委員会) but not be another meeting. A field the document does not state must stay empty."""
    if gold is None or got is None:
        return gold is None and got is None
    if field == "meeting":
        return same_meeting(gold, got)
    return _norm(gold) == _norm(got)


def accuracy() -> dict[str, dict[str, tuple[int, int]]]:
    out: dict[str, dict[str, list[int]]] = {}
    for line in GOLD.read_text(encoding="utf-8").splitlines():
        g = json.loads(line)
        m = parse_file(next(CORPUS.rglob(g["doc"]))).meetings[0]
        got = {"body": m.body, "meeting": m.name, "date": m.date, "place": m.place}
        split = out.setdefault(g["split"], {f: [0, 0] for f in FIELDS})
        for f in FIELDS:
            split[f][0] += same(f, g[f], got[f])
            split[f][1] += 1
    return {s: {f: (ok, n) for f, (ok, n) in v.items()} for s, v in out.items()}


@pytest.fixture(scope="module")
def measured():
    return accuracy()


def test_the_gold_covers_the_corpus():
    gold = {json.loads(x)["doc"] for x in GOLD.read_text(encoding="utf-8").splitlines()}
    docs = {p.name for p in CORPUS.rglob("*") if p.is_file() and p.name != "SOURCES.md"}
    assert gold == docs


@pytest.mark.parametrize("split", ["dev", "test"])
def test_metadata_accuracy_holds(measured, split):
    acc = {f: ok / n for f, (ok, n) in measured[split].items()}
    print(split, {f: f"{ok}/{n}" for f, (ok, n) in measured[split].items()})
    assert all(acc[f] >= FLOORS[split][f] for f in FIELDS), (acc, FLOORS[split])


def test_unstated_fields_stay_empty():
    """A document that states no body (a committee page of a scraper archive) is not given one by guessing."""
    assert same("body", None, None) and not same("body", None, "品川区議会") and not same("body", "横浜市会", None)


def test_title_rules_seen_on_unseen_documents():
    from rag.parsing.metadata import find_body, find_date, find_place, opened

    # 月 and 日 end a date, not a place name: 月形町, 日野市, 春日部市
    assert find_body("令和６年第１回月形町議会臨時会（１月２３日）") == "月形町議会"
    assert find_body("令和6年12月日野市議会定例会") == "日野市議会"
    assert find_body("令和6年9月春日部市議会定例会") == "春日部市議会"
    assert find_date(["令和６年第１回月形町議会臨時会（１月２３日）"]) == "2024-01-23"
    assert find_place(["２ 招集の場所 安平町議会議場"]) == "安平町議会議場"
    assert opened("ただいまから民生環境協議会を開きます。") == "民生環境協議会"
    assert opened("ただいまから、令和６年第１回月形町議会臨時会を開会いたします。") == "令和６年第１回臨時会"
    assert opened("ただいまから本日の会議を開きます。") is None
