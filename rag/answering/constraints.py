"""What a question pins down, and whether a piece of evidence meets it.

Near-miss questions name a real topic of the minutes together with a year, a meeting, a place, a
person or a name that the minutes do not have for it (「下関市議会の令和6年12月定例会で…」 when
only the September session speaks of it). Evidence (a turn, its meeting's metadata and the turns
next to it) answers such a question only if it meets every constraint the question states.
Extraction is conservative (explicit years, 第N回, municipalities and persons as Sudachi tags them,
quoted names); matching is lenient (anywhere in that evidence, in any written form of the year).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from rag.answering.base import nfkc
from rag.english import place_stem, places_named
from rag.language import is_english, proper_nouns
from rag.parsing.metadata import find_body
from rag.parsing.dates import find_english_year_months, find_year_months, kanji_number
from rag.records import Hit, SpeakerKind
from rag.indexing.tokens import analyse, normalise

_ORDINAL = re.compile(r"第([0-9０-９一二三四五六七八九十]+)回")
# an item of business: 市第54号議案, 議案第70号, 請願第3号, 日程第五 (its number must be the evidence's)
_ITEM = re.compile(r"(日程)?第([0-9０-９一二三四五六七八九十百]+)(号)?")
# a figure asked for: 何人, いくら… (a year of a fiscal-year figure must then be in what was said, not only the
# meeting's date: 「令和5年度の不登校児童生徒数」 is not answered by 令和四年度's, said in November 2023)
_ASKS_FIGURE = re.compile(r"何|いくら|どれ(だけ|くらい|ほど)")
_QUOTED = re.compile(r"[「『]([^」』]{2,30})[」』]")
_BARE_YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])")  # DXパッケージ2024, ICT戦略2015
_ERA_NAMES = {"令和", "平成", "昭和", "大正", "明治"}


@dataclass(frozen=True)
class Constraint:
    kind: str  # "date", "meeting", "committee", "item", "place", "person", "name"
    label: str  # as the question writes it: 令和6年12月, 第1回, 第54号, 盛岡市, 関谷博, ふくふく母子モ
    year: int | None = None
    month: int | None = None
    said: bool = False  # a date that must be said in the evidence (the meeting's own date does not count)

    def reason(self, english: bool) -> str:
        if english:
            return f"No statement matching '{self.label}' in the question was found."
        return f"質問の『{self.label}』に当たる発言は見つかりませんでした。"


def question_constraints(question: str, places: Sequence[str] = ()) -> list[Constraint]:
    """Years (with month), meeting numbers, places, persons and quoted names the question states.
    `places`: Japanese place and body names an English question may name in romaji (Hakodate -> 函館)."""
    if is_english(question):
        dates = find_english_year_months(question)
        out = [Constraint("date", question[a:b], y, m) for a, b, y, m in dates]
        out += [Constraint("place", place_stem(name)) for name in places_named(question, places)]
        return list(dict.fromkeys(out))
    q = normalise(question)
    figure = bool(_ASKS_FIGURE.search(q))
    out = [Constraint("date", q[a:b], y, m, said=figure and "年度" in q[a:b]) for a, b, y, m in find_year_months(q)]
    out += [Constraint("meeting", f"第{kanji_number(n)}回") for n in dict.fromkeys(_ORDINAL.findall(q))]
    names = proper_nouns(q)
    out += [Constraint("committee", name) for name in committees_named(q, [w for kind, w in names if kind == "place"])]
    out += [Constraint("item", _item_label(m)) for m in _ITEM.finditer(q) if m.group(1) or m.group(3)]
    # a quoted name (「ふくふく母子モ」), not a quoted clause (「インターネットで申請や届出ができる」)
    out += [Constraint("name", nfkc(s)) for s in dict.fromkeys(_QUOTED.findall(q))
            if not any(m.part_of_speech()[0] == "動詞" for m in analyse(s))]
    out += [Constraint(kind, word) for kind, word in names]
    # what a figure is asked of: 「発電出力は何万キロワットか」 is not answered by a figure of 導入容量; only a compound of
    # two or more nouns is specific enough to check (a single word, 手続 or 会期, is often said otherwise: 手續, 会議期間)
    labels = [c.label for c in out]
    out += [Constraint("subject", m.group("subj")) for m in _COUNTED_SUBJECT.finditer(q)
            if len(subject_nouns(m.group("subj"))) >= 2 and not any(m.group("subj") in lab or lab in m.group("subj") for lab in labels)]
    return [c for c in dict.fromkeys(out) if c.label not in _ERA_NAMES]


# a figure asked of something: 「契約金額はいくらか」「発電出力は何万キロワットか」「予算総額がいくらになるのか」
_COUNTED_SUBJECT = re.compile(r"(?P<subj>[一-龥ァ-ヶー々・]{2,20})(?:は|が|を)[、，]?[^、。？?]{0,12}?"
                              r"(?:何[万億千百]?(?:円|人|名|件|回|日|時|年|か所|箇所|校|台|基|棟|戸|社|団体|世帯|倍|割|%|％|キロ|トン)|"
                              r"いくら|どれ(?:だけ|くらい|ほど)|どの(?:くらい|程度))")


def subject_nouns(label: str) -> list[str]:
    """The nouns of a subject, each to be found in the evidence (予算総額 -> 予算, 総額: 「予算の総額は」 meets it)."""
    return [nfkc(m.surface()).lower() for m in analyse(label)
            if m.part_of_speech()[0] == "名詞" and m.part_of_speech()[1] != "数詞" and len(m.surface()) >= 2]


# the committee a question says it was said in: 「品川区の区民委員会で」「衆議院文部科学委員会において」
_IN_COMMITTEE = re.compile(r"(?<![0-9０-９一二三四五六七八九十])(?P<name>[一-龥ァ-ヶー・]{2,24}?(?:委員会|審査会|調査会|協議会|分科会))(?=で|において|の(?:会議|審議|質疑|初回|席上))")
_COMMITTEE_WORD = re.compile(r"(?:特別|常任)?(?:委員会|審査会|調査会|協議会|分科会)$")
# boards of the executive that share the word 委員会 (教育委員会の方針) are no meeting
_BOARDS = ("教育委員会", "選挙管理委員会", "人事委員会", "公安委員会", "農業委員会", "公平委員会", "収用委員会", "規制委員会")


def committees_named(question: str, places: Sequence[str] = ()) -> list[str]:
    """The committees the question says its words were said in, without the body or `places` before them
    (品川区区民委員会 -> 区民委員会)."""
    bodies = ["衆議院", "参議院"] + [b for b in [find_body(question)] if b] + list(places)
    out = []
    for m in _IN_COMMITTEE.finditer(question):
        name = re.sub(r"^.*[0-9０-９一二三四五六七八九十元](?:年度|年|回|月|日|号)(?=[一-龥ァ-ヶー])", "", m.group("name"))  # 第1回…, 令和6年…
        for b in sorted(bodies, key=len, reverse=True):
            if name.startswith(b) and len(name) > len(b) + 2:
                name = name[len(b):]
                break
        if len(name) > 3 and not name.endswith(_BOARDS) and name not in out:
            out.append(name)
    return out


def _names_committee(label: str, evidence: str) -> bool:
    """区民委員会 in 区民委員会; 地域活性化・こども政策・デジタル社会形成特別委員会 in its official name ("…に関する
    特別委員会"): every part of the name before 委員会 is there."""
    if label in evidence:
        return True
    core = _COMMITTEE_WORD.sub("", label)
    parts = [p for p in re.split(r"[・、等及び]", core) if len(p) >= 2]
    return bool(parts) and _COMMITTEE_WORD.search(label) is not None and all(p in evidence for p in parts)


def places_in(hits: Sequence[Hit]) -> list[str]:
    """Bodies, meeting places and municipalities named in the hits: what an English question's romaji may mean."""
    out = [x for h in hits for x in (h.meeting.body, h.meeting.place) if x]
    for h in hits:
        out += [word for kind, word in proper_nouns(h.turn.text[:1500]) if kind == "place"]
    return list(dict.fromkeys(out))


_NAMED = re.compile(r"[^\s、。]{1,8}[ \u3000]?(?:議員|委員|君|さん|氏|委員長|副委員長|大臣|市長|区長|知事)(?![会])")


def names_a_person(sentence: str, hit: Hit | None = None) -> bool:
    """The sentence names someone (Sudachi's 人名, or a name with 議員/委員/君/さん…); with `hit`, a speaker
    printed with a name counts too (委員（村本ひろや）: the question asks whose words these are)."""
    if hit is not None and hit.turn.speaker_name:
        return True
    return bool(_NAMED.search(sentence)) or any(kind == "person" for kind, _ in proper_nouns(sentence))


def unmet(constraints: list[Constraint], hit: Hit,
          neighbours: Callable[[str], list[Hit]] | None = None) -> list[Constraint]:
    """The constraints that neither the turn (which holds the cited sentences), its meeting nor the turns
    next to it meet (a reply leaves the place or person of the member's question it answers unsaid)."""
    own = _evidence(hit)
    missing = [c for c in constraints if not _meets(c, own, hit)]
    if missing and neighbours is not None:
        around = "\n".join(_evidence(h) for h in neighbours(hit.turn_key))
        missing = [c for c in missing if not _meets(c, around, hit)]
    if any(c.kind in ("person", "place") for c in missing) and neighbours is not None \
            and hit.turn.kind in (SpeakerKind.EXECUTIVE, SpeakerKind.SECRETARIAT):
        asked = _question_answered(hit, neighbours)
        if asked is not None:
            text = _evidence(asked)
            missing = [c for c in missing if c.kind not in ("person", "place") or not _meets(c, text, hit)]
    # what cannot be checked, because the minutes do not state the field, never refuses an answer on its own
    return [c for c in missing if not _uncheckable(c, hit)]


REPLY_REACH = 12  # turns back from a reply to the member's question it answers (other replies and chair calls between)


def _question_answered(hit: Hit, neighbours: Callable[[str], list[Hit]]) -> Hit | None:
    """The member's turn a reply answers: the nearest member turn before it in the meeting (in a plenary the mayor,
    the superintendent and a deputy mayor answer one member's question in turn, the chair calling each)."""
    key, seen = hit.turn_key, {hit.turn_key}
    while True:
        before = sorted((h for h in neighbours(key) if h.turn.order < hit.turn.order and h.turn_key not in seen),
                        key=lambda h: -h.turn.order)
        if not before:
            return None
        for h in before:
            seen.add(h.turn_key)
            if h.turn.kind is SpeakerKind.MEMBER:
                return h
            if hit.turn.order - h.turn.order >= REPLY_REACH:
                return None
        key = before[-1].turn_key


def _uncheckable(c: Constraint, hit: Hit) -> bool:
    m = hit.meeting
    return ((c.kind == "date" and not m.date and not c.said) or (c.kind == "place" and not (m.body or m.place))
            or (c.kind in ("meeting", "committee") and not m.name))


def _evidence(hit: Hit) -> str:
    t, m = hit.turn, hit.meeting
    # the speaker's full name where the source states it (the Diet API's 長島昭久 behind the label 長島（昭）委員)
    parts = (t.speaker, t.speaker_name, t.agenda, t.text, m.body, m.name, m.place, " ".join(m.agenda))
    text = "|".join(nfkc(p or "") for p in parts).lower()  # normalised as the question's labels are
    text = _ORDINAL.sub(lambda m: f"第{kanji_number(m.group(1))}回", text)  # 第三回 -> 第3回, as labels are
    return _ITEM.sub(lambda m: _item_label(m) if (m.group(1) or m.group(3)) else m.group(0), text)


def _item_label(m: re.Match) -> str:
    return f"{m.group(1) or ''}第{kanji_number(m.group(2))}{m.group(3) or ''}"


def _meets(c: Constraint, text: str, hit: Hit) -> bool:
    if c.kind == "meeting":  # a meeting whose name states its number is that meeting, whatever its turns mention
        own = _ORDINAL.findall(nfkc(hit.meeting.name))
        if own:
            return c.label in {f"第{kanji_number(n)}回" for n in own}
    if c.kind == "committee":
        return _names_committee(nfkc(c.label).lower(), text)
    if c.kind == "subject":
        return all(n in text for n in subject_nouns(c.label))
    if c.kind != "date":
        return c.label in text
    said = {(y, m) for _, _, y, m in find_year_months(text)} | {(int(y), None) for y in _BARE_YEAR.findall(text)}
    if hit.meeting.date and not c.said:  # the meeting's own date, in its calendar and its fiscal year
        y, m = (int(x) for x in hit.meeting.date.split("-")[:2])
        said |= {(y, m), (y, None), (y if m >= 4 else y - 1, None)}
    if c.month is None:
        return any(y == c.year for y, _ in said)
    return (c.year, c.month) in said


def content_nouns(text: str) -> set[str]:
    """Nouns of two or more characters (normalised forms), numbers left out: what a sentence is about."""
    return {m.normalized_form() for m in analyse(text)
            if m.part_of_speech()[0] == "名詞" and m.part_of_speech()[1] != "数詞" and len(m.surface()) >= 2}
