"""The default answerer: quote the sentences that answer, each with its citation. No LLM, nothing invented.

Sentences of the retrieved turns are scored against the question (embedding similarity,
shared keywords, and the kind of question: a number question wants the sentence with the
number), the best few are quoted verbatim, and when the evidence is too weak the answer
says so instead of quoting something unrelated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

import numpy as np

from rag.answering.base import NO_ANSWER_EN, NO_ANSWER_JA, citation, is_english, join_follow_up, nfkc, to_wareki
from rag.language import (asks_outcome, asks_procedure, asks_who_was_chosen, declares_decision, declares_outcome,
                          focus_of, persons_named)
from rag.answering.constraints import (Constraint, content_nouns, names_a_person, places_in, question_constraints,
                                       subject_nouns, unmet)
from rag.indexing.tokens import analyse, bigrams
from rag.records import Answer, Citation, Hit, SpeakerKind
from rag.retrieval import REPLY_WITHIN  # how far a member's question is from the official's reply

# Calibrated on eval/questions.jsonl (see eval/README.md): below this, abstain (Settings.abstain_below).
ABSTAIN_BELOW = 0.85
MAX_SENTENCES = 3
MAX_PER_TURN = 2
NEAR_BEST = 0.03  # further sentences must score within this of the best one
W_OVERLAP = 0.10  # weight of the question's character bigrams found in the sentence
W_OUTCOME = 0.06  # bonus for the sentence declaring how an item ended, when that is what is asked
W_UNIT = 0.03  # bonus for a sentence with a number of the unit asked for, or said by the role named
ENGLISH_OFFSET = 0.09  # English answers score lower: the median best-sentence score of Japanese minus English answerable
# questions was 0.07 on the sample set and 0.14 on the dev split of eval/dev (2026-12-01, after named bodies and speakers)
PAIR_MARGIN = 0.08  # the paired question or reply may score this much below the best sentence
PAIR_MIN_OVERLAP = 0.2  # a paired member's question must share this share of the question's bigrams
NUMBER_WINDOW = 5
HEADING_WITHIN = 2  # a sentence is under a heading line this many sentences before it (委員長, 副委員長 under 建設委員会)
FOLLOW_MAX = 2  # a lead-in sentence is quoted with at most this many sentences after it, up to the one that answers
LEAD_IN_CHARS = 30  # a best sentence shorter than this is quoted with the sentence after it
NO_FIGURE_CONFIDENCE = 0.0  # when no close sentence meets what the question asks for (figure, speaker, year…)

# a sentence that announces what its next sentence says (at its end)
_ANNOUNCES = re.compile(r"(?:(?:御|ご)?(?:説明|報告|紹介)(?:を)?(?:いたし|申し上げ|させていただき)ます|を(?:定め|求め|許し)ます|"
                        r"(?:御|ご)?指名(?:を)?(?:いた|申し上げ)?(?:し)?ます|(?:次|以下)の(?:とおり|通り)[^。]{0,12}|"
                        r"[0-9０-９一二三四五六七八九十]+(?:点|つ)(?:ある|あり|ござい)[^。]{0,20})[。．]?\s*$")

# What a number question asks for, and what a sentence that answers it must contain.
_NUM = r"[0-9０-９〇零一二三四五六七八九十百千万億兆]"  # 午後零時三十六分
_FIG = r"[0-9０-９一二三四五六七八九十百千万億兆〇,，.]*"  # the rest of a figure: 三百四十四名, 二十兆八千七百七十八億円, 1,463億
_ASKS_FOR: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    # an amount is asked for by いくら or by a cost word with a question on it (その費用は？, 経費はどれだけ), not by
    # a cost word inside a name (在日米軍駐留経費の特別協定, 予算審査特別委員会, 補正予算案)
    (re.compile(r"いくら|何円|(?<!by )how much|\bcost|(?:費用|経費|予算額?|事業費|総額|金額)(?:は|が|を)?(?:いくら|どれ|どの|何|[?？]|$)",
                re.I), re.compile(_NUM + _FIG + r"円")),
    (re.compile(r"何人|何名|人数|登録者数|参加者数|how many (people|staff|users|members)", re.I),
     re.compile(_NUM + _FIG + r"[人名]")),
    (re.compile(r"何[%％]|何割|割合|率は|what (percentage|share)|percent", re.I),
     re.compile(_NUM + _FIG + r"(?:[%％割]|パーセント)")),
    (re.compile(r"何件|件数", re.I), re.compile(_NUM + r"+件")),
    # 「採用数と男女の内訳は」: a count (not 過半数, 複数, 多数; 件数, 人数… have their own units; a 内訳 may be of money)
    (re.compile(r"(?<![過半複多少無件人回日])(?<=[一-龥])数(?:は|と|を|が|[?？]|$)"),
     re.compile(_NUM + _FIG + r"(?:人|名|件|回|校|台|基|棟|戸|社|団体|世帯|か所|箇所|本|頭|店舗|施設)")),
    # by how much something grew: a figure in any unit (六倍, 15%, 2万人)
    (re.compile(r"by how much|how many times", re.I),
     re.compile(_NUM + _FIG + r"(?:倍|割|[%％]|パーセント|円|人|名|件|回|ポイント|万|億)")),
    # where a meeting or event was held: the venue
    (re.compile(r"どこで(?:開|行|実施|催)|where (?:was|is|will)\b.*\b(?:held|take place)", re.I),
     re.compile(r"会場|場所|[一-龥ァ-ヶー]{2,}(?:ホール|会館|センター|庁舎|議場|会議室|公園|体育館)")),
    (re.compile(r"何回|回数(?:は|を)?(?:[?？]|$)", re.I), re.compile(_NUM + r"+回")),  # not 「回数制限の撤廃」
    (re.compile(r"何日間|日数|how many days", re.I), re.compile(_NUM + r"+日間?")),
    (re.compile(r"何時|what time", re.I), re.compile(_NUM + r"+時")),
    # (時期 and 期限 as what is asked: 「その時期は？」, not a topic: 「試行を外す時期についてどう主張したか」)
    (re.compile(r"いつ|(?:時期|期限)(?:は|を)?(?:[?？]|$)|何年|when|what year|deadline", re.I),
     re.compile(_NUM + r"+(?:年|月|日)|年度|元年|本年|今年|来年|昨年|平成|令和|以降|から")),
]
# 「どう要望したか」「何を求めたか」: the sentence that makes the request (…検討いただきたい, …を求めます), not the
# question that led up to it (a form to be in the sentence, not a figure to lead the answer with)
_ASKS_REQUEST = re.compile(r"(?:どう|何を|どのように|どのような(?:こと|点)を)(?:要望|要請|求め|お願い)|"
                           r"what did .{0,60}\b(?:ask|call) for|\burge", re.I)
_REQUEST_FORM = re.compile(r"(?<!尋ねし)(?<!伺い)(?<!聞き)(?<!聞きし)(?<!質問し)(?<!確認し)(?<!質疑し)たい|ください|願い|求め|"
                           r"要望|要請|べき|ほしい|欲しい|いただければ|期待")  # (not お尋ねしたい: a question)
# 何万キロワット, 何校, 何トン: a figure in the unit the question counts in
_COUNTED = re.compile(r"何(?P<mult>万|億|千|百)?(?P<unit>キロ[ァ-ヶー]+|[ァ-ヶー]{2,}|校|台|基|棟|戸|社|団体|か所|箇所|"
                      r"世帯|局|施設|本|頭|品目|項目|店舗|頁|ページ|キロ|トン|歳|号)")
# 1世帯当たり: the figure must be per household, not the total
_PER_UNIT = re.compile(r"(?:1|１|一)(?:世帯|人|件|日|校|か所|箇所|台|戸)(?:当たり|あたり)")
_PER_UNIT_SAID = re.compile(r"当たり|あたり|につき|ごと|1人|１人|一人|1世帯|１世帯|一世帯")


def counted_units(question: str) -> list[re.Pattern[str]]:
    return [re.compile(_NUM + _FIG + re.escape(m.group("unit"))) for m in _COUNTED.finditer(question)]


# a question for someone's name is answered only by a sentence that names a person
_ASKS_NAME = re.compile(r"氏名|(?<!会社)名前|フルネーム|\bfull name\b|\bwhat is (his|her|their) name\b", re.I)
# "市長は…と答弁したか": the question names who spoke; a sentence by someone else does not answer it
# (the role must be the one who speaks: not 「委員長は誰か」, where the role is what is asked, nor 「議長が判断する」)
_NAMED_ROLE = re.compile(r"(市長|区長|町長|村長|知事|部長|課長|局長|支所長|所長|室長|次長|参事|教育長|長官|議長|委員長|大臣|事務局)(?:(?:は|が)(?![^、。？]*(?:誰|だれ|どなた))"
                         r"(?=[^。？]*(?:答弁|答え|述べ|説明|発言|話し|話す|言っ|言う|表明|示し|語っ|報告|考え|見解|認識|姿勢|方針|意向|意欲|"
                         r"強調|訴え|呼びかけ|挨拶|あいさつ|明らか))|の答弁|に対して)")
# "What did the mayor say…", "according to the governor": the titles an English question says spoke, as the Japanese
# titles a speaker's label holds (mayor: 市長, 町長, 区長… and their deputies)
_EN_ROLES = {"mayor": ("市長", "町長", "村長", "区長"), "governor": ("知事",), "superintendent": ("教育長",),
             "minister": ("大臣",), "chair": ("委員長", "議長", "会長"), "chairman": ("委員長", "議長", "会長"),
             "chairperson": ("委員長", "議長", "会長")}
_EN_ROLE = re.compile(r"\b(mayor|governor|superintendent|minister|chair(?:man|person)?)\b", re.I)
_EN_SPOKE = re.compile(r"\b(?:say|said|describe|answer|repl|explain|state|report|stress|announce|told)", re.I)
_EN_ACCORDING = re.compile(r"\b(?:according to|as)\b", re.I)


def english_roles(question: str) -> set[str]:
    """Japanese titles of the official an English question says spoke ("what did the mayor of Fukutsu say",
    "according to Meguro's mayor" -> 市長, 町長…); not a title merely asked about ("who is the mayor")."""
    out: set[str] = set()
    for m in _EN_ROLE.finditer(question):
        before, after = question[max(0, m.start() - 40):m.start()], question[m.end():m.end() + 80]
        if (_EN_SPOKE.search(after) and re.search(r"\b(?:what|how|why|when|where) did\b", before, re.I)) or \
                _EN_ACCORDING.search(before[-25:]):
            vice = re.search(r"\bvice[- ]$", before, re.I)  # vice minister: 副大臣, not 大臣
            out |= {f"副{ja}" if vice else ja for ja in _EN_ROLES[m.group(1).lower()]}
    return out


# "大西委員は…どんな意見を述べたか": a person the question names as the one who spoke (the text before the title,
# checked against the speakers of the retrieved turns; the last such person is the one whose words are asked for:
# 「白井議員が求めたのに対し、山中市長はどう答えたか」)
_SPEAKER_TITLE = re.compile(r"(副委員長|委員長|委員|議員|議長|教育長|副市長|市長|副区長|区長|町長|村長|知事|副大臣|大臣|政務官|室長|部長|"
                            r"課長|局長|理事|長官|総裁|君|氏|さん)[）)]?(?:は|が)(?![^、。？]*(?:誰|だれ|どなた))"
                            r"(?=[^。？]*(?:答弁|答え|述べ|説明|発言|主張|要望|求め|提案|指摘|質問|問う|問い|尋ね|表明|示し|示す|挙げ|語っ|"
                            r"報告|訴え|強調|意見|反論|紹介|明らか|言及|触れ|懸念|評価|批判|振り返))")
_NAME_BOUNDARY = re.compile(r"[のはでがにをと、。「」（）()\s　0-9０-９]")


_ASKER = re.compile(r"のに対し|に対して|を受け|と問われ|の質問に")


def speakers_named(question: str) -> list[str]:
    """The persons (the words before their title) the question says spoke: 大西委員は…述べた -> 大西."""
    out = []
    for m in _SPEAKER_TITLE.finditer(question):
        name = _NAME_BOUNDARY.split(question[:m.start()])[-1]
        clause = re.split(r"[、。？]", question[m.end():])[0]
        if len(name) >= 2 and not _ASKER.search(clause):  # 「井上議員が…と求めたのに対し、横浜市は…」: the one asking
            out.append(name)
    return out


def _label(hit: Hit) -> str:
    """The speaker as printed and the source's name for them, without brackets and spaces: 鈴木（敦）委員 -> 鈴木敦委員."""
    return re.sub(r"[（）()\s　]", "", nfkc(hit.turn.speaker) + "|" + nfkc(hit.turn.speaker_name))


