"""The chat UI in a real browser: Playwright driving Debian's chromium (`make browser`).

One app subprocess and one browser for the whole module (see ui_app_server in conftest.py).
Screenshots go to artifacts/ (git-ignored): ui-answer.png, ui-phone.png, ui-xss.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
ANSWER_TIMEOUT = 120_000  # ms; two shared CPU cores


@pytest.fixture()
def page(chromium_browser, ui_app_server):
    ctx = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP",
                                 permissions=["clipboard-read", "clipboard-write"])
    pg = ctx.new_page()
    pg.dialogs = []  # any alert() would be an injected script running
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.goto(ui_app_server["url"])
    pg.wait_for_selector("#question textarea", timeout=60_000)
    yield pg
    ctx.close()


def ask(pg, question: str) -> None:
    before = pg.locator("#chat .message").count()
    pg.fill("#question textarea", question)
    pg.click("#send")
    pg.wait_for_function(
        "n => document.querySelectorAll('#chat .message').length >= n + 2", arg=before, timeout=ANSWER_TIMEOUT)
    pg.wait_for_selector("#citations .cite-card, #citations .cite-empty", timeout=ANSWER_TIMEOUT)
    pg.wait_for_timeout(300)


def cite_box(pg) -> str:
    return pg.locator("#cite-text textarea").input_value()


def copied(pg, card) -> str:
    """What the card's コピー button puts on the clipboard."""
    pg.evaluate("navigator.clipboard.writeText('')")
    card.locator("button.copy-cite").click()
    pg.wait_for_function("() => navigator.clipboard.readText().then(t => t.length > 0)", timeout=10_000)
    return pg.evaluate("navigator.clipboard.readText()")


MARKUP_LEFT = re.compile(r"<(span|mark|b|a|div|p|dl|dd)\b|&(lt|gt|amp|quot|#\d+);|\\[\[\]()*_.-]")
EMPTY_PARTS = re.compile(r"（\s*）|\(\s*\)|（、|、）|、、|—")


def set_dropdown(pg, elem_id: str, value: str) -> None:
    box = pg.locator(f"#{elem_id} input").first
    box.click()
    box.fill(value)
    box.press("Enter")
    pg.keyboard.press("Escape")


def test_answer_with_citation_card_context_copy_and_export(page):
    ARTIFACTS.mkdir(exist_ok=True)
    ask(page, "下関市は生成AIをどこで使えるようにしたのか")
    card = page.locator('#citations .cite-card[data-speaker="総合政策部長(岸本芳郎君)"]').first
    card.wait_for()
    text = card.inner_text()
    for want in ("下関市議会", "本会議", "令和6年9月18日", "総合政策部長", "岸本芳郎", "corpus"):
        assert want in text, (want, text)
    excerpt = card.locator(":scope > .cite-turn mark")
    assert excerpt.count() == 1 and excerpt.inner_text().strip()
    # the chat answer carries [n] markers that link to the cards
    last = page.locator("#chat .message").last
    assert re.search(r"\[\d\]", last.inner_text())
    link = last.locator('a[href^="#cite-"]').first
    target = link.get_attribute("href")
    link.click()
    assert page.locator(target).count() == 1
    page.screenshot(path=str(ARTIFACTS / "ui-answer.png"), full_page=True)

    # the turns before and after the cited one, in the same meeting
    page.click("#show-context")
    page.wait_for_selector("#context .ctx-turn.current", timeout=60_000)
    assert page.locator("#context .ctx-turn").count() >= 2
    assert page.locator("#context .ctx-turn.current mark").count() == 1
    cite = page.locator("#cite-text textarea").input_value()
    assert cite.startswith("「") and "）" in cite and "（" in cite, cite
    assert page.locator("#citations button.copy-cite").count() >= 1

    # export as Markdown
    page.click("#export")
    page.wait_for_function("() => (document.querySelector('#export-md')?.innerText || '').includes('## 出典')",
                           timeout=60_000)
    md = page.locator("#export-md").inner_text()
    assert "## 質問" in md and "下関市は生成AIをどこで使えるようにしたのか" in md
    assert "総合政策部長(岸本芳郎君)" in md and "引用: 「" in md and "令和6年9月18日" in md
    page.locator("#export-file a").first.wait_for(timeout=30_000)

    # follow-up in the same conversation, then a new conversation
    ask(page, "その研修は？")
    assert page.locator("#chat .message").count() >= 4
    page.click("#new-chat")
    page.wait_for_function("() => document.querySelectorAll('#chat .message').length === 0", timeout=30_000)
    assert "引用はまだありません" in page.locator("#citations").inner_text()
    assert not page.dialogs


