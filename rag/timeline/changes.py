"""Changes between statements on a topic, found by rules (no model writes them): each cites both turns and quotes.

Three kinds, compared only between statements of the same body (the same council and executive; minutes that name
no body count as their own document's), the earlier statement before the later one in date order:

- **figure** — a figure for the same thing changed: an amount (円), a count (人, 件, 回 …), a rate (%, 割), or a
  date or deadline (令和7年度末 → 令和8年度末). "The same thing" means: the same unit kind, the same period (a
  figure for 令和4年度 is not compared with one for 令和5年度; 今年度/昨年度 are resolved with the meeting's date),
  and the same subject — the nouns of the clause around the figure share at least two content nouns (or one of
  three characters or more), and the two sentences are close in meaning (cosine ≥ FIGURE_COSINE).
- **stance** — an official's stance on the same matter moved between meetings: 考えていない/予定はない (0) →
  検討・研究 (1) → 予定・方針・進める (2) → 実施した・導入した・完了 (3), either way, or a reversed 賛成/反対. Read
  at the end of the sentence (where a Japanese predicate is), for sentences of officials (executive, secretariat)
  that are close in meaning (cosine ≥ STANCE_COSINE) and share a content noun of the topic's matter.
- **reference** — a statement refers explicitly to an earlier answer in another meeting (前回の答弁, 昨年…と答弁,
  12月議会の答弁, 昨日の議案質疑において…との答弁); 先ほど/今の答弁 (the same meeting) are not. The other side is
  the earlier answer when the timeline holds one (same body, an official, earlier date, close in meaning), else the
  reply the referring question received in the same meeting.

Measured on eval/timeline/changes.jsonl (labelled markers; see rag.evaluation.timeline).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.answering.base import citation, standard_form
from rag.indexing.chunking import sentence_spans
from rag.indexing.tokens import analyse
from rag.parsing.dates import ERAS, kanji_number
from rag.records import Hit, SpeakerKind
from rag.timeline.terms import STOP_NOUNS

FIGURE_COSINE = 0.86
STANCE_COSINE = 0.88
EARLIER_COSINE = 0.9  # a referring sentence and the earlier answer it names
QUOTE_MARGIN = 0.03  # a reference to an earlier answer counts in sentences this close to the entry's best one
TOPIC_SENTENCE_MARGIN = 0.06  # sentences of an entry examined: within this of its best sentence, or its key quotes
MAX_ENTRIES = 120  # entries compared pairwise at most (the most relevant), to bound the work on huge timelines
OFFICIAL = (SpeakerKind.EXECUTIVE, SpeakerKind.SECRETARIAT)

_KNUM = "〇零一二三四五六七八九十百千"
_NUMBER = rf"(?:約|およそ|概ね|おおむね)?(?:[0-9][0-9,.]*(?:[兆億万][0-9][0-9,.]*)*[兆億万]?|[{_KNUM}万億]+)"
_COUNT_UNITS = ("人", "名", "件", "回", "局", "店舗", "校", "施設", "か所", "箇所", "ヵ所", "台", "世帯", "手続",
                "セット", "団体", "事業", "社", "戸", "棟", "本", "日間", "か月", "ヶ月", "年間")
FIGURE = re.compile(rf"(?P<num>{_NUMBER})(?P<unit>円|[%％]|割|パーセント|{'|'.join(_COUNT_UNITS)})"
                    r"|(?P<num2>[0-9][0-9,.]*)(?P<unit2>分|時間)(?!の[0-9一二三四五六七八九十])")
DEADLINE = re.compile(r"(?P<era>令和|平成)(?P<y>元|[0-9]+|[一二三四五六七八九十]+)年(?P<fy>度)?"
                      r"(?:(?P<m>[0-9]+|[一二三四五六七八九十]+)月)?(?P<when>末|中|内|当初|以降|まで|から)?")
_PERIOD = re.compile(r"(?P<era>令和|平成)(?P<y>元|[0-9]+|[一二三四五六七八九十]+)年度?|(?P<rel>今年度|本年度|昨年度|前年度|来年度|"
                     r"今年|本年|昨年|来年)|(?P<west>(?:19|20)[0-9]{2})年度?")
_UNIT_KIND = {"円": "amount", "%": "rate", "％": "rate", "割": "rate", "パーセント": "rate", "分": "time:分",
              "時間": "time:分"}
# nouns that say nothing about what a figure counts
_GENERIC = {"年度", "今年度", "昨年度", "来年度", "本年度", "現在", "時点", "全体", "合計", "以上", "以下", "程度", "状況",
            "予定", "今後", "当初", "ところ", "もの", "こと", "ため", "結果", "本市", "本区", "本県", "全国", "令和", "平成",
            "前年", "比較", "増加", "減少", "推移", "数値", "件数", "人数", "回数", "割合"} | STOP_NOUNS

# stance at the end of a sentence (checked in this order: the first that matches decides)
STANCES: list[tuple[int, str, re.Pattern[str]]] = [
    (0, "考えていない", re.compile(r"考えて(い|お)(ない|りません)|予定は(ない|ありません|ございません)|困難|実施しない|行わない|"
                             r"見送|導入しない|(考え|予定)もない|難しい(と考え|状況)")),
    (3, "実施した", re.compile(r"(導入|実施|開始|完了|策定|設置|作成|整備|施行|運用を開始)(いた)?し(ました|た|ております|ている)|"
                           r"完了(した|しました|している|しております)|導入いたしました|開始いたしました|実施いたしました|"
                           r"(済み|済んで)")),
    (2, "予定・方針", re.compile(r"予定(して|で|です|でございます|としている|としております)|方針|進めて(まいり|いき|参り)|"
                            r"取り組んで(まいり|いき|参り)|目指して|実施(して)?(まいり|いき|する)|導入(して)?(まいり|いき|する)")),
    (1, "検討", re.compile(r"検討|研究|調査して(まいり|いき)|模索|考えてまいりたい|協議して(まいり|いき)")),
]
STANCE_NAMES = {0: "考えていない", 1: "検討", 2: "予定・方針", 3: "実施・完了"}
YESNO = re.compile(r"(?P<v>賛成|反対)(?:で(ございます|あります|す)|の(意|立場)|いたします|します|しております)")
REFERENCE_AFTER = re.compile(r"答弁は(以前|前回|前にも|昨年|これまで)")  # 「その答弁は以前お聞きしました」
REFERENCE = re.compile(
    r"(前回|前々回|昨年|昨年度|一昨年|去年|先般|以前|過去|当時|前年|先の(定例会|議会|委員会|会議)|これまで|昨日|"
    r"(?<![0-9０-９])[0-9０-９一二三四五六七八九十]{1,2}月(議会|定例会|の(議会|定例会|委員会|本会議)?)|"
    r"第[0-9０-９一二三四]回定例会|令和[0-9０-９元一二三四五六七八九]+年)"
    r"[^。]{0,60}?(答弁|答え(られ|て)|御回答|ご回答)")
_SAME_MEETING = re.compile(r"先ほど|先程|さきほど|今の答弁|冒頭|さっき|最後に")


@dataclass
class Side:
    entry: Any  # rag.timeline.core.Entry
    start: int
    end: int
    value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        c = citation(0, Hit(e.key, e.turn, e.meeting, e.relevance), self.start, self.end)
        out = {"entry": e.id, "turn_key": e.key, "doc": c.doc, "source": c.source, "body": c.body,
               "meeting": c.meeting, "date": c.date, "speaker": c.speaker, "speaker_kind": c.speaker_kind,
               "turn": c.turn, "quote": c.quote, "quote_start": c.quote_start, "quote_end": c.quote_end,
               "start": c.start, "end": c.end, "standard_form": standard_form(c)}
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass
class Change:
    kind: str  # figure | stance | reference
    label: str  # e.g. "件数・人数", "検討 → 実施・完了", "過去の答弁への言及"
    thing: str  # what changed (the subject's nouns), or the referring words
    before: Side | None  # the earlier statement (for a reference: the earlier answer, None when not indexed)
    after: Side  # the later statement (for a reference: the statement that refers to the earlier answer)
    note: str = ""
    reply: Side | None = None  # for a reference made in a question: the reply it received in the same meeting
    id: str = ""

    @property
    def summary(self) -> str:
        b, a = self.before, self.after
        when_a = a.entry.meeting.date or "日付不明"
        if self.kind == "figure" and b is not None:
            return f"{self.thing}: {b.value}（{b.entry.meeting.date or '日付不明'}）→ {a.value}（{when_a}）"
        if self.kind == "stance" and b is not None:
            return f"{self.thing}: {self.label}（{b.entry.meeting.date or '日付不明'} → {when_a}）"
        return f"{self.label}（{when_a}）: 「{a.entry.turn.text[a.start:a.end][:60]}」"

    def sides(self) -> list[Side]:
        return [x for x in (self.before, self.after, self.reply) if x is not None]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "thing": self.thing, "summary": self.summary,
                "note": self.note, "before": self.before.to_dict() if self.before is not None else None,
                "after": self.after.to_dict(), "reply": self.reply.to_dict() if self.reply is not None else None}


# ------------------------------------------------------------------ reading sentences


@dataclass
class _Sent:
    entry: Any
    start: int
    end: int
    vec: np.ndarray | None
    text: str = ""
    figures: list[tuple[str, str, float, str, frozenset[str]]] = field(default_factory=list)  # kind, shown, value, period, nouns
    stance: tuple[int, str] | None = None
    nouns: frozenset[str] = frozenset()


_MUNICIPALITY = re.compile(r"^\S{1,8}(市|区|町|村|県|都|府|道)$")


def _organisation(entry) -> str:
    """Whose statements can contradict each other: the body (the document when none is named), and the
    municipality visited when a meeting is held elsewhere (an inspection report: 盛岡市, 仙台市)."""
    m = entry.meeting
    org = m.body or f"doc:{m.doc}"
    if m.place and _MUNICIPALITY.match(m.place):
        org += "/" + m.place
    return org


def _fiscal_year(date: str | None) -> int | None:
    if not date:
        return None
    y, m = int(date[:4]), int(date[5:7])
    return y if m >= 4 else y - 1


def _period(context: str, date: str | None) -> str:
    """The period a figure is for: the last year named before it in its sentence (else the first after it, in its
    clause), as a fiscal year; 今年度/昨年度 are resolved with the meeting's date."""
    before, _, after = context.partition(" ")
    found = list(_PERIOD.finditer(before))
    m = found[-1] if found else _PERIOD.search(after)
    if not m:
        return ""
    if m.group("era"):
        n = kanji_number(m.group("y"))
        return f"FY{ERAS[m.group('era')] + n}" if n else ""
    if m.group("west"):
        return f"FY{m.group('west')}"
    fy = _fiscal_year(date)
    if fy is None:
        return m.group("rel")
    rel = m.group("rel")
    shift = {"今年度": 0, "本年度": 0, "昨年度": -1, "前年度": -1, "来年度": 1, "今年": 0, "本年": 0, "昨年": -1, "来年": 1}[rel]
    return f"FY{fy + shift}"