# 「次の本会議はいつか」: the chair's closing announcement answers it (retrieval keeps its own notion of procedure)
_NEXT_SITTING = re.compile(r"次の(?:本会議|会議|委員会)|next (?:plenary|sitting|meeting)", re.I)
# 「…理由をどう説明したか」「…山中市長はどう答えたか」: what the reply said (a member's question repeats its words)
_ASKS_REPLY = re.compile(r"(?:答え|答弁し|回答し|説明し|判断し)(?:た|ている)(?:と答えた)?(?:の)?か[。？?]?$")
_DECIDED = re.compile(r"決め|決まっ|決定し|決した|決まり")
# someone the chair calls on or a report names, not the one speaking: 「報告を求められた委員長は誰か」「三人目の質疑者は誰か」
# 「討論で反対したのは誰か」
# names a report may list its sections under (committees, their sections)
_HEADING_NAMED = re.compile(r"[一-龥ァ-ヶー・]{2,20}?(?:特別委員会|委員会|審査会|分科会|部会)")
_CALLED = re.compile(r"求められた(?:の|[一-龥]{1,4})?は(?:誰|だれ|どなた)|[一-龥]{1,3}者は(?:誰|だれ|どなた)|"
                     r"(?:反対|賛成)した(?:の)?は(?:誰|だれ|どなた)")
