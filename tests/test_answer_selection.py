"""Which sentences the extractive answer quotes (#12): rules about Japanese minutes and question types, no index."""

from __future__ import annotations

from rag.answering.extractive import _ASKS_FOR, speakers_named


def test_the_person_a_question_says_spoke_is_the_last_one_named_with_a_speech_verb():
    assert speakers_named("高砂市議会の議会運営委員会で、大西委員は発言通告を続けるべきかどうかについてどんな意見を述べたか") == ["大西"]
    assert speakers_named("横浜市の下田教育長は、自己評価があるかと問われ、何に全力を尽くしてきたと答えたか") == ["下田"]
    assert speakers_named("2023年5月の衆議院外務委員会で鈴木敦議員は、留保している国としてどこを挙げたか") == ["鈴木敦"]
    # the asker first, the one whose answer is asked for last
    assert speakers_named("見直しを白井議員が求めたのに対し、山中市長はどう答えたか")[-1] == "山中"
    assert speakers_named("北野委員が問題にしたのを受け、高砂市の当局（永井理事）はどう対応すると述べたか")[-1] == "永井"
    # a role asked for, or a title with no speech
    assert speakers_named("品川区議会の予算特別委員会で委員長に選ばれたのは誰か") == []
    assert speakers_named("大麻取締法等改正案には委員会で何が付されたか") == []


def test_a_time_word_as_a_topic_does_not_ask_for_a_date():
    when = _ASKS_FOR[-1][0]
    assert when.search("ぬくもりの湯はいつ再開するか")
    assert when.search("計画の改定時期は？")
    assert not when.search("北野委員は発言通告の試行を外す時期についてどう主張したか")
