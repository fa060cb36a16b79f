"""One fixture per layout (tests/fixtures/parsing/), each checked with the coverage invariant."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.parsing.coverage import coverage_problems
from rag.records import SegmentKind, SpeakerKind
from rag.sources.folder import parse_file as parse_path

FIX = Path(__file__).resolve().parent / "fixtures" / "parsing"
ALL = sorted(p.name for p in FIX.iterdir() if p.is_file() and not p.name.endswith(".meta.json"))


def speech(d) -> str:
    return "\n".join(t.text for t in d.turns)


def seg_texts(d, kind) -> list[str]:
    return [g.text for g in d.segments if g.kind is kind]


@pytest.mark.parametrize("name", ALL)
def test_fixture_coverage(name):
    d = parse_path(FIX / name)
    assert coverage_problems(d) == []
    assert d.turns
    mids = {m.id for m in d.meetings}
    for t in d.turns:
        assert t.meeting_id in mids and t.text == "\n".join(d.text[s:e] for s, e in t.pieces)
    for m in d.meetings:
        orders = [t.order for t in d.turns if t.meeting_id == m.id]
        assert orders == list(range(1, len(orders) + 1))


def test_verbatim_plenary():
    d = parse_path(FIX / "verbatim_plenary.txt")
    assert [t.speaker for t in d.turns] == [
        "議長（山田太郎君）", "１８番（鈴木花子君）", "市長（田中　一）", "総務部長", "（山田はなこ議長）",
        "さとう一郎議長", "関谷 博君", "市民部長(木村　三郎君)", "議長（山田太郎君）"]
    by = {t.speaker: t for t in d.turns}
    assert (by["１８番（鈴木花子君）"].speaker_name, by["１８番（鈴木花子君）"].kind) == ("鈴木花子", SpeakerKind.MEMBER)
    assert (by["市長（田中　一）"].speaker_name, by["市長（田中　一）"].speaker_role) == ("田中一", "市長")
    assert by["市長（田中　一）"].kind is SpeakerKind.EXECUTIVE
    assert (by["総務部長"].speaker_name, by["総務部長"].speaker_role) == (None, "総務部長")
    assert (by["（山田はなこ議長）"].speaker_name, by["（山田はなこ議長）"].kind) == ("山田はなこ", SpeakerKind.CHAIR)
    assert (by["さとう一郎議長"].speaker_name, by["さとう一郎議長"].speaker_role) == ("さとう一郎", "議長")
    assert by["関谷 博君"].speaker_name == "関谷博" and by["関谷 博君"].text.startswith("住民サービスの向上")
    assert by["市民部長(木村　三郎君)"].text == "令和８年度から本庁で始める予定でございます。"
    assert d.turns[0].procedural and d.turns[4].procedural and not d.turns[1].procedural
    s = speech(d)
    for junk in ("拍手", "登壇", "呼ぶ者あり", "午前１１時３０分休憩", "午後２時１５分散会", "出席議員", "◇"):
        assert junk not in s
    assert "〔「そうだ」と呼ぶ者あり〕" in seg_texts(d, SegmentKind.STAGE_DIRECTION)
    assert "〔登壇〕" in seg_texts(d, SegmentKind.STAGE_DIRECTION)
    assert "（拍手）" in seg_texts(d, SegmentKind.STAGE_DIRECTION)
    assert "午前１１時３０分休憩" in seg_texts(d, SegmentKind.PROCEDURE)
    assert any("◇" in x for x in seg_texts(d, SegmentKind.SEPARATOR))
    m = d.meetings[0]
    assert (m.body, m.name, m.date, m.source) == ("山田市議会", "令和７年第２回定例会（第３号）", "2025-05-28", "https://example.jp/minutes/3")
    # the three circle markers ○ ◯ 〇 (different code points) all open turns
    marks = [g.text[0] for g in d.segments if g.kind is SegmentKind.SPEAKER_LABEL]
    assert {"○", "◯", "〇", "◎", "◆", "◇"} <= set(marks)


def test_summary_colon_and_alone():
    d = parse_path(FIX / "summary_colon.txt")
    assert [t.speaker for t in d.turns] == ["会長", "事務局", "委員", "事務局", "委員長", "委員", "事務局"]
    assert d.turns[0].kind is SpeakerKind.CHAIR
    assert d.turns[3].text == "昨年度は全申請の約25%であった。\nまた、今年度は30%を目標としている。"
    assert d.turns[4].text == "副会長の意見を伺いたい。"
    assert d.turns[-1].agenda == "議題2 その他" and d.turns[0].agenda == "議題1 デジタル推進計画について"
    assert d.meetings[0].date == "2024-07-05"
    assert "お問い合わせ先" not in speech(d) and "電話番号" not in speech(d)


def test_no_speakers_fallback():
    d = parse_path(FIX / "no_speakers.txt")
    assert all(t.speaker == "不明" and t.kind is SpeakerKind.UNKNOWN for t in d.turns)
    assert any("no speaker labels" in w for w in d.warnings)


def test_html():
    d = parse_path(FIX / "minutes.html")
    assert d.format == "html"
    assert [(t.speaker, t.text) for t in d.turns] == [
        ("委員", "オンライン申請の利用率を教えてほしい。"),
        ("事務局", "昨年度は約25%であった。"),
        ("委員長", "本日の議事は以上とする。"),
    ]
    for junk in ("くらし", "トップへ", "偽物", "サイドバー", "Copyright", "ホーム", "スクリプト"):
        assert junk not in d.text
    assert d.meetings[0].date == "2024-04-12" and d.meetings[0].name == "令和6年第1回 山田市DX推進委員会"


def test_diet_meeting_level():
    d = parse_path(FIX / "diet_meeting.json")
    assert d.format == "diet-json"
    (m,) = d.meetings
    assert (m.body, m.name, m.date) == ("衆議院", "本会議 第3号", "2024-01-30")
    assert [t.speaker for t in d.turns] == ["議長（額賀福志郎君）", "議長（額賀福志郎君）", "泉健太君", "内閣総理大臣（岸田文雄君）"]
    izumi = d.turns[2]
    assert (izumi.speaker_name, izumi.speaker_group, izumi.kind) == ("泉健太", "立憲民主党・無所属", SpeakerKind.MEMBER)
    assert izumi.text.startswith("立憲民主党の泉健太です。") and "拍手" not in izumi.text and "○" not in izumi.text
    assert izumi.url == "https://kokkai.ndl.go.jp/txt/121105254X00320240130/3"
    pm = d.turns[3]
    assert (pm.speaker_name, pm.speaker_role, pm.kind) == ("岸田文雄", "内閣総理大臣", SpeakerKind.EXECUTIVE)
    assert d.turns[0].kind is SpeakerKind.CHAIR and d.turns[0].procedural
    assert izumi.agenda == "日程第一　国務大臣の演説に対する質疑"
    front = seg_texts(d, SegmentKind.FRONT_MATTER)
    assert front and front[0].startswith("令和六年一月三十日") and "議事日程" not in speech(d)
    assert "〔泉健太君登壇〕" in seg_texts(d, SegmentKind.STAGE_DIRECTION)


def test_diet_speech_level_several_meetings():
    d = parse_path(FIX / "diet_speech.json")
    assert [(m.body, m.name, m.date) for m in d.meetings] == [
        ("参議院", "予算委員会 第2号", "2024-03-04"), ("衆議院", "総務委員会 第5号", "2024-04-11")]
    m1 = [t for t in d.turns if t.meeting_id == d.meetings[0].id]
    assert [t.speaker for t in m1] == ["山田花子君", "国務大臣（河野太郎君）"]  # ordered by speechOrder
    assert m1[1].speaker_role == "国務大臣（デジタル大臣）" and m1[1].kind is SpeakerKind.EXECUTIVE
    chair = [t for t in d.turns if t.meeting_id == d.meetings[1].id][0]
    assert chair.kind is SpeakerKind.CHAIR and chair.procedural and chair.text == "次に、鈴木一郎君。"
    assert d.meetings[0].source == "https://kokkai.ndl.go.jp/txt/121304024X00220240304"


def test_how_the_house_voted_stays_in_the_chairs_turn(tmp_path):
    """〔賛成者起立〕 and 〔「異議なし」と呼ぶ者あり〕 are the evidence of a vote: kept in the chair's turn."""
    f = tmp_path / "vote.txt"
    f.write_text("令和6年第2回山田市議会定例会会議録（第3号）\n"
                 "○議長（山田太郎君）　議案第５号を採決いたします。本案は原案のとおり可決することに賛成の議員の起立を求めます。\n"
                 "〔賛成者起立〕\n"
                 "○議長（山田太郎君）　起立多数であります。よって、議案第５号は原案のとおり可決されました。\n"
                 "次に、会期についてお諮りいたします。会期は本日から２１日間といたしたいと思います。御異議ありませんか。\n"
                 "〔「異議なし」と呼ぶ者あり〕\n"
                 "御異議なしと認めます。よって、会期は２１日間と決定いたしました。\n", encoding="utf-8")
    d = parse_path(f)
    assert "〔賛成者起立〕" in d.turns[0].text
    assert "〔「異議なし」と呼ぶ者あり〕" in d.turns[1].text and "２１日間と決定" in d.turns[1].text
    assert coverage_problems(d) == []


