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
from rag.english import HOUSES, place_stem, places_named
from rag.language import is_english, officers_elected_by, proper_nouns
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
    day: int | None = None  # of a sitting: 2026年2月24日の衆議院本会議, 3月1日の一般質問
    fiscal: bool = False  # a sitting's year written as a fiscal year (令和6年度定例会)

    def reason(self, english: bool) -> str:
        if english:
            return f"No statement matching '{self.label}' in the question was found."
        return f"質問の『{self.label}』に当たる発言は見つかりませんでした。"


def question_constraints(question: str, places: Sequence[str] = ()) -> list[Constraint]:
    """Years (with month), meeting numbers, places, persons and quoted names the question states.
    `places`: Japanese place and body names an English question may name in romaji (Hakodate -> 函館)."""
    if is_english(question):
        out = english_sittings(question)
        named = places_named(question, [*places, *HOUSES])  # either house, whether or not the evidence is from it
        houses = [n for n in named if n in HOUSES]
        out += [Constraint("body", houses[0])] if len(houses) == 1 else []
        out += [Constraint("place", place_stem(name)) for name in named if name not in HOUSES]
        return list(dict.fromkeys(out))
    q = normalise(question)
    figure = bool(_ASKS_FIGURE.search(q))
    out = sittings(q)
    taken = [c.label for c in out]
    out += [Constraint("date", q[a:b], y, m, said=figure and "年度" in q[a:b]) for a, b, y, m in find_year_months(q)
            if not any(q[a:b] in t for t in taken)]
    out += [Constraint("body", b) for b in bodies_named(q)]
    out += [Constraint("meeting", f"第{kanji_number(n)}回") for n in dict.fromkeys(_ORDINAL.findall(q))]
    names = proper_nouns(q)
    out += [Constraint("committee", name) for name in committees_named(q, [w for kind, w in names if kind == "place"])]
    out += [Constraint("item", _item_label(m)) for m in _ITEM.finditer(q) if m.group(1) or m.group(3)]
    out += [Constraint("ordinal", _ordinal_label(m)) for m in _COUNTER.finditer(q)]
    # a quoted name (「ふくふく母子モ」), not a quoted clause (「インターネットで申請や届出ができる」)
    out += [Constraint("name", nfkc(s)) for s in dict.fromkeys(_QUOTED.findall(q))
            if not any(m.part_of_speech()[0] == "動詞" for m in analyse(s))]
    # a member whose question a reply answers (「平子議員の質問に対し、学校教育部長は…」): that member's question, not any turn
    # naming them, must be what the evidence answers
    askers = askers_named(q)
    out += [Constraint("asker", a) for a in askers]
    out += [Constraint(kind, word) for kind, word in names
            if not (kind == "person" and any(word in a or a in word for a in askers))]
    # what a figure is asked of: 「発電出力は何万キロワットか」 is not answered by a figure of 導入容量; only a compound of
    # two or more nouns is specific enough to check (a single word, 手続 or 会期, is often said otherwise: 手續, 会議期間)
    labels = [c.label for c in out]
    for m in _COUNTED_SUBJECT.finditer(q):
        subj = m.group("subj")
        head = subj.split("の")[-1]
        if any(lab in subj[:len(subj) - len(head)] for lab in labels):  # 墨田区の給付金: the place is checked already
            subj = head
        if len(subject_nouns(subj)) >= 2 and not any(subj in lab or lab in subj for lab in labels):
            out.append(Constraint("subject", subj))
    return [c for c in dict.fromkeys(out) if c.label not in _ERA_NAMES]


# a year, a month or a day that dates the sitting the question is about (「2022年11月の参議院憲法審査会で」
# 「令和5年第1回臨時会で」「3月1日の一般質問に」): the meeting's own date must be it, whatever years its turns mention
_SITTING_AFTER = re.compile(r"^(?:の|に(?:開かれた|開催された|行われた))?[^、。？?「」『』]{0,24}?"
                            r"(?:本会議|委員会|審査会|調査会|協議会|分科会|定例会|臨時会|緊急議会|議会|市会|衆議院|参議院|一般質問)")
_SITTING_BEFORE = re.compile(r"(?:本会議|委員会|審査会|調査会|協議会|分科会|定例会|臨時会|緊急議会|議運)[（(]$")  # 予算特別委員会（2025年2月21日）
_FISCAL_SITTING = re.compile(r"^(?:[0-9０-９一二三四五六七八九十]+月)?(?:定例会|臨時会|緊急議会|第[0-9０-９一二三四五六七八九十]+回(?:定例会|臨時会))")
_DAY = re.compile(r"^([0-9０-９一二三四五六七八九十]+)日")
_MONTH_DAY = re.compile(r"(?<![年0-9０-９一二三四五六七八九十])([0-9０-９一二三四五六七八九十]{1,2})月([0-9０-９一二三四五六七八九十]{1,3})日")


