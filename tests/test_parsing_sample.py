"""The five real sample minutes: expected speaker sequences, key fields, coverage."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.parsing.coverage import coverage_problems
from rag.records import SegmentKind, SpeakerKind
from rag.sources.folder import parse_file as parse_path

SAMPLE = Path(__file__).resolve().parent.parent / "corpus" / "sample"

I, J, C = "委員", "事務局", "委員長"
SEQ = {
    "000_f177d88556495574.txt": [[I, J, I, J, I, I, J, I, I, I, J, I, I, J, C, J, I, J, I, J, I, J, I, J, C, I, J]],
    "001_7b1a8984c505c643.txt": [[I, J, I, J, J, I, J, C, I, J, I, J, I, J, I, J, C, J, C, I, I, I, I, I, I]],
    "002_2eb7d40ab8163efd.txt": [
        [C, I, J, I, J, I, J, C, J, C, J, C, I, I, J, "員長委", I, J, C, I, J, I, J, C, "副委員長", J, C, I, I, J]
    ],
    "003_cfdc2b6f806e86f8.txt": [
        ["副議長(安岡克昌君)", "関谷 博君", "総合政策部長(岸本芳郎君)", "関谷 博君", "総合政策部長(岸本芳郎君)",
         "総務部長(笹野修一君)", "関谷 博君", "総合政策部長(岸本芳郎君)", "関谷 博君", "総務部長(笹野修一君)",
         "総合政策部長(岸本芳郎君)", "関谷 博君", "総合政策部長(岸本芳郎君)", "関谷 博君", "総合政策部長(岸本芳郎君)",
         "関谷 博君", "総合政策部長(岸本芳郎君)", "関谷 博君"]
    ],
    "004_2aca453d231e7187.txt": [
        ["盛岡市議会次長兼議事総務課長", "委員長(たきざわ正宜)", "盛岡市理事者(情報企画課長)", "市側理事者",
         "委員（村本ひろや）", "市側理事者", "委員（しみず良平）", "市側理事者", "委員（たかはしのりこ）", "市側理事者",
         "委員（高橋正利）", "市側理事者（情報企画課長）", "委員（井上裕幾）", "市側理事者（情報企画課長）",
         "委員（しもむら緑）", "市側理事者", "委員（あべきみこ）", "市側理事者", "委員長（たきざわ正宜）"],
        ["仙台市議会事務局調査課長", "委員長 (たきざわ正宜)", "仙台市理事者 (行政デジタル推進課長)", "市側理事者",
         "委員（たかはしのりこ）", "市側理事者", "委員（たかはしのりこ）", "市側理事者", "委員（高橋正利）", "市側理事者",
         "委員（高橋正利）", "市側理事者", "委員（井上裕幾）", "市側理事者", "委員長（たきざわ正宜）"],
    ],
}

_cache: dict[str, object] = {}


def doc(name: str):
    if name not in _cache:
        _cache[name] = parse_path(SAMPLE / name)
    return _cache[name]


def turn(d, speaker_contains: str, text_contains: str = ""):
    return next(t for t in d.turns if speaker_contains in t.speaker and text_contains in t.text)


@pytest.mark.parametrize("name", sorted(SEQ))
def test_speaker_sequence(name):
    d = doc(name)
    assert len(d.meetings) == len(SEQ[name])
    for m, expected in zip(d.meetings, SEQ[name]):
        ts = [t for t in d.turns if t.meeting_id == m.id]
        assert [t.speaker for t in ts] == expected
        assert [t.order for t in ts] == list(range(1, len(ts) + 1))


@pytest.mark.parametrize("name", sorted(SEQ))
def test_coverage_invariant(name):
    d = doc(name)
    assert coverage_problems(d) == []
    for t in d.turns:
        assert t.text.strip() and t.pieces
        assert t.text == "\n".join(d.text[s:e] for s, e in t.pieces)


@pytest.mark.parametrize("name", sorted(SEQ))
def test_meeting_ids_stable_and_hash(name):
    a = doc(name)
    b = parse_path(SAMPLE / name)
    assert [m.id for m in a.meetings] == [m.id for m in b.meetings]
    assert len({m.id for m in a.meetings}) == len(a.meetings)
    assert all(m.content_hash == a.content_hash and len(a.content_hash) == 64 for m in a.meetings)
    assert all(m.doc == name for m in a.meetings)
    assert a.format == "text"
    assert a.to_dict()["turns"][0]["kind"] in {k.value for k in SpeakerKind}


META = {
    "000_f177d88556495574.txt": ("長崎市", "令和5年度第3回 長崎市DX推進委員会", "2024-03-21"),
    "001_7b1a8984c505c643.txt": ("長崎市", "令和5年度第2回 長崎市DX推進委員会", "2023-10-24"),
    "002_2eb7d40ab8163efd.txt": ("長崎市", "第1回長崎市情報化推進計画策定委員会", "2011-08-19"),
    "003_cfdc2b6f806e86f8.txt": ("下関市議会", "第3回定例会 9月18日 本会議（一般質問3日目）", "2024-09-18"),
}


@pytest.mark.parametrize("name", sorted(META))
def test_meeting_fields(name):
    (m,) = doc(name).meetings
    assert (m.body, m.name, m.date) == META[name]


def test_000_summary_minutes():
    d = doc("000_f177d88556495574.txt")
    t1 = d.turns[0]
    assert (t1.speaker, t1.speaker_name, t1.speaker_role, t1.kind) == ("委員", None, "委員", SpeakerKind.MEMBER)
    assert t1.agenda == "議題1 DXパッケージ2024について"
    assert t1.text.startswith("システム標準化に向けた取組みについては")
    assert d.turns[1].kind is SpeakerKind.SECRETARIAT and d.turns[1].speaker_role == "事務局"
    ch = turn(d, "委員長", "改訂作業のステップ1")
    assert ch.kind is SpeakerKind.CHAIR and ch.agenda == "議題2 長崎市DX推進計画の改訂の方向性について"
    assert d.turns[-1].agenda == "議題3 その他"
    assert d.meetings[0].agenda == [
        "議題1 DXパッケージ2024について", "議題2 長崎市DX推進計画の改訂の方向性について", "議題3 その他"]
    # multi-line statement kept whole; the label line right after a turn opens a new turn
    t4 = d.turns[3]
    assert "システム標準化については、法令で義務化されており" in t4.text and t4.text.count("\n") == 4
    assert d.turns[12].text.startswith("システム標準化に係る事業費については")
    # navigation / back matter are segments, not speech
    speech = "\n".join(t.text for t in d.turns)
    for junk in ("お問い合わせ先", "電話番号", "観光案内", "ここから本文です", "更新日"):
        assert junk not in speech
    back = " ".join(g.text for g in d.segments if g.kind is SegmentKind.BACK_MATTER)
    assert "お問い合わせ先" in back and "「行政運営・審議会・指定管理者・監査」の分類" in back
    front = " ".join(g.text for g in d.segments if g.kind is SegmentKind.FRONT_MATTER)
    assert "ここから本文です" in front and "更新日" in front
    labels = [g for g in d.segments if g.kind is SegmentKind.SPEAKER_LABEL]
    assert len(labels) == len(d.turns) and labels[0].text == "委員:"


def test_001_member_answers_member():
    d = doc("001_7b1a8984c505c643.txt")
    part2 = [t for t in d.turns if t.agenda == "議題2 DXに関する取組み事例の紹介"]
    assert [t.speaker for t in part2] == ["委員"] * 6
    assert part2[0].text.count("\n") == 4  # five question lines in one turn
    assert not any("特になし" in t.text for t in d.turns)
    assert d.meetings[0].agenda[-1] == "議題3 その他"


def test_002_label_alone_and_garbled():
    d = doc("002_2eb7d40ab8163efd.txt")
    g = turn(d, "員長委")
    assert (g.speaker, g.speaker_role, g.kind) == ("員長委", "委員長", SpeakerKind.CHAIR)
    assert g.text.startswith("ぜひ計画に盛り込みたい項目は")
    assert any("員長委" in w for w in d.warnings)
    v = turn(d, "副委員長")
    assert v.speaker_role == "副委員長" and v.text.startswith("システムの調達が")
    assert d.turns[0].agenda == "2 長崎市の情報システムの現状について"
    assert turn(d, "委員長", "今回は第四次総合計画").agenda == "3 長崎市情報化推進計画について"
    # a statement over several paragraphs stays one turn
    long = turn(d, "委員長", "公共施設案内・予約システム")
    assert "基本ベースは何なのか" in long.text and long.text.count("\n") == 2
    speech = "\n".join(t.text for t in d.turns)
    assert "資料に基づいて事務局から説明。" not in speech and "閉会" not in speech
    assert any(s.kind is SegmentKind.PROCEDURE and s.text == "閉会" for s in d.segments)


def test_003_verbatim_plenary():
    d = doc("003_cfdc2b6f806e86f8.txt")
    t1, t2, t3 = d.turns[:3]
    assert (t1.speaker_name, t1.speaker_role, t1.kind, t1.procedural) == ("安岡克昌", "副議長", SpeakerKind.CHAIR, True)
    assert t1.text == "18番、関谷博議員。"
    assert (t2.speaker_name, t2.speaker_role, t2.kind, t2.procedural) == ("関谷博", None, SpeakerKind.MEMBER, False)
    assert t2.text.startswith("通告に従いまして、順次質問いたします。")
    assert "登壇" not in t2.text
    assert (t3.speaker_name, t3.speaker_role, t3.kind) == ("岸本芳郎", "総合政策部長", SpeakerKind.EXECUTIVE)
    stage = [g.text for g in d.segments if g.kind is SegmentKind.STAGE_DIRECTION]
    assert "(拍手)" in stage and "〔関谷博君登壇〕" in stage
    speech = "\n".join(t.text for t in d.turns)
    for junk in ("(拍手)", "〔関谷博君登壇〕", "著作権について", "市議会サイトトップへ", "速報版を掲載", "戻る"):
        assert junk not in speech
    assert d.turns[-1].text.endswith("伸びているという現状もあります。") or "台湾" in d.turns[-1].text
    assert all(t.agenda == "1.下関市のDXの推進に向けての取組について" for t in d.turns)
    assert sum(t.procedural for t in d.turns) == 1
    kinds = {t.speaker: t.kind for t in d.turns}
    assert kinds["総務部長(笹野修一君)"] is SpeakerKind.EXECUTIVE


def test_004_two_sessions():
    d = doc("004_2aca453d231e7187.txt")
    m1, m2 = d.meetings
    assert (m1.body, m1.name, m1.place, m1.date) == ("墨田区議会", "自治体DX調査特別委員会 行政調査報告書", "盛岡市", "2023-08-22")
    assert (m2.body, m2.name, m2.place, m2.date) == ("墨田区議会", "自治体DX調査特別委員会 行政調査報告書", "仙台市", "2023-08-23")
    assert m1.id != m2.id
    mur = turn(d, "村本")
    assert (mur.speaker, mur.speaker_name, mur.speaker_role, mur.kind) == ("委員（村本ひろや）", "村本ひろや", "委員", SpeakerKind.MEMBER)
    q = turn(d, "市側理事者（情報企画課長）")
    assert (q.speaker_name, q.kind) == (None, SpeakerKind.EXECUTIVE)
    ch = turn(d, "委員長 (たきざわ正宜)")
    assert (ch.speaker_name, ch.speaker_role, ch.kind, ch.meeting_id) == ("たきざわ正宜", "委員長", SpeakerKind.CHAIR, m2.id)
    # words split by a PDF page break are rejoined
    assert "令和3年度に実施したアンケートでは" in d.text
    assert "令和3年度に実施したアンケートでは" in turn(d, "市側理事者", "事前にいただいているご質問").text
    assert "デジタル化ファストチャレンジには" in d.text and "220名の申込みが多いのか" in d.text
    assert any("rejoined" in w for w in d.warnings)
    # greetings are procedural
    assert turn(d, "盛岡市議会次長").procedural and turn(d, "盛岡市議会次長").kind is SpeakerKind.SECRETARIAT
    assert not mur.procedural
    # front matter (title, attendance list) is not speech and belongs to no turn
    speech = "\n".join(t.text for t in d.turns)
    assert "出席委員氏名" not in speech and "甘 利 洋 平" not in speech and "< 質 疑 >" not in speech
    assert "以上" not in speech.split("\n")
    assert all(t.agenda and t.agenda.startswith("ア 「") for t in d.turns)