def _number(s: str) -> float | None:
    from rag.evaluation.metrics import normalise_numbers  # pure text normalisation (万/億, separators, full width)

    s = re.sub(r"^(約|およそ|概ね|おおむね)", "", s)
    t = normalise_numbers(s)
    try:
        return float(t)
    except ValueError:
        pass
    if all(c in _KNUM + "万億" for c in s):
        total, rest = 0, s
        for unit, mult in (("億", 10**8), ("万", 10**4)):
            if unit in rest:
                head, rest = rest.split(unit, 1)
                total += (kanji_number(head) or 1) * mult
        return float(total + (kanji_number(rest) or 0)) if rest or total else None
    return None


def _content_nouns(text: str) -> frozenset[str]:
    return frozenset(m.normalized_form() for m in analyse(text)
                     if m.part_of_speech()[0] == "名詞" and m.part_of_speech()[1] not in ("数詞",)
                     and len(m.surface()) >= 2 and m.normalized_form() not in _GENERIC)


def _context(text: str, s: int, e: int, figure: str) -> str:
    """What a figure is about: its sentence up to the end of the figure's clause, the figure itself left out (the
    subject often comes before a comma: 移行期限は、…令和8年度末に延長)."""
    b_candidates = [i for i in (text.find(p, e) for p in "、。，,") if i >= 0]
    b = min(b_candidates) if b_candidates else len(text)
    a = text.rfind("。", 0, s) + 1
    return text[a:s] + " " + text[e:b]