_NAMED_OFFICIAL = re.compile(r"[一-龥]{2,8}(?:大臣|副大臣|長官|参考人)(?=[。、]|$)")
_WHO_Q = re.compile(r"誰|だれ|どなた|どの(委員|議員|部長|課長)|\bwho\b|which (member|official)", re.I)
# a sentence that asks (summary minutes write the member's question as 「…を尋ねる。」「…説明されたい。」)
_ASKING = re.compile(r"か。|ですか|ますか|ください|伺いたい|伺います|お聞き|教えて|お示し|いかが|どう|のか|尋ねる|尋ねたい|問う|"
                     r"されたい|願いたい")


@dataclass
class _Sentence:
    hit: Hit
    start: int
    end: int
    score: float = 0.0
    cos: float = 0.0
    has_unit: bool = True  # holds a number of the kind the question asks for (True when it asks none)
    unit_unnamed: bool = True  # has_unit, leaving out that a person the chair calls on must be named (_CALLED)
    role_ok: bool = True  # said by the role the question names (True when it names none)
    by_named: bool = True  # said by the person the question says spoke (True when it names none)
    unmet: list[Constraint] = field(default_factory=list)  # the question's year, meeting, place… it does not meet


class ExtractiveAnswerer:
    name = "extractive"
    streams = False  # answer_stream yields the Answer only
    condenses = False  # follow-ups are joined to the previous question (join_follow_up), no model asked

    def __init__(self, embed_query: Callable[[str], np.ndarray],
                 sentence_vectors: Callable[[list[str]], dict[str, list[tuple[int, int, np.ndarray]]]],
                 neighbours: Callable[[str], list[Hit]] | None = None,
                 abstain_below: float = ABSTAIN_BELOW):
        self.embed_query = embed_query
        # turn keys -> {turn key: [(start, end, vector)]}: sentence vectors stored at ingest
        self.sentence_vectors = sentence_vectors
        self.neighbours = neighbours  # turn key -> the hits of the turns around it (same meeting)
        self.abstain_below = abstain_below

    def condense(self, question: str, history: Sequence[str]) -> str:
        return join_follow_up(question, history)

    def answer_stream(self, question: str, hits: list[Hit], history: Sequence[str] = (), *,
                      query_vector: np.ndarray | None = None, standalone: str | None = None) -> Iterator[Answer]:
        """Nothing to stream: exactly one Answer."""
        yield self.answer(question, hits, history, query_vector=query_vector, standalone=standalone)

    def close(self) -> None:
        pass

    def answer(self, question: str, hits: list[Hit], history: Sequence[str] = (), *,
               query_vector: np.ndarray | None = None, standalone: str | None = None) -> Answer:
        """``standalone``: the pipeline's search query for a follow-up; sentences are scored against the
        question as asked (the retrieved turns already carry the follow-up's context)."""
        english = is_english(question)
        notes = ["Quotes are in the original Japanese."] if english else []
        constraints = question_constraints(question, places_in(hits) if english else ())
        sentences = self._score(question, hits, query_vector, constraints, english)
        # the question's year, meeting, place… each retrieved turn does not meet
        missing: dict[str, list[Constraint]] = {h.turn_key: unmet(constraints, h, self.neighbours) if constraints else []
                                                for h in hits}
        for c in sentences:
            c.unmet = missing[c.hit.turn_key]

        def fits(c: _Sentence) -> bool:
            return c.has_unit and c.role_ok and not c.unmet

        turns: dict[str, list[_Sentence]] = {}
        for c in sorted(sentences, key=lambda c: c.start):
            turns.setdefault(c.hit.turn_key, []).append(c)

        def led_in(c: _Sentence) -> _Sentence | None:
            """A sentence that leads in to what is asked (「会議録署名員を定めます。」, 「委員長の報告を求めます。」, 「課題が
            二点あります。」) together with the sentences after it up to the one that states the figure or name."""
            if fits(c) or not c.role_ok or c.unmet:
                return None
            after = [n for n in turns[c.hit.turn_key] if n.start >= c.end][:FOLLOW_MAX]
            for n in after:
                if n.has_unit:
                    return _Sentence(c.hit, c.start, n.end, c.score, c.cos, True, c.role_ok, c.by_named, c.unmet)
            return None

        # the answer rests on the best close sentence that meets what the question asks for (a figure,
        # a speaker, a year, a meeting, a place…): a merely topical one does not answer it
        # (sentences from another body, year or meeting than the question's are no evidence at all: the window
        # counts the sentences that remain)
        candidates = [c for c in sentences if not c.unmet and c.by_named] or sentences
        from_heading: dict[int, int] = {}
        headings = _HEADING_NAMED.findall(nfkc(question))
        if headings:  # a report listed under headings (「総務委員会／委員長 こしば新議員／…／建設委員会／委員長 塚本…」)
            candidates, from_heading = _under_heading(candidates, headings)
        window = [(replace(c, start=from_heading[id(c)]) if id(c) in from_heading else c, c) if fits(c)
                  else (led_in(c), c) for c in candidates[:NUMBER_WINDOW]]
        window = [(x, c) for x, c in window if x is not None]
        if not window and _CALLED.search(question):  # nobody named near the top: the speaker may be the one asked for
            for c in sentences:
                c.has_unit = c.unit_unnamed
            window = [(c, c) if fits(c) else (led_in(c), c) for c in candidates[:NUMBER_WINDOW]]
            window = [(x, c) for x, c in window if x is not None]
        fitting = [x for x, _ in window]
        confidence = fitting[0].score if fitting else NO_FIGURE_CONFIDENCE
        if english and fitting:  # cross-lingual similarities run lower and share no characters: same scale as Japanese
            confidence += ENGLISH_OFFSET
        if confidence < self.abstain_below:
            why = _why_not(sentences[0], english) if sentences and not fitting else ""
            related = [citation(i + 1, h, h.piece_start, h.piece_end) for i, h in enumerate(hits[:3])]
            text = NO_ANSWER_EN if english else NO_ANSWER_JA
            return Answer(question, f"{text}\n{why}" if why else text, True, [], self.name, related, notes,
                          confidence)

        best, source = window[0] if window else (sentences[0], sentences[0])  # (the threshold sweep asks with none)
        chosen = [best]

        def inside(s: _Sentence) -> bool:
            return any(c.hit.turn_key == s.hit.turn_key and c.start <= s.start and s.end <= c.end for c in chosen)

        for s in sentences[sentences.index(source) + 1:]:
            if len(chosen) >= MAX_SENTENCES or s.score < best.score - NEAR_BEST:
                break
            same_turn = sum(c.hit.turn_key == s.hit.turn_key for c in chosen)
            if fits(s) and same_turn < MAX_PER_TURN and not inside(s) and (not from_heading or id(s) in from_heading) \
                    and all(nfkc(_text(s)) != nfkc(_text(c)) for c in chosen):
                chosen.append(s)
        # a short lead-in of the best sentence, and any sentence announcing what follows or cut before its end, is
        # quoted with what follows
        for c in list(chosen) if not from_heading else []:  # (a heading's section is quoted whole already)
            follow = self._continuation(c, short=c is best)
            if follow is not None and not inside(follow):
                chosen.append(follow)
        other = self._pair(best, question, query_vector, hits)
        if other is not None and all(o.hit.turn_key != other.hit.turn_key for o in chosen):
            chosen.append(other)
        # in the order they were said: a question before its reply
        chosen.sort(key=lambda s: (s.hit.meeting.date or "", s.hit.meeting.id, s.hit.turn.order, s.start))
        citations = _merge(chosen)
        return Answer(question, _compose(citations, question, english), False, citations, self.name, [], notes,
                      confidence)

    # ------------------------------------------------------------------ scoring
    def _score(self, question: str, hits: list[Hit], qvec: np.ndarray | None, constraints: list[Constraint],
               english: bool) -> list[_Sentence]:
        # what the question asks, without the names of the meeting it pins down (body, session, date): those are
        # checked as constraints, and sentences that merely repeat them (「ただいまから…定例会を開会いたします」)
        # must not outscore the one that answers
        focus = focus_of(question, [c.label for c in constraints if c.kind != "subject"])
        q_grams = set(bigrams(focus))
        stored = self.sentence_vectors([h.turn_key for h in hits])
        cands, vecs = [], []
        for h in hits:
            for s, e, v in stored.get(h.turn_key, []):
                cands.append(_Sentence(h, s, e))
                vecs.append(v)
        if not cands:
            return []
        q = qvec if qvec is not None else self.embed_query(question)
        cos = np.vstack(vecs) @ q
        if focus != question:
            cos = (cos + np.vstack(vecs) @ self.embed_query(focus)) / 2
        procedure = asks_procedure(question) or bool(_NEXT_SITTING.search(question))
        outcome = procedure and asks_outcome(question)
        # 「何日間休会することを決めたか」: what was decided is declared (「…に決しました」), not proposed (「…いたしたいと思います」)
        decided = procedure and bool(_DECIDED.search(question))
        units = [u for asks, u in _ASKS_FOR if asks.search(question)] + counted_units(question) + \
            ([_REQUEST_FORM] if _ASKS_REQUEST.search(question) else [])
        per_unit = bool(_PER_UNIT.search(question))
        roles = {m.group(1) for m in _NAMED_ROLE.finditer(question)} | (english_roles(question) if english else set())
        # the person the question says spoke, when it is one of the retrieved turns' speakers (a word before a title
        # that is nobody's name here, 行財政改革特別委員長, is not checked)
        labels = {h.turn_key: _label(h) for h in hits}
        named = [n for n in speakers_named(question)[-1:] if any(n in lab for lab in labels.values())]
        asks_name = bool(_ASKS_NAME.search(question))
        asks_reply = bool(_ASKS_REPLY.search(question))  # a member's words do not say how it was answered
        chosen_q = asks_who_was_chosen(question)  # the sentence must name the person chosen, not only the post
        called = bool(_CALLED.search(question))  # the sentence must name the person called on, not only the chair calling
        # what the figure must be about: the question's nouns other than its place, person… constraints
        # (an English question shares no words with the Japanese minutes: no such check)
        topic = set() if english or not units else \
            {n for n in content_nouns(question) if not any(n in c.label for c in constraints if c.kind != "subject")}
        # what the figure asked for counts (海上自衛官は何名, 航空自衛隊の定数は): a figure of something else in the same turn
        # (三百四十四名の自衛官, 陸上自衛隊の定数) does not answer it: the subject is said by the sentence or just before it
        subjects = [(nouns, _compound(part)) for c in constraints if c.kind == "subject" for part in c.label.split("の")
                    if len(nouns := subject_nouns(part)) >= 2] if units else []
        top_turn = {h.turn_key: i for i, h in enumerate(hits)}
        for c, sim in zip(cands, cos):
            text = _text(c)
            overlap = len(q_grams & set(bigrams(text))) / len(q_grams) if q_grams else 0.0
            c.cos = float(sim)
            c.has_unit = (not units or (any(u.search(text) for u in units)
                                        and (not topic or bool(topic & content_nouns(text)))
                                        and (not per_unit or bool(_PER_UNIT_SAID.search(text)))
                                        and (not subjects or _says_subject(c, subjects)))) \
                and (not asks_name or names_a_person(text, c.hit)) and (not chosen_q or bool(persons_named(text)))
            c.unit_unnamed = c.has_unit
            c.has_unit = c.has_unit and (not called or bool(persons_named(text)) or bool(_NAMED_OFFICIAL.search(text)))
            c.by_named = not named or named[0] in labels[c.hit.turn_key]
            c.role_ok = (not roles or any(r in c.hit.turn.speaker or r in (c.hit.turn.speaker_role or "") for r in roles)) \
                and c.by_named
            c.score = (
                float(sim)
                + W_OVERLAP * overlap
                + (W_UNIT if units and c.has_unit else 0.0)
                + (W_UNIT if (roles or named) and c.role_ok else 0.0)
                - 0.004 * top_turn[c.hit.turn_key]  # a little trust in the retriever's order
                - (0.03 if c.hit.turn.procedural and not procedure else 0.0)
                - (W_UNIT if asks_reply and c.hit.turn.kind is SpeakerKind.MEMBER else 0.0)
                + (W_UNIT if procedure and declares_decision(text) else 0.0)
                + (W_UNIT if decided and c.hit.turn.kind is SpeakerKind.CHAIR and declares_decision(text) else 0.0)
                + (W_OUTCOME if outcome and c.hit.turn.kind is SpeakerKind.CHAIR and declares_outcome(text) else 0.0)
            )
        cands.sort(key=lambda c: -c.score)
        return cands

    def _continuation(self, best: _Sentence, short: bool = True) -> _Sentence | None:
        """A short lead-in (「まず、会議録署名員を定めます。」, with `short`) or a sentence that announces what follows
        (「…について御説明いたします。」「委員長の報告を求めます。」「課題が主に二点あることが明確になりました。」) leads
        to its next sentence: quote both."""
        text = _text(best)
        if not ((short and len(text) < LEAD_IN_CHARS) or _ANNOUNCES.search(text) or _unfinished(text)):
            return None
        after = [(s, e) for s, e, _ in self.sentence_vectors([best.hit.turn_key]).get(best.hit.turn_key, [])
                 if s >= best.end]
        if not after:
            return None
        s, e = min(after)
        return _Sentence(best.hit, s, e, score=best.score, cos=best.cos)

    def _pair(self, best: _Sentence, question: str, qvec: np.ndarray | None,
              hits: Sequence[Hit] = ()) -> _Sentence | None:
        """The other half of a question and its reply: a member's question before an official's
        answer, or the reply after a member's question (the answer usually lies there: the next official's turn,
        the chair calling on them between, looked up among the neighbours and the retrieved turns)."""
        if self.neighbours is None:
            return None
        turn = best.hit.turn
        around = self.neighbours(best.hit.turn_key)
        if turn.kind in (SpeakerKind.EXECUTIVE, SpeakerKind.SECRETARIAT):
            kinds, asking = (SpeakerKind.MEMBER, SpeakerKind.CHAIR, SpeakerKind.UNKNOWN), True
            other = [h for h in around if h.turn.order == turn.order - 1 and h.turn.kind in kinds]
        elif _ASKING.search(_text(best)):
            asking = False
            later = {h.turn_key: h for h in [*around, *hits] if h.meeting.id == best.hit.meeting.id
                     and turn.order < h.turn.order <= turn.order + REPLY_WITHIN}
            other = []
            for h in sorted(later.values(), key=lambda h: h.turn.order):
                if h.turn.kind is SpeakerKind.MEMBER:
                    break
                if h.turn.kind in (SpeakerKind.EXECUTIVE, SpeakerKind.SECRETARIAT) and not h.turn.procedural:
                    other = [h] if h.turn.order == turn.order + 1 or _next_of(h, later, turn.order) else []
                    break
        else:
            return None
        if not other:
            return None
        h = other[0]
        stored = [(s, e, v) for s, e, v in self.sentence_vectors([h.turn_key]).get(h.turn_key, [])
                  if not asking or _ASKING.search(h.turn.text[s:e])]
        if not stored:
            return None
        q = qvec if qvec is not None else self.embed_query(question)
        sims = np.vstack([v for _, _, v in stored]) @ q
        i = int(np.argmax(sims))
        s, e, _ = stored[i]
        q_grams = set(bigrams(question))
        overlap = len(q_grams & set(bigrams(h.turn.text[s:e]))) / len(q_grams) if q_grams else 0.0
        # the other half must be about the question too, not just the nearest question-shaped sentence
        if float(sims[i]) < best.cos - PAIR_MARGIN or (asking and overlap < PAIR_MIN_OVERLAP):
            return None
        return _Sentence(h, s, e, score=float(sims[i]), cos=float(sims[i]))


