"""Question constraints (rag/answering/constraints.py) on real turns of the sample corpus: a near-miss
question names a year, meeting, municipality, person or name that the evidence must meet."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest

from rag.answering.constraints import content_nouns, names_a_person, question_constraints, unmet
from rag.parsing.dates import find_english_year_months, find_year_months
from rag.records import Hit
from rag.readers import read
from rag.sources.folder import file_document

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "sample"


@lru_cache(maxsize=None)
def _parsed(prefix: str):
    return read(file_document(next(CORPUS.glob(f"{prefix}_*.txt"))))


def _hits(prefix: str) -> list[Hit]:
    d = _parsed(prefix)
    meetings = {m.id: m for m in d.meetings}
    return [Hit(f"t{i}", t, meetings[t.meeting_id], 0.0) for i, t in enumerate(d.turns)]


def _hit(prefix: str, text: str) -> Hit:
    found = [h for h in _hits(prefix) if text in h.turn.text]
    assert len(found) == 1, f"{text!r}: {len(found)} turns"
    return found[0]


def _neighbours(prefix: str):
    hits = _hits(prefix)
    position = {h.turn_key: i for i, h in enumerate(hits)}

    def around(turn_key: str) -> list[Hit]:
        i = position[turn_key]
        return [o for o in hits[max(i - 1, 0): i + 2] if o.turn_key != turn_key and o.meeting.id == hits[i].meeting.id]

    return around


def _kinds(question: str) -> list[tuple[str, str]]:
    return [(c.kind, c.label) for c in question_constraints(question)]


# ---------------------------------------------------------------- what a question pins down


def test_year_month_meeting_and_municipality_are_read_from_the_question():
    cs = question_constraints("下関市議会の令和6年12月定例会で、タクシー共同配車アプリの導入時期はいつと答弁されたか")
    assert [(c.kind, c.label, c.year, c.month) for c in cs] == [("date", "令和6年12月", 2024, 12),
                                                                 ("place", "下関市", None, None)]
    assert _kinds("第1回長崎市情報化推進計画策定委員会で委員長に選ばれたのは誰か") == [
        ("meeting", "第1回"), ("committee", "情報化推進計画策定委員会"), ("place", "長崎市")]
    assert _kinds("下関市長は関谷博議員のDXに関する一般質問に対して何と答弁したか") == [("place", "下関市"), ("person", "関谷博")]


def test_english_question_gives_its_month_and_year():
    cs = question_constraints("What did the Nagasaki DX Promotion Committee decide at its meeting in December 2022?")
    assert [(c.kind, c.year, c.month) for c in cs] == [("date", 2022, 12)]
    assert question_constraints("Who said the migration to the cloud might cost more at first?") == []


def test_only_names_are_constraints_not_quoted_clauses_or_place_words_inside_compounds():
    assert _kinds("母子手帳アプリ「ふくふく母子モ」の登録者数は何人か") == [("name", "ふくふく母子モ")]
    # a quoted clause is a paraphrase of what was said, not a name the evidence must repeat
    assert _kinds("盛岡市のアンケートで「インターネットで申請や届出ができる」ことを期待する人の割合は") == [("place", "盛岡市")]
    # 日本 in 東日本大震災 is no municipality; 長崎市民 and 下関市長 name one
    assert _kinds("東日本大震災を受けて災害対策が盛り込まれたか") == []
    assert _kinds("あじさいPayのアプリをインストールした長崎市民は約何人いたか") == [("place", "長崎市")]


def test_year_mentions_in_every_written_form():
    years = [(y, m) for _, _, y, m in find_year_months("令和6年12月定例会、令和5年度、平成23年8月19日、2022年12月、令和元年")]
    assert years == [(2024, 12), (2023, None), (2011, 8), (2022, 12), (2019, None)]
    english = [(y, m) for _, _, y, m in find_english_year_months("December 2022, Sept. 2021, fiscal 2020, decision 2019")]
    assert english == [(2022, 12), (2021, 9), (2020, None), (2019, None)]  # "decision" is not December


# ---------------------------------------------------------------- whether the evidence meets them


def test_the_september_session_does_not_answer_for_december():
    reply = _hit("003", "タクシーの共同配車アプリにつきましては")  # 総合政策部長, 2024-09-18
    december = question_constraints("下関市議会の令和6年12月定例会で、タクシー共同配車アプリの導入時期はいつと答弁されたか")
    assert [c.label for c in unmet(december, reply)] == ["令和6年12月"]
    september = question_constraints("下関市議会の令和6年9月の一般質問で、タクシー共同配車アプリについて何と答弁されたか")
    assert unmet(september, reply) == []
    # a fiscal year is met by the meeting's date (2024-09-18 lies in 令和6年度) or by a year the turn states
    assert unmet(question_constraints("令和6年度の答弁で"), reply) == []
    kids = _hit("003", "ふくふく母子モ")
    assert unmet(question_constraints("令和5年度から始めた子育てのサービスは"), kids) == []
    assert [c.label for c in unmet(question_constraints("令和2年度から始めた子育てのサービスは"), kids)] == ["令和2年度"]


def test_the_municipality_comes_from_the_meeting_even_when_the_turn_does_not_say_it():
    morioka = _hit("004", "令和4年度は49回開いて374人")  # 市側理事者 of 盛岡市; the turn itself says 盛岡市 nowhere
    assert unmet(question_constraints("盛岡市のスマホ講習会は令和4年度に何回開かれたか"), morioka) == []
    missing = unmet(question_constraints("仙台市のスマホ講習会は令和4年度に何回開かれたか"), morioka)
    assert [c.label for c in missing] == ["仙台市"]
    assert missing[0].reason(english=False) == "質問の『仙台市』に当たる発言は見つかりませんでした。"


def test_the_meeting_number_must_be_the_meetings():
    chair = _hit("002", "データセンターも頭に置いているが")
    assert unmet(question_constraints("第1回長崎市情報化推進計画策定委員会でデータセンターについて何と答えたか"), chair) == []
    assert [c.label for c in unmet(question_constraints("第3回長崎市情報化推進計画策定委員会で何と答えたか"), chair)] == ["第3回"]
    # minutes that print the number in kanji meet the same constraint, in any written form of the question
    kanji = replace(chair, meeting=replace(chair.meeting, name=chair.meeting.name.replace("第1回", "第一回")))
    assert "第一回" in kanji.meeting.name
    assert unmet(question_constraints("第1回長崎市情報化推進計画策定委員会で何と答えたか"), kanji) == []
    assert unmet(question_constraints("第一回長崎市情報化推進計画策定委員会で何と答えたか"), kanji) == []
    assert [c.label for c in unmet(question_constraints("第三回長崎市情報化推進計画策定委員会で何と答えたか"), kanji)] == [
        "第3回"]


def test_a_person_is_met_by_the_question_turn_the_reply_answers():
    reply = _hit("003", "タクシーの共同配車アプリにつきましては")
    asked = question_constraints("関谷博議員の質問に対して、タクシー共同配車アプリについて何と答弁されたか")
    assert [c.label for c in unmet(asked, reply)] == ["関谷博"]  # the reply alone does not name him
    assert unmet(asked, reply, _neighbours("003")) == []  # the turn before it is his (○関谷 博君)
    other = question_constraints("阪本議員の質問に対して、タクシー共同配車アプリについて何と答弁されたか")
    assert [c.label for c in unmet(other, reply, _neighbours("003"))] == ["阪本"]


# ---------------------------------------------------------------- names and topics


def test_a_name_is_given_only_by_a_sentence_naming_a_person():
    chair = _hit("002", "データセンターも頭に置いているが")  # 事務局: no name anywhere in 002
    assert not names_a_person("データセンターも頭に置いているが", chair)
    member = _hit("004", "情報セキュリティ研修の受講率についてですが")  # 委員（村本ひろや）
    assert names_a_person("情報セキュリティ研修の受講率についてですが", member)
    sekiya = _hit("003", "アーキテクトコーディネーターとして松永州央さん")
    assert names_a_person("アーキテクトコーディネーターとして松永州央さんとの委託契約を結ばれています。", sekiya)


@pytest.mark.parametrize("sentence, about", [
    ("現在、DX推進リーダーを各職場に配置していますが", True),
    ("調べたところ約9万人の方が登録しています。", False),  # a head count, but of LINE users
])
def test_a_figure_must_share_a_noun_with_the_question(sentence, about):
    topic = content_nouns("盛岡市はDX推進リーダーを何人配置しているか") - {"盛岡"}
    assert bool(topic & content_nouns(sentence)) is about


def test_a_person_named_by_the_source_meets_the_question_under_a_shortened_label():
    """The Diet API's speech record names 長島昭久; the printed label is 長島（昭）委員."""
    d = read(file_document(CORPUS.parent / "dev" / "diet" / "shugiin_anzenhoshoiinkai_20080411.json"))
    hit = Hit("t0", d.turns[0], d.meetings[0], 0.0)
    assert d.turns[0].speaker == "長島（昭）委員"
    cons = question_constraints("長島昭久議員が取り上げた設置法改正案では、自衛官を何名削減するとされていたか")
    assert any(c.kind == "person" for c in cons) and unmet(cons, hit) == []