def _clause(text: str, s: int, e: int) -> str:
    a = max(text.rfind(p, 0, s) for p in "、。，,") + 1
    b_candidates = [i for i in (text.find(p, e) for p in "、。，,") if i >= 0]
    b = min(b_candidates) if b_candidates else len(text)
    return text[a:b]


def read_sentence(entry, start: int, end: int, vec) -> _Sent:
    text = entry.turn.text[start:end]
    s = _Sent(entry, start, end, vec, text)
    date = entry.meeting.date
    for m in FIGURE.finditer(text):
        num, unit = (m.group("num"), m.group("unit")) if m.group("num") else (m.group("num2"), m.group("unit2"))
        value = _number(num)
        if value is None:
            continue
        if unit == "時間":
            value *= 60
        kind = _UNIT_KIND.get(unit, "count:" + ("人" if unit == "名" else unit))
        context = _context(text, m.start(), m.end(), m.group(0))
        s.figures.append((kind, m.group(0), value, _period(context, date), _content_nouns(context)))
    for m in DEADLINE.finditer(text):
        if not (m.group("when") or m.group("m")):
            continue  # a bare year is a period, not a date or deadline
        n = kanji_number(m.group("y"))
        if not n:
            continue
        month = kanji_number(m.group("m")) if m.group("m") else 0
        value = (ERAS[m.group("era")] + n) * 100 + (month or (13 if m.group("when") == "末" else 0))
        clause = _clause(text, m.start(), m.end())
        context = _context(text, m.start(), m.end(), m.group(0))
        nouns = _content_nouns(context)
        if re.search(r"まで|予定|目指|期限|延期|延長|開始|完了|ずれ込|見込|施行|稼働|供用", clause):
            s.figures.append(("date", m.group(0), float(value), "", nouns))
    if entry.turn.kind in OFFICIAL:
        tail = text[-30:]
        for level, _, pat in STANCES:
            if pat.search(tail):
                s.stance = (level, STANCE_NAMES[level])
                break
        yn = YESNO.search(text)
        if yn and not re.search(r"反対の意を表明しました|賛成(しました|いたしました)", text):
            s.stance = (10 if yn.group("v") == "賛成" else 11, yn.group("v"))
    if s.figures or s.stance:
        s.nouns = _content_nouns(text)
    return s