def sittings(q: str) -> list[Constraint]:
    """The dates of the sitting a (normalised) question names: year, month and day as far as it states them."""
    out, spans = [], []
    for a, b, y, m in find_year_months(q):
        fiscal = "年度" in q[a:b]
        day = None
        d = _DAY.match(q[b:]) if m else None
        if d:
            day, b = kanji_number(d.group(1)), b + d.end()
        if (_FISCAL_SITTING.match(q[b:]) if fiscal else _SITTING_AFTER.match(q[b:])) or _SITTING_BEFORE.search(q[:a]):
            out.append(Constraint("sitting", q[a:b], y, m, day=day, fiscal=fiscal))
            spans.append((a, b))
    for md in _MONTH_DAY.finditer(q):
        if not any(a <= md.start() < b for a, b in spans) and _SITTING_AFTER.match(q[md.end():]):
            out.append(Constraint("sitting", md.group(0), None, kanji_number(md.group(1)), day=kanji_number(md.group(2))))
    return out


# an English question's date of the sitting: "on 6 December 2023 in the House of Councillors", "Naie town's February
# 2024 extraordinary session" (a date near the meeting the question is about; not "fiscal 2023", not an event's year
# far from it: "recognised in 2001")
_EN_MEETING = re.compile(r"\b(?:session|meeting|sitting|committee|commission|council|assembly|plenary|house)\b", re.I)
_EN_DAY_BEFORE = re.compile(r"\b([0-9]{1,2})\s+$")
_EN_NEAR = 40


def english_sittings(q: str) -> list[Constraint]:
    out = []
    for a, b, y, m in find_english_year_months(q):
        day = _EN_DAY_BEFORE.search(q[:a]) if m else None
        near = q[max(0, a - _EN_NEAR): b + _EN_NEAR]
        if _EN_MEETING.search(near) and not re.search(r"(?:fiscal|FY)\s*$", q[:a], re.I):
            out.append(Constraint("sitting", q[a:b], y, m, day=int(day.group(1)) if day else None))
        else:
            out.append(Constraint("date", q[a:b], y, m))
    return out


# the assembly or house the question says it was said in: 衆議院/参議院 (not 衆議院議員…), 〇〇市議会, 横浜市会
_HOUSE = re.compile(r"(衆議院|参議院)(?!議員|議長|選挙|選|の?議員)")
_CITY_COUNCIL = re.compile(r"(?<![一-龥])([一-龥]{1,5}市)会(?=で|の|に|は|が|において)")


def bodies_named(q: str) -> list[str]:
    houses = list(dict.fromkeys(_HOUSE.findall(q)))
    if houses:
        return houses if len(houses) == 1 else []  # both named: a bill passed by one and sent to the other
    body = find_body(q)
    if body and body.endswith("議会") and body not in ("衆議院", "参議院"):
        return [body]
    m = _CITY_COUNCIL.search(q)
    return [m.group(1) + "会"] if m else []


# an ordinal of something other than a meeting or an item (第1工区, 第2期, 第三次): the evidence must state that one
_COUNTER = re.compile(r"第([0-9０-９一二三四五六七八九十]+)(工区|期|次|弾|段階|条|項|款|章|編|部|区)(?![一-龥])")


def _ordinal_label(m: re.Match) -> str:
    return f"第{kanji_number(m.group(1))}{m.group(2)}"


# 「平子勇輔議員の質問に対し」「白井議員が…と求めたのに対し」「井上委員の一般質問への答弁」: the member asking
_ASKER = re.compile(r"(?:議員|委員|君|氏|さん)(?:の[^、。？]{0,20}?(?:質問|質疑|要望|指摘|提案)(?:に対し|に対して|への|を受け|に)|"
                    r"が[^、。？]{0,40}?(?:求め|質問し|尋ね|問う|問い|提案し|指摘し|要望し)[^、。？]{0,6}?(?:のに対し|に対して|を受け))")
_ASKER_BOUNDARY = re.compile(r"[のはでがにをと、。「」（）()\s　0-9０-９]")


def askers_named(q: str) -> list[str]:
    out = []
    for m in _ASKER.finditer(q):
        name = re.sub(r"^[ぁ-ん]+(?=[一-龥ァ-ヶ])", "", _ASKER_BOUNDARY.split(q[:m.start()])[-1])  # という米川 -> 米川
        if len(name) >= 2 and name not in out:
            out.append(name)
    return out


