"""PDF made with reportlab (Japanese CID font): reading order, page furniture removed, split word rejoined."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.parsing.coverage import coverage_problems
from rag.errors import SourceError
from rag.sources.folder import parse_file as parse_path

pytest.importorskip("reportlab")


def make_pdf(path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiMin-W3"))
    w, h = A4
    c = canvas.Canvas(str(path), pagesize=A4)
    size, left = 11, 60
    pages = [
        [
            "令和6年第1回山田市議会定例会会議録",
            "令和6年6月10日（月曜日）",
            "○議長（山田太郎君）　ただいまから本日の会議を開きます。",
            "○１番（鈴木花子君）　行政のデジタル化について質問します。窓口の待ち時間とオンライン申請の利用状況、そして市民ア",
        ],
        [
            "ンケートの結果について伺います。",
            "○市長（田中一君）　お答えします。待ち時間は平均で十分短縮いたしました。",
        ],
    ]
    for i, lines in enumerate(pages, 1):
        c.setFont("HeiseiMin-W3", 9)
        c.drawString(left, h - 30, "山田市議会会議録（速報版）")
        c.drawCentredString(w / 2, 25, f"- {i} -")
        c.setFont("HeiseiMin-W3", size)
        y = h - 90
        for ln in lines:
            c.drawString(left, y, ln)
            y -= 22
        c.showPage()
    c.save()


def test_pdf(tmp_path):
    f = tmp_path / "minutes.pdf"
    make_pdf(f)
    d = parse_path(f)
    assert d.format == "pdf"
    assert coverage_problems(d) == []
    # the running header stays once, as the title (it names the minutes), never inside a turn; page numbers go
    assert d.text.count("山田市議会会議録（速報版）") == 1 and not any("速報版" in t.text for t in d.turns)
    assert "- 1 -" not in d.text and "- 2 -" not in d.text
    assert [t.speaker for t in d.turns] == ["議長（山田太郎君）", "１番（鈴木花子君）", "市長（田中一君）"]
    q = d.turns[1]
    assert "市民アンケートの結果について伺います。" in q.text
    assert d.turns[2].text == "お答えします。待ち時間は平均で十分短縮いたしました。"
    assert d.meetings[0].date == "2024-06-10"
    assert any("header" in w for w in d.warnings)


def test_a_chair_calling_the_same_member_on_every_page_is_speech(tmp_path):
    """The same short line at the top of every page is not a running header when it is speech."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiMin-W3"))
    w, h = A4
    f = tmp_path / "calls.pdf"
    c = canvas.Canvas(str(f), pagesize=A4)
    for i in range(1, 5):
        c.setFont("HeiseiMin-W3", 9)
        c.drawString(60, h - 30, "令和6年第1回山田市議会定例会会議録（第2号）")
        c.drawCentredString(w / 2, 25, f"- {i} -")
        c.setFont("HeiseiMin-W3", 11)
        c.drawString(60, h - 60, "○議長（山田太郎君）　１８番。")
        c.drawString(60, h - 82, f"○１８番（鈴木花子君）　{i}回目の再質問です。財源はどうするのか伺います。")
        c.showPage()
    c.save()
    d = parse_path(f)
    assert [t.text for t in d.turns if t.speaker.startswith("議長")] == ["１８番。"] * 4
    assert d.text.count("会議録（第2号）") == 1 and "- 3 -" not in d.text
    assert d.meetings[0].name == "令和6年第1回定例会（第2号）" and d.meetings[0].body == "山田市議会"


def test_broken_pdf(tmp_path):
    f = tmp_path / "broken.pdf"
    f.write_bytes(b"%PDF-1.4\n%garbage that is not a pdf\n")
    with pytest.raises(SourceError) as e:
        parse_path(f)
    assert "broken.pdf" in str(e.value) and "\n" not in str(e.value)
