"""rag/ui.py rendering and input checks, without a server or a browser (fast)."""

from __future__ import annotations

import pytest

from rag import ui
from rag.errors import RagError

MARKUP = '<script>alert(1)</script> <b>x</b> <img src=x onerror=alert(1)> [a](javascript:alert(1)) $$x$$ *i*'


def _citation(**kw):
    c = dict(n=1, doc="003.txt", source="corpus/sample/003.txt", body="下関市議会", meeting="第3回定例会 本会議",
             date="2024-09-18", agenda="1.DXの推進", speaker="総合政策部長(岸本芳郎君)", speaker_name="岸本芳郎",
             speaker_role="総合政策部長", speaker_kind="executive", turn=5, text="前置き。" + MARKUP + "。後書き。",
             quote=MARKUP, quote_start=4, quote_end=4 + len(MARKUP), start=100, end=100 + len(MARKUP), score=0.5,
             turn_id=42, url=None)
    c.update(kw)
    return c


def _answer(**kw):
    a = dict(question="質問 <b>q</b>", answer=f"答え「{MARKUP}」[1]", abstained=False, mode="extractive",
             citations=[_citation()], related=[], notes=[], confidence=0.5)
    a.update(kw)
    return a


def test_cards_escape_everything_from_the_minutes():
    html = ui.citation_cards(_answer())
    assert "<script" not in html and "<b>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'id="cite-1"' in html and "<mark>" in html
    for want in ("下関市議会", "第3回定例会 本会議", "令和6年9月18日", "1.DXの推進", "岸本芳郎", "総合政策部長", "5番目の発言"):
        assert want in html


def test_card_links_only_http_sources():
    assert 'href="https://kokkai.ndl.go.jp/x"' in ui.citation_cards(_answer(citations=[_citation(url="https://kokkai.ndl.go.jp/x")]))
    html = ui.citation_cards(_answer(citations=[_citation(source="javascript:alert(1)")]))
    assert "href=" not in html


def test_chat_markdown_is_literal_and_links_markers():
    md = ui.answer_markdown(_answer())
    assert "<script" not in md and "<b>" not in md and "](javascript" not in md
    assert "[**\\[1\\]**](#cite-1)" in md
    assert "\\$\\$" in md and "\\*i\\*" in md


def test_standard_form():
    c = _citation(quote="生成AIを活用", text="生成AIを活用", quote_start=0, quote_end=7)
    assert ui.standard_form(c) == "「生成AIを活用」（令和6年9月18日 下関市議会 第3回定例会 本会議 総合政策部長 岸本芳郎）"


def test_export_markdown():
    md = ui.export_markdown(_answer(), "絞り込み: 団体=下関市議会")
    assert md.startswith("## 質問") and "## 回答" in md and "## 出典" in md
    assert "[1] 総合政策部長(岸本芳郎君)" in md and "引用: 「" in md and "令和6年9月18日" in md
    assert "絞り込み: 団体=下関市議会" in md
    multi = ui.export_markdown(_answer(citations=[_citation(quote="一行目\n二行目")]))
    assert "> 一行目\n> 二行目" in multi
    assert "該当する発言は見つかりませんでした" in ui.export_markdown(_answer(citations=[], abstained=True))


@pytest.mark.parametrize("raw, safe", [
    ("../../etc/passwd.txt", "passwd.txt"), ("..\\..\\win.ini.txt", "win.ini.txt"), ("/abs/path/a.pdf", "a.pdf"),
    ("..", None), ("", None), (".hidden.txt", "hidden.txt"), ("a\x00b\n.txt", "ab.txt"), ('a<b>:"c".html', "a_b___c_.html"),
    ("会議録.txt", "会議録.txt"),
])
def test_safe_upload_name(raw, safe):
    assert ui.safe_upload_name(raw) == safe


def test_long_upload_name_keeps_its_suffix():
    name = ui.safe_upload_name("あ" * 300 + ".pdf")
    assert name.endswith(".pdf") and len(name) <= ui.MAX_NAME_CHARS


def test_parse_filters():
    f, note = ui.parse_filters("長崎市", None, "2023-01-01", "2024-12-31", " 岸本 ", ["executive", "bogus"])
    assert (f.body, f.since, f.until, f.speaker, f.kind) == ("長崎市", "2023-01-01", "2024-12-31", "岸本", "executive")
    assert "団体=長崎市" in note and "執行部" in note
    f, note = ui.parse_filters(None, "", "", "", "", [])
    assert f.is_empty() and note == ""
    for since, until in (("2024/01/01", ""), ("2024-02-30", ""), ("2024-05-01", "2024-01-01")):
        with pytest.raises(ValueError):
            ui.parse_filters(None, None, since, until, None, [])


def test_parse_auth():
    assert ui.parse_auth("") is None
    assert ui.parse_auth("staff:s3cret:x") == ("staff", "s3cret:x")
    for bad in ("staff", "staff:", ":pw"):
        with pytest.raises(RagError):
            ui.parse_auth(bad)


def test_read_write_lock_lets_readers_share():
    import threading

    lock, seen = ui._ReadWriteLock(), []
    with lock.read():
        t = threading.Thread(target=lambda: lock.read().__enter__() or seen.append("r"))
        t.start()
        t.join(2)
    assert seen == ["r"]