# a figure asked of something: 「契約金額はいくらか」「発電出力は何万キロワットか」「予算総額がいくらになるのか」
_COUNTED_SUBJECT = re.compile(r"(?<![一-龥ァ-ヶー々・0-9０-９])(?P<subj>(?:[一-龥ァ-ヶー々・]{2,12}の)?[一-龥ァ-ヶー々・]{2,20})(?:は|が|を)[、，]?[^、。？?]{0,12}?"
                              r"(?:何[万億千百]?(?:円|人|名|件|回|日|時|年|か所|箇所|校|台|基|棟|戸|社|団体|世帯|倍|割|%|％|キロ|トン)|"
                              r"いくら|どれ(?:だけ|くらい|ほど)|どの(?:くらい|程度))")


def subject_nouns(label: str) -> list[str]:
    """The nouns of a subject, each to be found in the evidence (予算総額 -> 予算, 総額: 「予算の総額は」 meets it)."""
    return [nfkc(m.surface()).lower() for m in analyse(label)
            if m.part_of_speech()[0] == "名詞" and m.part_of_speech()[1] != "数詞" and len(m.surface()) >= 2
            and m.surface() not in _WHEN_WORDS]


_WHEN_WORDS = {"令和", "平成", "昭和", "年度", "今年", "本年", "今回", "前年", "当初", "現在", "時点"}  # when, not what


# the committee a question says it was said in: 「品川区の区民委員会で」「衆議院文部科学委員会において」
_IN_COMMITTEE = re.compile(r"(?<![0-9０-９一二三四五六七八九十])(?P<name>[一-龥ァ-ヶー・]{2,24}?(?:委員会|審査会|調査会|協議会|分科会))(?=(?:[（(][^（()）]{1,20}[）)])?(?:で|において|の(?:会議|審議|質疑|初回|席上)))")
# a committee whose officers the question asks about elects them in its own meeting (unless the question names the
# sitting that heard them reported: 「臨時会で建設委員会の委員長に決まったのは」)
_SITTING_WORD = re.compile(r"本会議|定例会|臨時会|緊急議会")
_COMMITTEE_WORD = re.compile(r"(?:特別|常任)?(?:委員会|審査会|調査会|協議会|分科会)$")
# boards of the executive that share the word 委員会 (教育委員会の方針) are no meeting
_BOARDS = ("教育委員会", "選挙管理委員会", "人事委員会", "公安委員会", "農業委員会", "公平委員会", "収用委員会", "規制委員会")