def test_discussnet_text_with_triangle_headings_and_a_bracketed_session_number(tmp_path):
    """福津市議会's DiscussNet text export (the layout as a public scraper's test quotes it:
    tee753-byte/mirai-gikai-fukutsu): 「令和　８年　３月定例会（第３回）」 names the session with its number after it,
    △ marks an agenda heading between two of the chair's lines, and △ before a figure is a minus sign."""
    f = tmp_path / "fukutsu.txt"
    f.write_text("令和　８年　３月定例会（第３回）\n\n１　議　事　日　程（５日目）\n令和８年３月23日\n　日程第１　一般質問\n"
                 "　　　　　　　　　　～～～～～～～～○～～～～～～～～\n　　　　　　　　　　　　開議　午前９時30分\n"
                 "○議長（髙山賢二）　ただいまから、令和８年第３回福津市議会定例会を再開いたします。\n"
                 "△日程第１一般質問\n"
                 "○議長（髙山賢二）　日程第１、一般質問を行います。\n"
                 "◆３番（山本　祐平）　収支は次のとおりです。\n"
                 "△５００万円の減額となっております。\n"
                 "◎市長（福井崇郎）　お答えいたします。\n", encoding="utf-8")
    d = parse_path(f)
    m = d.meetings[0]
    assert (m.body, m.name, m.date) == ("福津市議会", "令和８年３月定例会（第３回）", "2026-03-23")
    assert m.agenda == ["日程第１\u3000一般質問"]  # the 議事日程 line and the △ heading are one item
    assert [t.speaker for t in d.turns] == ["議長（髙山賢二）", "議長（髙山賢二）", "３番（山本　祐平）", "市長（福井崇郎）"]
    assert "△日程第１" not in speech(d) and "日程第１一般質問" in seg_texts(d, SegmentKind.AGENDA_HEADING)[-1]
    assert "△５００万円の減額" in d.turns[2].text
    assert coverage_problems(d) == []