SUBJECT_BEFORE = 80  # characters before a sentence that may still name what its figure counts (「消防職員の初任給についてです。…」)


def _says_subject(s: _Sentence, subjects: list[tuple[list[str], re.Pattern[str]]]) -> bool:
    """No part of the subject is named without its qualifier: a sentence (or the words just before it) that names the
    kind of thing asked (自衛官, 自衛隊) but not the question's qualifier (海上, 航空) gives the figure of another kind,
    unless the turn names the qualified thing itself (社会的な割引率, then 四％の割引率). A sentence naming none of it
    is left to the turn's words (the subject constraint)."""
    text = s.hit.turn.text
    begin = text.rfind("。", 0, max(0, s.start - SUBJECT_BEFORE)) + 1  # whole sentences: no word cut in two
    window = nfkc(text[begin: s.end]).lower()
    return not any(nouns[-1] in window and not all(n in window for n in nouns) and not compound.search(nfkc(text).lower())
                   for nouns, compound in subjects)


def _compound(words: str) -> re.Pattern[str]:
    """海上自衛官 as written, or with 的な/な/の between its parts (社会的割引率 ~ 社会的な割引率)."""
    parts = [re.escape(nfkc(m.surface()).lower()) for m in analyse(words)]
    return re.compile("(?:的な|な|の|・)?".join(parts))