def committees_named(question: str, places: Sequence[str] = ()) -> list[str]:
    """The committees the question says its words were said in, without the body or `places` before them
    (品川区区民委員会 -> 区民委員会)."""
    bodies = ["衆議院", "参議院"] + [b for b in [find_body(question)] if b] + list(places)
    out = []
    officers = [] if _SITTING_WORD.search(question) else officers_elected_by(question)
    for name in [m.group("name") for m in _IN_COMMITTEE.finditer(question)] + officers:
        name = re.sub(r"^.*[0-9０-９一二三四五六七八九十元](?:年度|年|回|月|日|号)(?=[一-龥ァ-ヶー])", "", name)  # 第1回…, 令和6年…
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
    next to it meet (a reply leaves the place or person of the member's question it answers unsaid). The sitting's
    date, the house or assembly and a committee whose meeting this is are the meeting's own; the member asking is
    the one whose question the turn answers."""
    own = _evidence(hit)
    missing = []
    for c in constraints:
        if c.kind in ("sitting", "body"):
            if not _meets_meeting(c, hit, neighbours):
                missing.append(c)
        elif c.kind == "asker":
            asker = _asker_met(c, hit, neighbours)
            if not (asker or _meets(c, own, hit)) and (asker is False or neighbours is None or not _meets(
                    c, "\n".join(_evidence(h) for h in neighbours(hit.turn_key)), hit)):
                missing.append(c)
        elif not _meets(c, own, hit):
            missing.append(c)
    if neighbours is not None and any(c.kind not in ("sitting", "body", "asker") for c in missing):
        around = "\n".join(_evidence(h) for h in neighbours(hit.turn_key))
        missing = [c for c in missing if c.kind in ("sitting", "body", "asker") or not _meets(c, around, hit)]
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
            or (c.kind in ("meeting", "committee") and not m.name) or (c.kind == "body" and not m.body)
            or (c.kind == "sitting" and not m.date and not _years_of_name(m.name) and c.year is None))


def _years_of_name(name: str | None) -> list[tuple[int, int | None, bool]]:
    n = nfkc(name or "")
    return [(y, mo, "年度" in n[a:b]) for a, b, y, mo in find_year_months(n)]


def _sitting_met(c: Constraint, hit: Hit) -> bool | None:
    """Whether the meeting is the sitting the question dates; None when neither its date nor its name says."""
    m = hit.meeting
    if m.date:
        y, mo, d = (int(x) for x in m.date.split("-")[:3])
        fy = y if mo >= 4 else y - 1
        return (c.year is None or c.year == (fy if c.fiscal else y)) and (c.month is None or c.month == mo) \
            and (c.day is None or c.day == d)
    named = _years_of_name(m.name)  # no date: the year its name states (令和６年第１回臨時会)
    if named:
        return any(c.year == y and (c.month is None or mo is None or c.month == mo) for y, mo, _ in named)
    return None


def _committee_meeting(name: str | None) -> bool:
    return bool(re.search(r"委員会|審査会|調査会|協議会|分科会", nfkc(name or "")))


def _flat(s: str | None) -> str:
    return re.sub(r"[（）()\s　]", "", nfkc(s or ""))


def _meets_meeting(c: Constraint, hit: Hit, neighbours: Callable[[str], list[Hit]] | None) -> bool:
    """The constraints whose field is the meeting's or the turn's own, checked there (True: met; False: not met or
    not of these kinds). What the meeting does not state falls back to the words of the evidence."""
    m = hit.meeting
    if c.kind == "sitting":
        met = _sitting_met(c, hit)
        if met is None and c.year is not None:  # no date nor year in the meeting's name: years the turns say
            return _meets(Constraint("date", c.label, c.year, c.month), _evidence(hit), hit)
        return bool(met)
    if c.kind == "body" and m.body:
        body, label = nfkc(m.body), nfkc(c.label)
        if label in ("衆議院", "参議院"):
            return label in body
        # an assembly: the meeting's body, or its name in the turn's own words when the body was read otherwise
        return label in body or (len(body) >= 3 and body in label) or label in _evidence(hit)
    return False


def _asker_met(c: Constraint, hit: Hit, neighbours: Callable[[str], list[Hit]] | None) -> bool | None:
    """A member's own turn, or the reply to their question; None when the turn's asker cannot be told."""
    name = _flat(c.label)
    if hit.turn.kind is SpeakerKind.MEMBER:
        return name in _flat(hit.turn.speaker) + _flat(hit.turn.speaker_name)
    if hit.turn.kind in (SpeakerKind.EXECUTIVE, SpeakerKind.SECRETARIAT) and neighbours is not None:
        asked = _question_answered(hit, neighbours)
        if asked is not None:
            return name in _flat(asked.turn.speaker) + _flat(asked.turn.speaker_name)
    return None


def _evidence(hit: Hit) -> str:
    t, m = hit.turn, hit.meeting
    # the speaker's full name where the source states it (the Diet API's 長島昭久 behind the label 長島（昭）委員)
    parts = (t.speaker, t.speaker_name, t.agenda, t.text, m.body, m.name, m.place, " ".join(m.agenda))
    text = "|".join(nfkc(p or "") for p in parts).lower()  # normalised as the question's labels are
    text = _ORDINAL.sub(lambda m: f"第{kanji_number(m.group(1))}回", text)  # 第三回 -> 第3回, as labels are
    text = _COUNTER.sub(_ordinal_label, text)
    return _ITEM.sub(lambda m: _item_label(m) if (m.group(1) or m.group(3)) else m.group(0), text)


def _evidence_of_meeting(hit: Hit) -> str:
    return "|".join(nfkc(p or "") for p in (hit.meeting.body, hit.meeting.name)).lower()


def _item_label(m: re.Match) -> str:
    return f"{m.group(1) or ''}第{kanji_number(m.group(2))}{m.group(3) or ''}"


def _meets(c: Constraint, text: str, hit: Hit) -> bool:
    if c.kind in ("sitting", "body"):  # checked on the meeting (_meets_meeting)
        return False
    if c.kind == "asker":
        return c.label in text
    if c.kind == "meeting":  # a meeting whose name states its number is that meeting, whatever its turns mention
        own = _ORDINAL.findall(nfkc(hit.meeting.name))
        if own:
            return c.label in {f"第{kanji_number(n)}回" for n in own}
    if c.kind == "committee":
        if _committee_meeting(hit.meeting.name):  # a committee's own meeting is no other committee, whatever it mentions
            return _names_committee(nfkc(c.label).lower(), _evidence_of_meeting(hit))
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