def test_dbsearch_text_download_with_numbered_utterances_in_cp932(tmp_path):
    """DB-Search's manual text download (山梨県議会 令和８年２月臨時会 第１号, the layout as a public repository's
    importer test quotes it: prefectural_transcripts' tests of importers/dbsearch): cp932 with CRLF, a header line
    「…（第１号）　本文 : 2026-02-03」, each utterance numbered on a line of its own (「2:」), ◯ markers with and
    without a bracketed title. The numbers are no speech."""
    rule = "\u3000" * 7 + "─" * 20
    text = ("令和８年２月臨時会（第１号）　本文 : 2026-02-03\n" + "-" * 64 + "\n1:\n"
            "◯議長（渡辺淳也君）ただいまから、令和八年二月山梨県議会臨時会を開会いたします。\n"
            f"\u3000これより、本日の会議を開きます。\n{rule}\n\n2:\n"
            "◯知事（長崎幸太郎君）提出いたしました案件につきまして、御説明申し上げます。\n\n3:\n"
            "◯水岸富美男君\u3000自由民主党を代表して質問いたします。\n\n4:\n"
            "◯議長（渡辺淳也君）以上で本臨時会を閉会いたします。\n")
    f = tmp_path / "20260203.txt"
    f.write_bytes(text.replace("\n", "\r\n").encode("cp932"))
    d = parse_path(f)
    m = d.meetings[0]
    assert (m.body, m.name, m.date) == ("山梨県議会", "令和８年２月臨時会（第１号）", "2026-02-03")
    assert [(t.speaker, t.kind) for t in d.turns] == [
        ("議長（渡辺淳也君）", SpeakerKind.CHAIR), ("知事（長崎幸太郎君）", SpeakerKind.EXECUTIVE),
        ("水岸富美男君", SpeakerKind.MEMBER), ("議長（渡辺淳也君）", SpeakerKind.CHAIR)]
    assert d.turns[0].text.endswith("本日の会議を開きます。") and d.turns[1].text.endswith("申し上げます。")
    assert not any(t.text.rstrip().endswith(":") for t in d.turns)
    assert coverage_problems(d) == []