def _next_of(h: Hit, later: dict[str, Hit], order: int) -> bool:
    """Every turn between the question (at `order`) and `h` is known (none unread could be a member's)."""
    return {x.turn.order for x in later.values() if x.turn.order < h.turn.order} == set(range(order + 1, h.turn.order))


def _unfinished(text: str) -> bool:
    """A long sentence cut before its end (at a page number or a line of a PDF: 「…当初見込み３億円を目標として\n3」):
    the rest of it is the next stored sentence."""
    return len(text) >= LEAD_IN_CHARS and not _SENTENCE_END.search(text)


_SENTENCE_END = re.compile(r"[。．！？!?」』）)]\s*$")


def _why_not(s: _Sentence, english: bool) -> str:
    """Why the closest sentence does not answer: the first constraint of the question it misses."""
    if s.unmet:
        return s.unmet[0].reason(english)
    if not s.has_unit:
        return "The closest statements do not give the figure or name asked for." if english else \
            "近い発言は、質問の求める数値や氏名を述べていません。"
    if not s.role_ok:
        return "The speaker named in the question did not say this." if english else \
            "質問の発言者による発言ではありませんでした。"
    return ""


def _under_heading(candidates: list[_Sentence], headings: list[str]) -> tuple[list[_Sentence], dict[int, int]]:
    """Within each turn, its candidates just under a heading line the question names before its others (the section
    of a report the question asks about, where the turn first ranks); and where each of them is quoted from (its
    heading). (Heading lines are read from the turn's text: a line as short as 総務委員会 has no sentence vector.)"""
    from_heading: dict[int, int] = {}
    for c in candidates:
        if any(h in nfkc(c.hit.meeting.name or "") for h in headings):  # the committee's own meeting: no section of it
            continue
        text, start, seen = c.hit.turn.text, c.start, 0
        while seen <= HEADING_WITHIN and start > 0:
            line_start = text.rfind("\n", 0, max(start - 1, 0)) + 1
            line = text[line_start:start].strip()
            if line and _heading_named(line, headings):
                from_heading[id(c)] = line_start + text[line_start:start].index(line[0])
                break
            seen += bool(line)
            start = line_start
    under: dict[str, list[_Sentence]] = {}
    for c in candidates:
        if id(c) in from_heading:
            under.setdefault(c.hit.turn_key, []).append(c)
    out: list[_Sentence] = []
    for c in candidates:
        out += under.pop(c.hit.turn_key, [])
        if id(c) not in from_heading:
            out.append(c)
    return out, from_heading


