"""Question constraints (rag/answering/constraints.py) on real turns of the sample corpus: a near-miss
question names a year, meeting, municipality, person or name that the evidence must meet."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest

from rag.answering.base import nfkc
from rag.answering.constraints import content_nouns, names_a_person, question_constraints, unmet
from rag.parsing.dates import find_english_year_months, find_year_months
from rag.records import Hit
from rag.readers import read
from rag.sources.folder import file_document

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "sample"


@lru_cache(maxsize=None)
def _turn_hits(path: Path) -> list[Hit]:
    """A parsed document's turns as hits, keys t0, t1… in order."""
    d = read(file_document(path))
    meetings = {m.id: m for m in d.meetings}
    return [Hit(f"t{i}", t, meetings[t.meeting_id], 0.0) for i, t in enumerate(d.turns)]


def _the_hit(hits: list[Hit], text: str) -> Hit:
    found = [h for h in hits if text in h.turn.text]
    assert len(found) == 1, f"{text!r}: {len(found)} turns"
    return found[0]


def _around(hits: list[Hit], before: int):
    """The neighbours function the answerer gets: `before` turns before, one after, in the same meeting."""
    position = {h.turn_key: i for i, h in enumerate(hits)}

    def around(turn_key: str) -> list[Hit]:
        i = position[turn_key]
        return [o for o in hits[max(i - before, 0): i + 2] if o.turn_key != turn_key and o.meeting.id == hits[i].meeting.id]

    return around


def _hits(prefix: str) -> list[Hit]:
    return _turn_hits(next(CORPUS.glob(f"{prefix}_*.txt")))


def _hit(prefix: str, text: str) -> Hit:
    return _the_hit(_hits(prefix), text)


def _neighbours(prefix: str):
    return _around(_hits(prefix), before=1)


def _kinds(question: str) -> list[tuple[str, str]]:
    return [(c.kind, c.label) for c in question_constraints(question)]


# ---------------------------------------------------------------- what a question pins down


def test_year_month_meeting_and_municipality_are_read_from_the_question():
    cs = question_constraints("下関市議会の令和6年12月定例会で、タクシー共同配車アプリの導入時期はいつと答弁されたか")
    assert [(c.kind, c.label, c.year, c.month) for c in cs] == [("sitting", "令和6年12月", 2024, 12),
                                                                 ("body", "下関市議会", None, None),
                                                                 ("place", "下関市", None, None)]
    assert _kinds("第1回長崎市情報化推進計画策定委員会で委員長に選ばれたのは誰か") == [
        ("meeting", "第1回"), ("committee", "情報化推進計画策定委員会"), ("place", "長崎市")]
    # the member whose question is answered (checked against the turn the reply answers, not any turn naming him)
    assert _kinds("下関市長は関谷博議員のDXに関する一般質問に対して何と答弁したか") == [("asker", "関谷博"), ("place", "下関市")]


def test_english_question_gives_its_month_and_year():
    cs = question_constraints("What did the Nagasaki DX Promotion Committee decide at its meeting in December 2022?")
    assert [(c.kind, c.year, c.month) for c in cs] == [("sitting", 2022, 12)]  # the date of the meeting asked about
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


# ---------------------------------------------------------------- the meeting's own fields (real minutes of corpus/dev)

DEV = CORPUS.parent / "dev"


def _dev_hits(name: str) -> list[Hit]:
    return _turn_hits(next(DEV.rglob(name)))


def _dev_hit(name: str, text: str) -> Hit:
    return _the_hit(_dev_hits(name), text)


def _dev_neighbours(name: str):
    return _around(_dev_hits(name), before=3)


def _labels(question: str, hit: Hit, neighbours=None) -> list[str]:
    return [c.label for c in unmet(question_constraints(question), hit, neighbours)]


def test_the_year_of_a_sitting_is_the_meetings_not_a_year_its_turns_mention():
    """沼田町議会 令和6年第1回臨時会 (2024-01-16): the clerk speaks of 令和５年度's budget all through."""
    hit = _dev_hit("numata_20240116.json", "年度末の見込みを３億７，５００万円とし")
    cons = question_constraints("沼田町議会の令和5年第1回臨時会で、ふるさと納税の年度末の寄附見込みはいくらとされたか")
    assert [(c.kind, c.label) for c in cons][:1] == [("sitting", "令和5年")]
    assert [c.label for c in unmet(cons, hit)] == ["令和5年"]
    # as a mere year the turn's 令和５年度 met it: that is how the near miss was answered
    assert unmet([replace(cons[0], kind="date")], hit) == []
    assert _labels("沼田町議会の令和6年第1回臨時会で、ふるさと納税の年度末の寄附見込みはいくらとされたか", hit) == []
    # a year that dates something else than the sitting stays a year the evidence may state (令和5年度の見込み)
    assert _labels("沼田町のふるさと納税の令和5年度末の寄附見込みはいくらか", hit) == []


def test_the_day_of_a_sitting_must_be_the_meetings_day():
    """弘前市議会 2023-02-17: the chair announces the general questions of 3月1日, which are another sitting."""
    chair = _dev_hit("hirosaki_20230217.txt", "次の本会議は、３月１日午前10時開議とし")
    assert _labels("弘前市議会で3月1日の一般質問に最初に登壇した議員は誰か", chair) == ["3月1日"]
    assert _labels("弘前市議会で2月17日の本会議の次の本会議はいつか", chair) == []


