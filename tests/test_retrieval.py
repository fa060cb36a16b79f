"""Hybrid retrieval over the real sample-corpus index: filters before ranking, keyword recall, context."""

from __future__ import annotations

import pytest

from rag.answering.base import join_follow_up as search_query
from rag.pipeline import Pipeline
from rag.records import SpeakerKind
from rag.records import Filters


@pytest.fixture(scope="module")
def pipe(evaluation_index, default_embedder, model_cache_dir):
    from rag.config import Settings

    return Pipeline(Settings().with_overrides(index_dir=evaluation_index, model_cache=model_cache_dir),
                    embedder=default_embedder)


def test_hybrid_finds_the_answering_turn(pipe):
    hits = pipe.retrieve("下関市は生成AIをどこで使えるようにしたのか", k=5)
    assert any(h.turn.speaker == "総合政策部長(岸本芳郎君)" and "総合行政ネットワーク" in h.turn.text for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("term", ["ガバメントクラウド", "RPA", "LINE", "e-stat"])
def test_keyword_search_finds_rare_terms(pipe, term):
    hits = pipe.retriever.search(term, k=5, mode="keyword")
    assert hits, term
    assert term.lower() in hits[0].turn.text.lower()


def test_filters_apply_before_ranking(pipe):
    q = "システム標準化の移行期限"
    unfiltered = pipe.retrieve(q, k=3)
    assert unfiltered[0].meeting.body == "長崎市"
    # a body whose turns would never make an unfiltered top 3 still yields k results: filtering is not a post-cut
    only = pipe.retrieve(q, k=3, filters=Filters(body="墨田区議会"))
    assert len(only) == 3 and all(h.meeting.body == "墨田区議会" for h in only)
    dated = pipe.retrieve(q, k=5, filters=Filters(since="2024-01-01", until="2024-12-31"))
    assert dated and all("2024-01-01" <= h.meeting.date <= "2024-12-31" for h in dated)
    execs = pipe.retrieve("生成AI", k=5, filters=Filters(kind="executive"))
    assert execs and all(h.turn.kind == SpeakerKind.EXECUTIVE for h in execs)
    named = pipe.retrieve("DX", k=5, filters=Filters(speaker="関谷博"))  # printed as 関谷 博君
    assert named and all(h.turn.speaker == "関谷 博君" for h in named)
    assert pipe.retrieve(q, k=5, filters=Filters(body="存在しない市")) == []


def test_procedural_turns_do_not_crowd_out_answers(pipe):
    hits = pipe.retrieve("関谷博議員の質問", k=5)
    assert hits and not hits[0].turn.procedural


def test_context_returns_neighbouring_turns_in_order(pipe):
    hit = pipe.retrieve("下関市は生成AIをどこで使えるようにしたのか", k=1)[0]
    rows = pipe.retriever.context(hit.turn_key, before=2, after=2)
    orders = [t.order for _, t, _ in rows]
    assert hit.turn.order in orders and orders == sorted(orders)
    assert len(rows) == 5 and {m.id for _, _, m in rows} == {hit.meeting.id}


def test_llama_index_retriever_returns_turn_nodes(pipe):
    from rag.retrieval import as_llama_index

    nodes = as_llama_index(pipe.retriever, k=3).retrieve("ガバメントクラウドへの移行費用")
    assert len(nodes) == 3
    meta = nodes[0].node.metadata
    assert {"doc", "meeting", "date", "speaker", "turn"} <= set(meta)
    assert nodes[0].node.get_content()


def test_follow_up_carries_previous_terms():
    assert search_query("その費用は？", ["ガバメントクラウドへの移行"]) == "ガバメントクラウドへの移行 その費用は？"
    long_q = "墨田区の委員は盛岡市で何を質問したのか教えてください"
    assert search_query(long_q, ["前の質問"]) == long_q


def test_english_question_is_answered_with_a_note(pipe):
    a = pipe.ask("Where did Shimonoseki make generative AI available to staff?")
    assert not a.abstained, a.answer
    assert any(c.speaker == "総合政策部長(岸本芳郎君)" for c in a.citations)
    assert "original Japanese" in " ".join(a.notes)


def test_unanswerable_question_abstains(pipe):
    a = pipe.ask("長崎市長の給料は月額いくらか")
    assert a.abstained and not a.citations
    assert "見つかりませんでした" in a.answer


def test_a_named_speaker_who_never_spoke_is_not_answered_by_someone_else(pipe):
    a = pipe.ask("下関市長は関谷博議員のDXに関する一般質問に対して何と答弁したか")  # 市長 never spoke in 003
    assert a.abstained and a.related
    b = pipe.ask("総合政策部長は共通の価値観として何を掲げたか")
    assert not b.abstained and any(c.speaker == "総合政策部長(岸本芳郎君)" for c in b.citations)
    # shown in the order it was said: the member's question, then the reply
    turns = [c.turn for c in b.citations]
    assert turns == sorted(turns)


def test_a_near_miss_meeting_date_is_not_answered_and_the_answer_says_why(pipe):
    a = pipe.ask("下関市議会の令和6年12月定例会で、タクシー共同配車アプリの導入時期はいつと答弁されたか")  # only 9月 exists
    assert a.abstained and a.related and not a.citations
    assert "令和6年12月" in a.answer
    b = pipe.ask("下関市議会の令和6年9月の一般質問で、タクシー共同配車アプリについて総合政策部長は何と答弁したか")
    assert not b.abstained and any("タクシーの共同配車アプリ" in c.quote for c in b.citations)


def test_a_figure_about_something_else_does_not_answer_a_number_question(pipe):
    a = pipe.ask("盛岡市はDX推進リーダーを何人配置しているか")  # a head count nearby is of LINE users
    assert a.abstained and "数値" in a.answer
    b = pipe.ask("盛岡市のスマホ利用講習会の開催回数と参加人数は（令和3年度・令和4年度）")
    assert not b.abstained and any("49回開いて374人" in c.quote for c in b.citations)