def _topic_sentences(entry, margin: float = TOPIC_SENTENCE_MARGIN, topic_nouns: frozenset[str] = frozenset()
                     ) -> list[tuple[int, int, np.ndarray | None]]:
    """The entry's sentences on the topic: its key quotes, every sentence scoring within `margin` of its best, and
    (with `topic_nouns`) every sentence that names at least half of the topic's nouns."""
    scored = getattr(entry, "scored", None) or []
    out: dict[tuple[int, int], np.ndarray | None] = {}
    if scored:
        best = scored[0].score
        text = entry.turn.text
        for x in scored:
            named = sum(n in text[x.start:x.end] for n in topic_nouns)
            if x.score >= best - margin or (topic_nouns and 2 * named >= len(topic_nouns)):
                out[(x.start, x.end)] = entry.sentence_vectors.get((x.start, x.end))
    for s, e in entry.quotes:  # a key quote may span sentences: its sentences
        for a, b in sentence_spans(entry.turn.text[s:e]):
            out.setdefault((s + a, s + b), entry.sentence_vectors.get((s + a, s + b)))
    return sorted((s, e, v) for (s, e), v in out.items())


def _cos(a: _Sent, b: _Sent) -> float:
    if a.vec is None or b.vec is None:
        return 0.0
    return float(a.vec @ b.vec)


def _same_subject(na: frozenset[str], nb: frozenset[str]) -> bool:
    shared = na & nb
    return len(shared) >= 2 or any(len(n) >= 3 for n in shared)


def detect_changes(entries: list, topic_nouns: frozenset[str] = frozenset()) -> list[Change]:
    """Changes between the timeline's entries (already in date order), in the order of the later statement."""
    pool = sorted(entries, key=lambda e: -e.relevance)[:MAX_ENTRIES]
    order = {id(e): i for i, e in enumerate(entries)}
    pool.sort(key=lambda e: order[id(e)])
    sents: dict[int, list[_Sent]] = {}
    for e in pool:
        sents[id(e)] = [read_sentence(e, s, t, v) for s, t, v in _topic_sentences(e, topic_nouns=topic_nouns)]
    changes: list[Change] = []
    seen: set[tuple] = set()
    dated = [e for e in pool if e.meeting.date]
    for j, later in enumerate(dated):
        for earlier in dated[:j]:
            if _organisation(earlier) != _organisation(later) or earlier.meeting.id == later.meeting.id:
                continue
            if earlier.meeting.date >= later.meeting.date:
                continue
            for sa in sents[id(earlier)]:
                for sb in sents[id(later)]:
                    for ch in _compare(sa, sb, topic_nouns):
                        key = (ch.kind, ch.label, earlier.key, later.key, ch.thing)
                        if key not in seen:
                            seen.add(key)
                            changes.append(ch)
    changes += _references(pool, sents, topic_nouns)
    return _best_per_pair(changes)