DEV = Path(__file__).resolve().parent.parent / "corpus" / "dev"


def test_the_item_the_chair_takes_up_is_the_agenda_of_the_turns_that_follow():
    """「…を議題に供します」 in the chair's turn: the explanation, the vote and 「よって、本案は…決定いたしました」 after it
    carry that item (read out before the phrase, or on the lines after a bare 「追加日程第２を議題に供します」)."""
    sumida = parse_path(DEV / "municipal" / "sumida_20241227.json")
    vote = next(t for t in sumida.turns if "本案は、委員会審査報告どおり決定いたしました" in t.text)
    assert vote.agenda == "追加日程第１・議案第７０号 令和６年度墨田区一般会計補正予算、委員会審査報告"
    assert sumida.turns[0].agenda is None  # before any item was taken up
    shinagawa = parse_path(DEV / "municipal" / "shinagawa_20240527.js")
    consent = [t for t in shinagawa.turns if "原案に同意することに決定" in t.text]
    assert [t.agenda for t in consent] == ["追加日程第１ 第43号議案 監査委員の選任同意について",
                                           "追加日程第２ 第44号議案 監査委員の選任同意について"]
    assert "日程第３ 議会運営委員の選任について" in shinagawa.meetings[0].agenda
    # a heading in the text still starts the next item: the Diet's 日程第四 after 「以上両案を一括して議題」
    diet = parse_path(DEV / "other" / "sangiin_20231206.pdf")
    passed = [t.agenda for t in diet.turns if "可決されました" in t.text]
    assert passed[0].endswith("以上両案") and "官報の発行に関する法律案" in passed[0]
    assert passed[1].startswith("日程第四 大麻取締法")