def _heading_named(sentence: str, names: list[str]) -> bool:
    """A line that is only a name the question uses (「建設委員会」 for 「建設委員会の委員長に決まったのは」)."""
    line = re.sub(r"[\s\u3000]", "", nfkc(sentence))
    return bool(line) and any(line == n or (line.endswith(n) and len(line) <= len(n) + 4) for n in names)


def _text(s: _Sentence) -> str:
    return s.hit.turn.text[s.start : s.end]


def _merge(chosen: list[_Sentence]) -> list[Citation]:
    """One citation per turn and quote; neighbouring sentences of one turn become one quote."""
    groups: list[list[_Sentence]] = []
    for s in chosen:
        last = groups[-1][-1] if groups else None
        if last is not None and last.hit.turn_key == s.hit.turn_key and _adjacent(last, s):
            groups[-1].append(s)
        else:
            groups.append([s])
    out: list[Citation] = []
    seen: dict[tuple[str, int, int], int] = {}
    for g in groups:
        key = (g[0].hit.turn_key, g[0].start, g[-1].end)
        if key in seen:
            continue
        seen[key] = len(out) + 1
        out.append(citation(len(out) + 1, g[0].hit, g[0].start, g[-1].end))
    return out


def _adjacent(a: _Sentence, b: _Sentence) -> bool:
    between = a.hit.turn.text[a.end : b.start]
    return 0 <= b.start - a.end and not between.strip()


