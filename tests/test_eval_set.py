"""Checks on the evaluation question sets eval/questions.jsonl and eval/holdout.jsonl.

- every line is a JSON object with the required fields and a known type; ids are unique
- enough questions and enough unanswerable ones (MINIMUM); the holdout set shares no question with the other
- every gold quote (and every evidence quote) is an exact substring of its document
- every gold speaker is the label of the turn that holds the quote, checked twice:
  by reading the raw lines (the label printed above the quote, no project code involved)
  and with the project's parser (rag.sources.folder.parse_file -> ParsedDocument.turns)
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "questions.jsonl"
HOLDOUT = ROOT / "eval" / "holdout.jsonl"  # near-miss unanswerable questions and controls, not tuned on
CORPUS = ROOT / "corpus" / "sample"

TYPES = {"number", "fact", "who-said", "stance", "two-turn", "paraphrase", "english", "unanswerable"}
REQUIRED = ("id", "question", "answer", "type", "doc", "meeting", "date", "speaker", "quote", "key_facts")
NULL_WHEN_UNANSWERABLE = ("answer", "doc", "meeting", "date", "speaker", "quote")


def _load(path: Path) -> list[dict]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:  # pragma: no cover - reported by the test below
            pytest.fail(f"line {n}: not valid JSON: {e}")
        assert isinstance(obj, dict), f"line {n}: not a JSON object"
        obj["_line"] = n
        out.append(obj)
    return out


SETS = {"questions": _load(QUESTIONS), "holdout": _load(HOLDOUT)}
# minimum (questions, unanswerable) per set
MINIMUM = {"questions": (80, 10), "holdout": (30, 20)}


@pytest.fixture(params=sorted(SETS))
def set_name(request) -> str:
    return request.param


@pytest.fixture
def QS(set_name: str) -> list[dict]:
    return SETS[set_name]


@pytest.fixture
def ANSWERABLE(QS: list[dict]) -> list[dict]:
    return [q for q in QS if q.get("type") != "unanswerable"]


def _items(q: dict) -> list[tuple[str, str, str]]:
    """(tag, speaker, quote) for the gold quote and every evidence quote."""
    items = [("quote", q["speaker"], q["quote"])]
    for i, ev in enumerate(q.get("evidence") or []):
        items.append((f"evidence[{i}]", ev["speaker"], ev["quote"]))
    return items


@lru_cache(maxsize=None)
def _raw(doc: str) -> str:
    return (CORPUS / doc).read_text(encoding="utf-8")


# ---------------------------------------------------------------- structure


def test_every_line_has_required_fields_and_known_type(QS):
    assert QS, "no questions"
    for q in QS:
        where = f"line {q['_line']} ({q.get('id')})"
        missing = [k for k in REQUIRED if k not in q]
        assert not missing, f"{where}: missing fields {missing}"
        assert q["type"] in TYPES, f"{where}: unknown type {q['type']!r}"
        assert isinstance(q["question"], str) and q["question"].strip(), f"{where}: empty question"
        assert isinstance(q["key_facts"], list), f"{where}: key_facts must be a list"


def test_ids_unique(QS):
    ids = [q["id"] for q in QS]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    assert not dup, f"duplicate ids: {dup}"


def test_enough_questions(set_name, QS):
    least, least_unanswerable = MINIMUM[set_name]
    assert len(QS) >= least, f"only {len(QS)} questions"
    n_un = sum(q["type"] == "unanswerable" for q in QS)
    assert n_un >= least_unanswerable, f"only {n_un} unanswerable questions"


def test_holdout_is_new():
    """The held-out set shares no id and no question with the development set."""
    dev = SETS["questions"]
    assert not {q["id"] for q in dev} & {q["id"] for q in SETS["holdout"]}
    assert not {q["question"] for q in dev} & {q["question"] for q in SETS["holdout"]}


def test_unanswerable_have_no_gold(QS):
    for q in QS:
        if q["type"] != "unanswerable":
            continue
        for k in NULL_WHEN_UNANSWERABLE:
            assert q[k] is None, f"{q['id']}: unanswerable but {k} = {q[k]!r}"
        assert q["key_facts"] == [], f"{q['id']}: unanswerable but key_facts given"
        assert not q.get("evidence"), f"{q['id']}: unanswerable but evidence given"


def test_answerable_have_gold(ANSWERABLE):
    docs = {p.name for p in CORPUS.glob("*.txt")}
    for q in ANSWERABLE:
        assert q["doc"] in docs, f"{q['id']}: unknown doc {q['doc']!r}"
        for k in ("answer", "meeting", "speaker", "quote"):
            assert isinstance(q[k], str) and q[k].strip(), f"{q['id']}: empty {k}"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", q["date"] or ""), f"{q['id']}: bad date {q['date']!r}"
        assert q["key_facts"] and all(isinstance(f, str) and f for f in q["key_facts"]), f"{q['id']}: no key_facts"
        assert not q["speaker"].startswith(("○", "◎")), f"{q['id']}: speaker keeps the ○/◎ marker"
        assert not q["speaker"].endswith((":", "：")), f"{q['id']}: speaker keeps the trailing colon"


def test_two_turn_evidence(QS):
    for q in QS:
        if q["type"] != "two-turn":
            assert "evidence" not in q or q["type"] != "unanswerable"
            continue
        ev = q.get("evidence")
        assert isinstance(ev, list) and len(ev) >= 2, f"{q['id']}: two-turn needs >= 2 evidence turns"
        for e in ev:
            assert set(e) >= {"speaker", "quote"}, f"{q['id']}: evidence item without speaker/quote"
        last = ev[-1]
        assert (last["speaker"], last["quote"]) == (q["speaker"], q["quote"]), (
            f"{q['id']}: the gold speaker/quote must be the answering (last) evidence turn"
        )
        raw = _raw(q["doc"])
        positions = [raw.find(e["quote"]) for e in ev]
        assert positions == sorted(positions), f"{q['id']}: evidence not in document order"


# ---------------------------------------------------------------- quotes


def test_quotes_are_exact_substrings(ANSWERABLE):
    bad = []
    for q in ANSWERABLE:
        raw = _raw(q["doc"])
        for tag, _spk, quote in _items(q):
            if quote not in raw:
                bad.append(f"{q['id']} {tag}: {quote!r}")
    assert not bad, "quotes not found verbatim in their document:\n" + "\n".join(bad)


def test_quotes_single_line_and_unambiguous(ANSWERABLE):
    bad = []
    for q in ANSWERABLE:
        raw = _raw(q["doc"])
        for tag, _spk, quote in _items(q):
            if "\n" in quote:
                bad.append(f"{q['id']} {tag}: spans a line break")
            elif raw.count(quote) != 1:
                bad.append(f"{q['id']} {tag}: occurs {raw.count(quote)} times")
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------- speakers: raw-line check (no project code)

_INLINE = re.compile(r"^(委員長|副委員長|委員|事務局)[:：]")  # 000/001: label before the statement
_ALONE_002 = {"委員長", "副委員長", "委員", "事務局", "員長委"}  # 002: label alone on its line ("員長委" is garbled in the source)


def _label_above(doc: str, raw: str, pos: int) -> str | None:
    line_start = raw.rfind("\n", 0, pos) + 1
    line_end = raw.find("\n", pos)
    line_end = len(raw) if line_end < 0 else line_end
    current = raw[line_start:line_end]
    above = raw[:line_start].split("\n")[::-1]
    if doc.startswith(("000", "001")):
        for i, line in enumerate([current] + above):
            m = _INLINE.match(line.strip())
            if m:
                return m.group(1)
            if i and (line.startswith("議題") or line.strip() == "主な質疑等"):
                return None
        return None
    for line in above:
        s = line.strip()
        if doc.startswith("002") and s in _ALONE_002:
            return s
        if doc.startswith("003") and s.startswith("○"):
            return s[1:]
        if doc.startswith("004") and s.startswith("◎"):
            return s[1:]
    return None


def test_speaker_is_label_above_quote_in_raw_text(ANSWERABLE):
    bad = []
    for q in ANSWERABLE:
        raw = _raw(q["doc"])
        for tag, spk, quote in _items(q):
            pos = raw.find(quote)
            if pos < 0:
                continue  # reported by test_quotes_are_exact_substrings
            got = _label_above(q["doc"], raw, pos)
            if got != spk:
                bad.append(f"{q['id']} {tag}: gold {spk!r}, label above the quote is {got!r}")
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------- speakers: the project's parser


@lru_cache(maxsize=None)
def _parsed(doc: str):
    from rag.sources.folder import parse_file as parse_path

    return parse_path(CORPUS / doc)


def _turn_speakers_for(parsed, quote: str) -> list[str]:
    """Speakers of the turns whose pieces hold `quote` (located in doc.text, else in turn texts)."""
    speakers = []
    start = parsed.text.find(quote)
    while start >= 0:
        end = start + len(quote)
        for t in parsed.turns:
            if any(s <= start and end <= e for s, e in t.pieces) or (t.start <= start and end <= t.end and quote in t.text):
                speakers.append(t.speaker)
        start = parsed.text.find(quote, start + 1)
    if not speakers:  # the reader normalised the text: fall back to the turn texts
        speakers = [t.speaker for t in parsed.turns if quote in t.text]
    return speakers


def test_speaker_matches_parser_turn(ANSWERABLE):
    bad = []
    for q in ANSWERABLE:
        parsed = _parsed(q["doc"])
        for tag, spk, quote in _items(q):
            found = _turn_speakers_for(parsed, quote)
            if not found:
                bad.append(f"{q['id']} {tag}: quote not inside any parsed turn: {quote!r}")
            elif spk not in found:
                bad.append(f"{q['id']} {tag}: gold {spk!r}, parser turn speaker {found}")
    assert not bad, f"{len(bad)} mismatches with the parser:\n" + "\n".join(bad)
