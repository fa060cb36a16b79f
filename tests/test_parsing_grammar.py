"""Property tests for the label and era-date grammars; random noise never crashes."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.parsing import dates as D
from rag.parsing import labels as L
from rag.parsing.coverage import coverage_problems
from rag.parsing.turns import segment_text
from rag.records import SpeakerKind

FW = str.maketrans("0123456789", "０１２３４５６７８９")
KANJI = "〇一二三四五六七八九"


def kanji(n: int) -> str:
    if n < 10:
        return KANJI[n] if n else "〇"
    t, o = divmod(n, 10)
    return ("" if t == 1 else KANJI[t]) + "十" + (KANJI[o] if o else "")


names = st.text(alphabet="山田太郎花子鈴木佐藤一郎さとうはなこ関谷博岸本芳郎", min_size=2, max_size=6)
roles = st.sampled_from(["議長", "副議長", "市長", "総務部長", "総合政策部長", "教育長", "委員長", "副委員長"])
opens = st.sampled_from([("（", "）"), ("(", ")"), ("（", ")"), ("(", "）")])
markers = st.sampled_from(list("○◯〇◎◆◇"))
seps = st.sampled_from(["\u3000", " ", ""])


@given(markers, roles, names, opens, st.booleans(), st.sampled_from(["\u3000", " "]))
def test_role_with_name_in_brackets(marker, role, name, br, spaced, sep):
    printed_name = name[:1] + ("\u3000" if spaced and len(name) > 2 else "") + name[1:]
    label = f"{role}{br[0]}{printed_name}君{br[1]}"
    m = L.match_marker_label(f"{marker}{label}{sep}ただいまから会議を開きます。")
    assert m is not None
    assert m.info.label == label
    assert m.info.name == name and m.info.role == role
    assert m.info.kind is L.kind_of(role)
    assert m.info.kind is not SpeakerKind.UNKNOWN


@given(markers, st.integers(1, 60), names, st.booleans())
def test_numbered_seat(marker, n, name, full):
    seat = (str(n).translate(FW) if full else str(n)) + "番"
    m = L.match_marker_label(f"{marker}{seat}（{name}君）　質問します。")
    assert m and m.info.name == name and m.info.role == seat and m.info.kind is SpeakerKind.MEMBER


@given(markers, st.text(alphabet="山田関谷鈴木", min_size=1, max_size=3), st.text(alphabet="博一花子", min_size=1, max_size=2))
def test_name_kun_with_space(marker, sur, given_):
    m = L.match_marker_label(f"{marker}{sur} {given_}君")
    assert m and m.info.name == sur + given_ and m.info.role is None and m.info.kind is SpeakerKind.MEMBER


@given(st.sampled_from(["委員", "事務局", "会長", "委員長", "副委員長"]), st.sampled_from([":", "：", " :", "："]), st.text(min_size=1, max_size=30).filter(lambda s: "\n" not in s))
def test_colon_labels(role, colon, rest):
    m = L.match_colon_label(f"{role}{colon}{rest}")
    assert m and m.info.label == role and m.info.role == role


@given(st.permutations(list("委員長")))
def test_garbled_chair(p):
    w = "".join(p)
    m = L.match_alone_label(w)
    assert m and m.info.role == "委員長" and m.info.label == w and m.info.kind is SpeakerKind.CHAIR


@given(st.text(max_size=80))
@settings(max_examples=300)
def test_label_noise_never_crashes(s):
    for f in (L.match_marker_label, L.match_colon_label, L.match_alone_label):
        m = f(s)
        if m:
            assert 0 <= m.start <= m.label_start <= m.label_end <= m.end <= len(s)
    L.parse_label(s)
    L.is_label_like(s)


# ------------------------------------------------------------------ dates

eras = st.sampled_from([("令和", 2018, dt.date(2019, 5, 1), dt.date(2040, 12, 31)), ("平成", 1988, dt.date(1989, 1, 8), dt.date(2019, 4, 30)), ("昭和", 1925, dt.date(1926, 12, 25), dt.date(1989, 1, 7))])


@given(eras, st.data(), st.sampled_from(["arabic", "full", "kanji"]), st.booleans())
def test_era_dates(era, data, style, spaced):
    name, base, lo, hi = era
    d = data.draw(st.dates(min_value=lo, max_value=hi))
    y = d.year - base

    def num(n: int) -> str:
        return {"arabic": str(n), "full": str(n).translate(FW), "kanji": kanji(n)}[style]

    ys = "元" if y == 1 and data.draw(st.booleans()) else num(y)
    sp = " " if spaced else ""
    s = f"{name}{sp}{ys}{sp}年{sp}{num(d.month)}{sp}月{sp}{num(d.day)}{sp}日（木曜日）"
    assert D.parse_date("開催日時：" + s) == d


def test_known_dates():
    assert D.parse_date("令和七年五月二十八日") == dt.date(2025, 5, 28)
    assert D.parse_date("令和元年5月1日") == dt.date(2019, 5, 1)
    assert D.parse_date("平成23年8月19日(金曜日)") == dt.date(2011, 8, 19)
    assert D.parse_date("昭和六十四年一月七日") == dt.date(1989, 1, 7)
    assert D.parse_date("２０２４年６月１０日") == dt.date(2024, 6, 10)
    assert D.parse_date("令和 5 年 9 月 1 日現在") == dt.date(2023, 9, 1)
    assert D.parse_date("令和5年2月30日") is None  # no such day
    assert D.parse_date("令和1年4月1日") is None  # before 令和 began
    assert D.find_date_range("令和5年8月22日（火）～8月23日（水）") == (dt.date(2023, 8, 22), dt.date(2023, 8, 23))


@given(st.text(max_size=60))
@settings(max_examples=300)
def test_date_noise_never_crashes(s):
    D.find_dates(s)
    D.find_date_range(s)


@given(st.lists(st.one_of(
    st.text(max_size=30),
    st.sampled_from(["○議長（山田太郎君）", "委員:", "事務局", "〔登壇〕", "（拍手）", "議題1 その他", "――――", "", "お問い合わせ先", "調査概要 【盛岡市】"]),
), max_size=25))
@settings(max_examples=150, deadline=None)
def test_segmenter_noise_never_crashes_and_covers(lines):
    text = "\n".join(lines).replace("\r", "")
    d = segment_text(text, "noise.txt", "noise.txt", "text", "0" * 64, {})
    assert coverage_problems(d) == []


def test_a_numbered_utterance_is_a_speaker_turn():
    """DB-Search's frame pages number every utterance before its mark: 「2  ◯議長（奈良岡隆君）　…」."""
    m = L.match_marker_label("2  ◯議長（奈良岡隆君）　日程第１を議題といたします。")
    assert m is not None and m.start == 0 and m.info.label == "議長（奈良岡隆君）"
    assert L.match_marker_label("12  ◯９番（赤平勇人君）　議案第146号に異議があります。").info.label == "９番（赤平勇人君）"
    assert L.match_marker_label("2  　午前10時開議") is None