# a date or deadline, as an answer to いつ / when: 令和7年度末, 令和6年4月1日, 2024年12月, 4月1日
_WHEN = re.compile(r"(?:令和|平成|昭和)[0-9０-９元一二三四五六七八九十]+年(?:度)?(?:[0-9０-９一二三四五六七八九十]+月)?"
                   r"(?:[0-9０-９一二三四五六七八九十]+日)?(?:末|中|内|当初|以降)?|[0-9０-９]{4}年(?:[0-9０-９]+月)?(?:[0-9０-９]+日)?"
                   r"|[0-9０-９一二三四五六七八九十]+月[0-9０-９一二三四五六七八九十]+日|(?:今|本|来|昨)年度(?:末|中|内)?")
# how an item ended, as the chair declares it: 「よって、本案は原案のとおり可決されました」「総数81、賛成72、反対９」
_OUTCOME_STATED = re.compile(r"総数[0-9０-９一二三四五六七八九十百]+[、,，\s]*賛成[0-9０-９一二三四五六七八九十百]+[、,，\s]*反対[0-9０-９一二三四五六七八九十百]+"
                             r"|(?:原案の?とおり|原案どおり|委員会審査報告の?とおり|委員会審査報告どおり|委員長報告の?とおり|動議の?とおり)?"
                             r"(?:可決|否決|承認|同意|認定|不採択|採択|了承|決定)(?=され|する|と|いた|し|$)")
