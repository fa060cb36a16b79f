"""Checks on the timeline evaluation sets (eval/timeline/): structure, and every gold quote against the parser.

- each topic has an id (unique), a topic, a corpus that exists, known filters, gold turns;
- every gold and acceptable turn is found by the project's parser (rag.sources.folder.parse_file) in its document:
  one turn of that date holds the quote, spoken by the speaker recorded, at the turn order recorded;
- no turn is both gold and acceptable;
- the labelled change markers (changes.jsonl) and statement pairs (change_pairs.jsonl) are well formed, and the
  markers' quotes are in their documents.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETS = sorted((ROOT / "eval" / "timeline").glob("*.jsonl"))
TOPIC_SETS = [p for p in SETS if p.name not in ("changes.jsonl", "change_pairs.jsonl")]
FILTER_KEYS = {"body", "meeting", "since", "until", "speaker", "kind", "agenda"}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@lru_cache(maxsize=None)
def _parsed(corpus: str, doc: str):
    from rag.sources.folder import parse_file

    hits = [p for p in (ROOT / corpus).rglob(doc) if p.is_file()]
    assert len(hits) == 1, (corpus, doc, hits)
    return parse_file(hits[0])


def _turn(corpus: str, ref: dict):
    d = _parsed(corpus, ref["doc"])
    meetings = {m.id: m for m in d.meetings}
    found = [t for t in d.turns if ref["quote"] in t.text and (meetings[t.meeting_id].date or None) == ref.get("date")]
    if len(found) > 1:
        found = [t for t in found if t.order == ref.get("turn")] or found
    return found, meetings


def test_there_are_sets():
    names = {p.name for p in TOPIC_SETS}
    assert {"sample.jsonl", "dev.jsonl"} <= names


@pytest.mark.parametrize("path", TOPIC_SETS, ids=lambda p: p.name)
def test_set_structure(path: Path):
    items = _lines(path)
    assert len(items) >= 8
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids))
    for item in items:
        assert item["topic"].strip()
        assert (ROOT / item["corpus"]).is_dir(), item["corpus"]
        assert set(item.get("filters") or {}) <= FILTER_KEYS
        assert item["gold"], item["id"]
        keys = {(g["doc"], g.get("meeting"), g.get("date"), g["turn"]) for g in item["gold"]}
        assert len(keys) == len(item["gold"]), f"{item['id']}: a gold turn listed twice"
        acc = {(g["doc"], g.get("meeting"), g.get("date"), g["turn"]) for g in item.get("acceptable", [])}
        assert not keys & acc, f"{item['id']}: a turn both gold and acceptable: {keys & acc}"


@pytest.mark.parametrize("path", TOPIC_SETS, ids=lambda p: p.name)
def test_every_gold_quote_is_in_the_turn_the_parser_reads(path: Path):
    problems = []
    for item in _lines(path):
        for field in ("gold", "acceptable"):
            for ref in item.get(field, []):
                found, meetings = _turn(item["corpus"], ref)
                if len(found) != 1:
                    problems.append(f"{item['id']} {field}: {ref['doc']} {ref.get('date')} 「{ref['quote']}」: "
                                    f"{len(found)} turns hold it")
                    continue
                t = found[0]
                if t.order != ref["turn"] or t.speaker != ref["speaker"]:
                    problems.append(f"{item['id']} {field}: 「{ref['quote']}」 is turn {t.order} by {t.speaker}, "
                                    f"recorded as turn {ref['turn']} by {ref['speaker']}")
                m = meetings[t.meeting_id]
                if (m.name or None) != (ref.get("meeting") or None):
                    problems.append(f"{item['id']} {field}: meeting {m.name!r} recorded as {ref.get('meeting')!r}")
    assert not problems, "\n".join(problems)


def test_labelled_change_markers():
    path = ROOT / "eval" / "timeline" / "changes.jsonl"
    labels = _lines(path)
    assert labels
    for lab in labels:
        assert lab["kind"] in ("figure", "stance", "reference")
        assert isinstance(lab["correct"], bool) and lab.get("why")
        for side in ("before", "after"):
            ref = lab.get(side)
            if ref is None:
                assert side == "before" and lab["kind"] == "reference"
                continue
            found, _ = _turn(lab["corpus"], ref)
            assert len(found) == 1, (lab["id"], side, ref)


def test_statement_pairs():
    pairs = _lines(ROOT / "eval" / "timeline" / "change_pairs.jsonl")
    assert len(pairs) >= 30
    assert len({p["id"] for p in pairs}) == len(pairs)
    for p in pairs:
        assert p["a"]["text"] and p.get("why")
        assert set(p["expected"]) <= {"figure", "stance", "reference"}
        assert p["source"] == "constructed" or p["source"].startswith("corpus:")
        if p["source"].startswith("corpus:"):  # sentences taken from the minutes are verbatim
            doc = p["source"].split(":", 1)[1]
            hits = list((ROOT / "corpus").rglob(doc))
            assert hits, doc
            from rag.sources.folder import parse_file

            texts = [t.text for t in parse_file(hits[0]).turns]
            for side in ("a", "b"):
                if p.get(side):
                    assert any(p[side]["text"] in t for t in texts), (p["id"], side)