def test_filter_by_body_restricts_citations(page):
    page.click("#filters button, #filters .label-wrap")
    set_dropdown(page, "f-body", "長崎市")
    ask(page, "生成AIの活用について")
    bodies = page.locator("#citations .cite-card").evaluate_all("els => els.map(e => e.dataset.body)")
    assert bodies and all(b == "長崎市" for b in bodies), bodies
    assert "絞り込み: 団体=長崎市" in page.locator("#chat .message").last.inner_text()
    # a bad date is explained, not sent
    page.fill("#f-since textarea, #f-since input", "2024/13/01")
    ask_box = page.locator("#chat .message").count()
    page.fill("#question textarea", "生成AI")
    page.click("#send")
    page.wait_for_function("n => document.querySelectorAll('#chat .message').length >= n + 2", arg=ask_box,
                           timeout=60_000)
    assert "YYYY-MM-DD" in page.locator("#chat .message").last.inner_text()


def test_minutes_markup_is_shown_as_text(page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.__pwned = false")
    ask(page, "ペンギン保護条例 <b>x</b> <script>alert(3)</script> はいつ施行されたか")
    card = page.locator('#citations .cite-card[data-body="テスト市議会"]').first
    card.wait_for()
    shown = page.locator("#citations").inner_text()
    assert "<script>alert(1)</script>" in shown and "<b>x</b>" in shown, shown
    asked = page.locator("#chat").inner_text()  # the user's own markup, shown as typed
    assert "<b>x</b>" in asked and "<script>alert(3)</script>" in asked, asked
    # nothing from the minutes became an element
    for root in ("#citations", "#chat"):
        assert page.locator(f"{root} script").count() == 0
        assert page.locator(f"{root} b", has_text=re.compile(r"^x$")).count() == 0
        assert page.locator(f'{root} a[href^="javascript"]').count() == 0
    page.click("#show-context")
    page.wait_for_selector("#context .ctx-turn.current", timeout=60_000)
    assert "<script>alert(1)</script>" in page.locator("#context").inner_text()
    assert page.locator("#context script, #context b").count() == 0
    page.screenshot(path=str(ARTIFACTS / "ui-xss.png"), full_page=True)
    assert not page.dialogs and page.evaluate("window.__pwned") is False


def _stat(page, label: str) -> int:
    page.get_by_role("tab", name="索引の状態").click()
    page.click("#refresh-stats")
    page.wait_for_timeout(800)
    m = re.search(label + r"\s*\|?\s*(\d+)", page.locator("#stats").inner_text())
    assert m, page.locator("#stats").inner_text()
    return int(m.group(1))


def test_upload_is_counted_in_index_state(page, tmp_path):
    docs_before = _stat(page, "文書数")
    good = tmp_path / "upload_minutes.txt"
    good.write_text("○議長(佐藤花子君)\nただいまから会議を開きます。\n○企画部長(田中次郎君)\n"
                    "カワウソ観光推進計画の進捗について答弁いたします。計画は順調に進んでおります。\n", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    page.get_by_role("tab", name="会議録の追加").click()
    page.locator("#upload-files input[type=file]").set_input_files([str(good), str(empty)])
    page.wait_for_timeout(1500)
    page.click("#upload-btn")
    page.wait_for_function("() => (document.querySelector('#upload-result')?.innerText || '').includes('取り込み結果')",
                           timeout=180_000)
    result = page.locator("#upload-result").inner_text()
    assert "upload_minutes.txt" in result and "✅" in result, result
    assert "empty.txt" in result and "空のファイル" in result, result
    assert _stat(page, "文書数") == docs_before + 1
    assert "upload_minutes.txt" in page.locator("#stats").inner_text()


def test_phone_sized_window(chromium_browser, ui_app_server):
    ARTIFACTS.mkdir(exist_ok=True)
    ctx = chromium_browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP", is_mobile=True,
                                 has_touch=True, device_scale_factor=2)
    pg = ctx.new_page()
    try:
        pg.goto(ui_app_server["url"])
        pg.wait_for_selector("#question textarea", timeout=60_000)
        ask(pg, "長崎市のシステム標準化の移行期限はいつか")
        pg.locator("#citations .cite-card").first.wait_for()
        width = pg.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390 + 2, f"horizontal scrolling on a phone: page is {width}px wide"
        box = pg.locator("#citations .cite-card").first.bounding_box()
        assert box and box["width"] <= 390, box
        pg.screenshot(path=str(ARTIFACTS / "ui-phone.png"), full_page=True)
    finally:
        ctx.close()


def test_copy_text_is_plain_text(page):
    """The 引用の定型文 box and the card's コピー button give plain text, never markup (even for minutes full of it)."""
    ask(page, "下関市は生成AIをどこで使えるようにしたのか")
    card = page.locator('#citations .cite-card[data-speaker="総合政策部長(岸本芳郎君)"]').first
    card.wait_for()
    page.wait_for_function("() => (document.querySelector('#cite-text textarea')?.value || '').startsWith('「')",
                           timeout=30_000)
    quote = card.locator(":scope > .cite-turn mark").inner_text()
    form = copied(page, card)
    assert form.startswith(f"「{quote}」（令和6年9月18日 下関市議会 第3回定例会") and form.endswith(" 総合政策部長 岸本芳郎）"), form
    first = page.locator("#citations .cite-card").first
    assert cite_box(page) == copied(page, first) and not MARKUP_LEFT.search(cite_box(page)), cite_box(page)
    # minutes whose words look like markup: the copy text is those words, with no markup of the UI's own
    ask(page, "ペンギン保護条例はいつ施行されたか")
    card = page.locator('#citations .cite-card[data-body="テスト市議会"]').first
    card.wait_for()
    quote = card.locator(":scope > .cite-turn mark").inner_text()
    form = copied(page, card)
    assert form.startswith(f"「{quote}」（令和6年3月1日 テスト市議会 ") and form.endswith(" 総務部長 鈴木一郎）"), form
    assert not MARKUP_LEFT.search(form.replace(quote, "")), form
    page.click("#show-context")
    page.wait_for_selector("#context .ctx-turn.current", timeout=60_000)
    assert cite_box(page) == form
    assert not page.dialogs


def test_copy_box_follows_the_latest_answer(page):
    """A new answer replaces the copy text (with its own first citation); 新しい会話 clears it."""
    ask(page, "下関市は生成AIをどこで使えるようにしたのか")
    page.click("#show-context")  # the copy box is filled from the chosen citation
    page.wait_for_selector("#context .ctx-turn.current", timeout=60_000)
    first = cite_box(page)
    assert "下関市議会" in first, first
    ask(page, "長崎市のシステム標準化の移行期限はいつか")
    page.wait_for_function("old => (document.querySelector('#cite-text textarea')?.value || '') !== old",
                           arg=first, timeout=30_000)
    now = cite_box(page)
    new_first = page.locator("#citations .cite-card").first.locator("button.copy-cite").get_attribute("data-cite")
    assert now == new_first and now != first, (first, now)
    assert page.locator("#context .ctx-turn").count() == 0  # the old answer's context is gone too
    page.click("#new-chat")
    page.wait_for_function("() => document.querySelectorAll('#chat .message').length === 0", timeout=30_000)
    page.wait_for_function("() => (document.querySelector('#cite-text textarea')?.value ?? 'x') === ''",
                           timeout=30_000)


NO_META_MINUTES = ("○議長(佐藤花子君)\nただいまから会議を開きます。\n○企画部長(田中次郎君)\n"
                   "ラッコ見守り事業の予算について答弁いたします。ラッコ見守り事業には三百万円を計上しております。\n"
                   "○議長(佐藤花子君)\n以上で本日の会議を終わります。\n")


def test_minutes_without_metadata_show_no_empty_brackets(page, tmp_path):
    """An uploaded minutes text with no sidecar and no body, meeting or date in it: cards, the answer line, the copy
    text, the context and the export leave the unknown parts out (日付不明 only under the 日付 label)."""
    f = tmp_path / "nometa_minutes.txt"
    f.write_text(NO_META_MINUTES, encoding="utf-8")
    page.get_by_role("tab", name="会議録の追加").click()
    page.locator("#upload-files input[type=file]").set_input_files([str(f)])
    page.wait_for_timeout(1500)
    page.click("#upload-btn")
    page.wait_for_function("() => (document.querySelector('#upload-result')?.innerText || '').includes('取り込み結果')",
                           timeout=180_000)
    assert "nometa_minutes.txt" in page.locator("#upload-result").inner_text()
    page.get_by_role("tab", name="質問").click()
    ask(page, "ラッコ見守り事業の予算はいくらか")
    card = page.locator('#citations .cite-card[data-speaker="企画部長(田中次郎君)"]').first
    card.wait_for()
    text = card.inner_text()
    assert "日付不明" in text and "団体" not in text and "会議\n" not in text and not EMPTY_PARTS.search(text), text
    answer = page.locator("#chat .message").last.inner_text()
    assert "ラッコ" in answer and not EMPTY_PARTS.search(answer), answer
    form = copied(page, card)
    assert re.fullmatch(r"「[^」]*ラッコ[^」]*」（企画部長 田中次郎）", form), form
    if page.locator("#citations .cite-card").first.get_attribute("data-speaker") == "企画部長(田中次郎君)":
        assert cite_box(page) == form
    page.click("#show-context")
    page.wait_for_selector("#context .ctx-turn.current", timeout=60_000)
    context = page.locator("#context").inner_text()
    assert "nometa_minutes.txt" in context and not EMPTY_PARTS.search(context), context
    page.click("#export")
    page.wait_for_function("() => (document.querySelector('#export-md')?.innerText || '').includes('## 出典')",
                           timeout=60_000)
    md = page.locator("#export-md").inner_text()
    assert "企画部長(田中次郎君)（" in md and "番目の発言）" in md, md
    assert not EMPTY_PARTS.search(md.replace("（会議録QA、", "（")), md
    assert not page.dialogs