_ASKS_WHEN = re.compile(r"いつ|時期|期限|何年|何月|何日|when|what year|what date|deadline", re.I)


def direct_answer(question: str, citations: list[Citation]) -> str | None:
    """The figure, date or name the question asks for, as the best cited sentence states it, with its marker:
    「4回 [1]」. None when the question asks for none or no cited sentence states one."""
    if not citations:
        return None
    if _CALLED.search(question):  # the person called on or named, when a cited sentence names one
        named = [f"{p} [{c.n}]" for c in citations for p in persons_named(c.quote) + _NAMED_OFFICIAL.findall(c.quote)]
        if named:
            return "、".join(dict.fromkeys(named[:3]))
    if asks_who_was_chosen(question):  # the person the declaration names, not the chair who declares it
        named = [f"{p} [{c.n}]" for c in citations for p in persons_named(c.quote)]
        return "、".join(dict.fromkeys(named[:3])) or None
    if _WHO_Q.search(question) or _ASKS_NAME.search(question):
        return "、".join(dict.fromkeys(f"{c.speaker} [{c.n}]" for c in citations[:2]))
    if asks_procedure(question) and asks_outcome(question):
        # the chair's declaration, the most telling first: the vote count, then 可決/否決…, then a bare 決定
        stated = [(c, m) for c in citations if c.speaker_kind == SpeakerKind.CHAIR.value
                  for m in _OUTCOME_STATED.finditer(c.quote)]
        if stated:
            c, m = min(stated, key=lambda cm: (0 if cm[1].group(0).startswith("総数") else
                                                2 if cm[1].group(0).endswith("決定") else 1, cm[0].n))
            return f"{m.group(0)} [{c.n}]"
    asked = [(m.start(), unit) for asks, unit in _ASKS_FOR[:-1] for m in [asks.search(question)] if m]
    when = _ASKS_WHEN.search(question)
    if when:
        asked.append((when.start(), _WHEN))
    found: list[str] = []
    for _, unit in sorted(asked, key=lambda x: x[0]):  # in the order the question asks
        for c in citations:
            m = unit.search(c.quote)
            if m:
                found.append(f"{m.group(0)} [{c.n}]")
                break
    return "、".join(dict.fromkeys(found)) or None


def _compose(citations: list[Citation], question: str, english: bool) -> str:
    lines = []
    lead = direct_answer(question, citations)
    if lead:
        lines.append(f"Answer: {lead}" if english else f"回答: {lead}")
    if english:
        lines.append("From the minutes (quoted in the original Japanese):")
    for c in citations:
        when = (c.date or "") if english else (to_wareki(c.date) if c.date else "")
        meta = ", ".join(p for p in (c.body, c.meeting, when) if p) if english else " ".join(
            p for p in (c.body, c.meeting, when) if p
        )
        if english:
            lines.append(f"{c.speaker} ({meta}): 「{c.quote}」 [{c.n}]" if meta else f"{c.speaker}: 「{c.quote}」 [{c.n}]")
        else:
            lines.append(f"{c.speaker}（{meta}）：「{c.quote}」[{c.n}]" if meta else f"{c.speaker}：「{c.quote}」[{c.n}]")
    return "\n".join(lines)