def test_a_pdf_pages_line_breaks_do_not_end_sentences():
    """Text extracted from a PDF (奈井江町's minutes in a scraper's JSON) breaks lines at the page's width, mid-word
    and before a long figure: the sentence with the figure is one sentence; real sentence ends and short lines
    (headings, lists) still end one."""
    from rag.indexing.chunking import sentence_spans, wrap_width

    naie = parse_path(DEV / "municipal" / "naie_20240215.json")
    turn = next(t for t in naie.turns if "除排雪に要する" in t.text)
    assert wrap_width(turn.text) in (38, 39, 40)
    sentences = [turn.text[s:e] for s, e in sentence_spans(turn.text)]
    snow = next(s for s in sentences if "除排雪に要する" in s)
    assert snow.startswith("下段、８款２項１目の道路維持費では") and snow.endswith("６,０２２万４,０００円を追加計上。")
    assert "次に、歳入についてご説明いたします。" in sentences
    # minutes typed line by line are not wrapped text: every line ends its sentence as before
    sumida = parse_path(DEV / "municipal" / "sumida_20241227.json")
    assert all(wrap_width(t.text) is None for t in sumida.turns)
    listing = "日程第二 官報の発行に関する法律案\n日程第三 官報の発行に関する法律の施行に伴う関係法律の整備に関する法律案"
    assert len(sentence_spans(listing)) == 2


def test_an_archives_threads_of_different_meetings_are_different_meetings():
    """OpenGIKAI's day file holds threads of 予算委員会 and 議院運営委員会: two meetings, each with its own turns."""
    d = parse_path(DEV / "other" / "opengikai-sangiin_20260226.json")
    assert [(m.body, m.name, m.date) for m in d.meetings] == [("参議院", "予算委員会", "2026-02-26"),
                                                             ("参議院", "議院運営委員会", "2026-02-26")]
    by_meeting = {m.id: [t for t in d.turns if t.meeting_id == m.id] for m in d.meetings}
    assert all(by_meeting.values())
    assert all(d.text[a:b] in t.text for t in d.turns for a, b in t.pieces)  # offsets still point at the text
    both = parse_path(DEV / "other" / "opengikai-sangiin_20260225.json")
    assert [m.body for m in both.meetings] == ["参議院", "衆議院"]


def test_csv_rows_one_utterance_each_grouped_into_meetings_by_their_columns(tmp_path):
    """A CSV export in the columns a public minutes project uses (発言者, 発言内容, 年月日 as YYYY/MM/DD, 会議の名称), cp932,
    holding the real turns of 墨田区議会's 2024-12-27 緊急議会 (corpus/dev) and of 品川区's 区民委員会 (2023-02-27): the
    same speakers and words as their own files, two meetings with their names and dates."""
    import csv
    import io

    sumida = parse_path(DEV / "municipal" / "sumida_20241227.json")
    kumin = parse_path(DEV / "municipal" / "shinagawa_20230227_kumin.js")
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["発言者", "発言内容", "年月日", "会議の名称"])
    for d, date, name in ((sumida, "2024/12/27", "令和６年度定例会１２月緊急議会"), (kumin, "2023/02/27", "区民委員会")):
        for t in d.turns[:12]:
            w.writerow([t.speaker, t.text, date, name])
    f = tmp_path / "minutes.csv"
    f.write_bytes(out.getvalue().encode("cp932", errors="replace"))
    d = parse_path(f)
    # no body column: 墨田区議会 is read where the chair's words state it, 品川区's committee states none
    assert [(m.name, m.date, m.body) for m in d.meetings] == [("令和６年度定例会１２月緊急議会", "2024-12-27", "墨田区議会"),
                                                               ("区民委員会", "2023-02-27", None)]
    expected = [(t.speaker, t.kind) for t in sumida.turns[:12] + kumin.turns[:12]]
    assert [(t.speaker, t.kind) for t in d.turns] == expected
    assert d.turns[3].text.replace("\n", "") == sumida.turns[3].text.replace("\n", "")
    assert coverage_problems(d) == []


def test_a_csv_without_a_text_column_or_rows_is_refused_with_a_clear_reason(tmp_path):
    from rag.errors import SourceError
    f = tmp_path / "budget.csv"
    f.write_text("款,項,金額\n総務費,総務管理費,1000\n", encoding="utf-8")
    with pytest.raises(SourceError, match="without a text column.*款, 項, 金額"):
        parse_path(f)
    f.write_text("発言者,発言内容,年月日\n", encoding="utf-8")
    with pytest.raises(SourceError, match="a header and no rows"):
        parse_path(f)