def test_a_date_in_brackets_after_the_meeting_is_its_sitting():
    """品川区議会 予算特別委員会 2025-02-21, asked as 「予算特別委員会（2025年2月21日）で…」: the bracketed date is the
    sitting's, with its day (as a mere month it let another day's sitting of the same committee answer)."""
    hit = _dev_hit("shinagawa_20250221_yosan.js", "石田秀男委員が委員長に当選されました")
    cons = question_constraints("品川区議会の予算特別委員会（2025年2月21日）で委員長に選ばれたのは誰か")
    assert [(c.kind, c.label, c.day) for c in cons][:1] == [("sitting", "2025年2月21日", 21)]
    assert _labels("品川区議会の予算特別委員会（2025年2月21日）で委員長に選ばれたのは誰か", hit) == []
    assert _labels("品川区議会の予算特別委員会（2025年2月25日）で委員長に選ばれたのは誰か", hit) == ["2025年2月25日"]


def test_the_house_is_the_meetings_not_a_house_the_turn_mentions():
    """参議院憲法審査会 2022-11-09: 熊谷委員 speaks of 奥野信亮衆議院議員."""
    hit = _dev_hit("sangiin_kenposhinsakai_20221109.json", "札幌地裁の確定判決")
    assert "衆議院" in hit.turn.text
    assert _labels("2022年11月の衆議院憲法審査会で熊谷裕人委員は、何の判決を挙げたか", hit) == ["衆議院"]
    assert _labels("2022年11月の参議院憲法審査会で熊谷裕人委員は、何の判決を挙げたか", hit) == []
    english = question_constraints("At the House of Representatives constitution commission in November 2022, "
                                   "what did Kumagai ask for?")
    assert [c.label for c in unmet(english, hit)] == ["衆議院"]


def test_an_assembly_is_the_meetings_body():
    naie = _dev_hit("naie_20240215.json", "歳入歳出それぞれ８,３４５万６,０００円を追加し")
    assert _labels("奈井江町議会の補正予算（第7号）で追加された額はいくらか", naie) == []
    assert _labels("赤井川村議会の補正予算（第7号）で追加された額はいくらか", naie) == ["赤井川村議会", "赤井川村"]


def test_a_committee_meeting_is_no_other_committee_it_mentions():
    """衆議院安全保障委員会 2008-04-11: 長島委員 recalls a debate of the 外務委員会."""
    hit = _dev_hit("shugiin_anzenhoshoiinkai_20080411.json", "三百四十四名の自衛官の削減")
    assert "外務委員会" in hit.turn.text
    assert _labels("2008年4月の衆議院外務委員会で長島昭久議員が取り上げた改正案では何名削減するとされたか", hit) == ["外務委員会"]
    assert _labels("2008年4月の衆議院安全保障委員会で長島昭久議員が取り上げた改正案では何名削減するとされたか", hit) == []


def test_the_member_asking_is_the_one_whose_question_the_reply_answers():
    """音更町議会 2024-12-17: the reply on tablets answers 石垣議員; 平子議員 is called two turns later."""
    reply = _dev_hit("otofuke_20241217.html", "こちらについては保護者負担はございません。")
    around = _dev_neighbours("otofuke_20241217.html")
    assert _labels("石垣加奈子議員の質問に対し、学校教育部長は保護者負担についてどう答えたか", reply, around) == []
    assert _labels("平子勇輔議員の質問に対し、学校教育部長は保護者負担についてどう答えたか", reply, around) == ["平子勇輔"]
    assert [(c.kind, c.label) for c in question_constraints("ぬくもりの湯の再開時にセレモニーを計画しているかという米川議員の"
                                                           "質問に、総合支所長はどう答えたか")] == [("asker", "米川")]


def test_an_ordinal_of_a_work_section_must_be_stated():
    hit = _dev_hit("otofuke_20241217.html", "柏寿台団地第１工区")
    assert _labels("柏寿台団地第1工区の公営住宅の引渡しはいつまでに行う予定か", hit) == []
    assert _labels("柏寿台団地第2工区の公営住宅の引渡しはいつまでに行う予定か", hit) == ["第2工区"]


def test_a_meeting_dated_is_judged_by_its_date_not_the_year_its_name_states():
    """高砂市議会's 議会運営委員会 is named 令和5年議会運営委員会 in April and in August 2023: the name's year does not make the
    August meeting the April one, in Japanese or in English (a date near the meeting the question is about)."""
    august = _dev_hits("takasago_20230818_giun.txt")[3]
    april = _dev_hits("takasago_20230412_giun.txt")[3]
    assert "令和5年" in nfkc(august.meeting.name) and august.meeting.date == "2023-08-18"
    for q in ("令和5年4月の高砂市議会の議会運営委員会で、委員長は何を求めたか",
              "In Takasago's April 2023 steering committee, what did the chair ask for?"):
        assert [c.kind for c in unmet(question_constraints(q), august)] == ["sitting"], q
        assert unmet(question_constraints(q), april) == [], q
    # an event's year far from the meeting the question names stays a year the evidence may state
    cons = question_constraints("At the House of Councillors constitution commission in November 2022, which alliance "
                                "did Kumagai say the Sapporo District Court recognised in 2001?")
    assert [(c.kind, c.label) for c in cons] == [("sitting", "November 2022"), ("date", "2001"), ("body", "参議院")]