def _compare(a: _Sent, b: _Sent, topic_nouns: frozenset[str]) -> list[Change]:
    out: list[Change] = []
    if a.figures and b.figures:
        cos = _cos(a, b)
        if cos >= FIGURE_COSINE:
            for ka, shown_a, va, pa, na in a.figures:
                for kb, shown_b, vb, pb, nb in b.figures:
                    if ka != kb or pa != pb or abs(va - vb) < 1e-9:
                        continue
                    if not _same_subject(na, nb):
                        continue
                    thing = "・".join(sorted(na & nb, key=len, reverse=True)[:3])
                    label = {"amount": "金額", "rate": "割合", "date": "日付・期限"}.get(ka, "件数・人数")
                    out.append(Change("figure", label, thing, Side(a.entry, a.start, a.end, shown_a),
                                      Side(b.entry, b.start, b.end, shown_b)))
    if a.stance and b.stance and a.entry.turn.kind in OFFICIAL and b.entry.turn.kind in OFFICIAL \
            and a.stance[0] != b.stance[0]:
        yes_no = a.stance[0] >= 10 and b.stance[0] >= 10
        levels = a.stance[0] < 10 and b.stance[0] < 10
        if (yes_no or levels) and _cos(a, b) >= STANCE_COSINE:
            shared = a.nouns & b.nouns
            specific = {n for n in shared - topic_nouns if len(n) >= 3}
            if len(shared) >= 3 or (len(shared) >= 2 and specific) or (yes_no and shared):
                thing = "・".join(sorted(shared, key=len, reverse=True)[:3])
                out.append(Change("stance", f"{a.stance[1]} → {b.stance[1]}", thing,
                                  Side(a.entry, a.start, a.end, a.stance[1]), Side(b.entry, b.start, b.end, b.stance[1])))
    return out


def _references(pool: list, sents: dict[int, list[_Sent]], topic_nouns: frozenset[str]) -> list[Change]:
    """Explicit references to an earlier answer, in an entry's sentences on the topic: one that names the topic's
    words, or one of the two after a key quote (the reference usually follows what it is about)."""
    out: list[Change] = []
    for e in pool:
        text = e.turn.text
        spans = sentence_spans(text)
        near = {i + k for i, (s, t) in enumerate(spans) for qs, qe in e.quotes if s >= qs and t <= qe for k in (0, 1, 2)}
        topic = {(s, t) for s, t, _ in _topic_sentences(e)}
        for i, (s, t) in enumerate(spans):
            sentence = text[s:t]
            m = REFERENCE.search(sentence) or REFERENCE_AFTER.search(sentence)
            if not m or _SAME_MEETING.search(sentence[max(0, m.start() - 10):m.end()]):
                continue
            if (s, t) not in topic or not (i in near or _content_nouns(sentence) & topic_nouns):
                continue
            earlier = _earlier_answer(e, pool, sents, s, t, topic_nouns)
            reply = _reply_in_meeting(e, pool)
            note = "" if earlier is not None else "言及された過去の答弁は、索引の会議録には見当たりません。"
            out.append(Change("reference", "過去の答弁への言及", m.group(0)[:40], earlier, Side(e, s, t), note, reply))
            break  # one reference marker per turn
    return out


def _earlier_answer(e, pool, sents, s: int, t: int, topic_nouns: frozenset[str]) -> Side | None:
    """The earlier answer a reference points to: an official's sentence of the same body in an earlier meeting, close
    in meaning (cosine ≥ EARLIER_COSINE) and sharing a content noun with the referring sentence."""
    vec = e.sentence_vectors.get((s, t))
    nouns = _content_nouns(e.turn.text[s:t])
    best, best_cos = None, EARLIER_COSINE
    for o in pool:
        if o is e or not o.meeting.date or not e.meeting.date or o.meeting.date >= e.meeting.date:
            continue
        if _organisation(o) != _organisation(e) or o.turn.kind not in OFFICIAL:
            continue
        for x in sents.get(id(o), []):
            c = float(vec @ x.vec) if vec is not None and x.vec is not None else 0.0
            if c > best_cos and _content_nouns(x.text) & nouns:
                best, best_cos = Side(o, x.start, x.end), c
    return best


def _reply_in_meeting(e, pool) -> Side | None:
    """The reply a referring question got: the next official's entry in the same meeting."""
    later = [o for o in pool if o.meeting.id == e.meeting.id and o.turn.order > e.turn.order
             and o.turn.kind in OFFICIAL]
    if not later or e.turn.kind in OFFICIAL:
        return None
    o = min(later, key=lambda o: o.turn.order)
    s, t = o.quotes[0]
    return Side(o, s, t)


def _best_per_pair(changes: list[Change]) -> list[Change]:
    """At most one change of a kind per pair of turns (the first found), in the order of the later statement."""
    kept: dict[tuple, Change] = {}
    for c in changes:
        key = (c.kind, c.before.entry.key if c.before else None, c.after.entry.key)
        kept.setdefault(key, c)
    out = list(kept.values())

    def when(c: Change):
        side = c.after
        return (side.entry.meeting.date is None, side.entry.meeting.date or "", side.entry.turn.order)

    out.sort(key=when)
    for i, c in enumerate(out, 1):
        c.id = f"c{i}"
    return out
