"""The 答弁の経過 tab in a real browser: Playwright driving Debian's chromium, against the app subprocess of
tests/conftest.py (ui_app_server: the sample corpus plus a minutes file full of markup).

A topic is entered; the chart, the changes and the entries appear; a click on a mark in the chart opens that turn
among the turns around it; choosing an entry does too; the brief is exported (Markdown + PNG); markup in the minutes
stays text. Screenshot: artifacts/ui-timeline.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
TIMEOUT = 120_000  # ms; two shared CPU cores
TOPIC = "システム標準化"


@pytest.fixture()
def tl_page(chromium_browser, ui_app_server):
    ctx = chromium_browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ja-JP")
    pg = ctx.new_page()
    pg.dialogs = []  # any alert() would be an injected script running
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.goto(ui_app_server["url"])
    pg.get_by_role("tab", name="答弁の経過").click()
    pg.wait_for_selector("#tl-topic textarea", timeout=60_000)
    yield pg
    ctx.close()


def show(pg, topic: str) -> None:
    pg.fill("#tl-topic textarea", topic)
    pg.click("#tl-run")
    pg.wait_for_selector("#tl-entries .tl-entry, #tl-entries .tl-empty", timeout=TIMEOUT)
    pg.wait_for_function("() => (document.querySelector('#tl-summary')?.innerText || '').includes('件')",
                         timeout=TIMEOUT)
    pg.wait_for_timeout(300)


@pytest.fixture(scope="module")
def expected(ui_test_index, default_embedder):
    """The same timeline computed in-process over the app's index: its entries and where the chart draws them."""
    from rag.config import Settings
    from rag.pipeline import Pipeline
    from rag.timeline import build_timeline
    from rag.timeline.chart import draw_chart

    pipe = Pipeline(Settings().with_overrides(index_dir=ui_test_index), embedder=default_embedder)
    d = build_timeline(pipe, TOPIC).to_dict()
    png, marks = draw_chart(d)
    return d, marks


def test_timeline_chart_click_context_and_export(tl_page, expected):
    pg = tl_page
    d, marks = expected
    show(pg, TOPIC)
    cards = pg.locator("#tl-entries .tl-entry")
    assert cards.count() == len(d["entries"]) >= 5
    first = d["entries"][0]
    assert first["quotes"][0]["quote"][:30] in cards.first.inner_text()
    summary = pg.locator("#tl-summary").inner_text()
    assert TOPIC in summary and f"{len(d['entries'])}件" in summary
    img = pg.locator("#tl-chart img").first
    img.wait_for(timeout=TIMEOUT)
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "ui-timeline.png"), full_page=True)

    # a click on a mark opens that turn in context
    eid, mx, my = marks[len(marks) // 2]
    entry = next(e for e in d["entries"] if e["id"] == eid)
    box = img.bounding_box()
    natural = pg.evaluate("el => [el.naturalWidth, el.naturalHeight]", img.element_handle())
    pg.mouse.click(box["x"] + mx * box["width"] / natural[0], box["y"] + my * box["height"] / natural[1])
    pg.wait_for_function("q => (document.querySelector('#tl-context .ctx-turn.current')?.innerText || '').includes(q)",
                         arg=entry["quotes"][0]["quote"][:20], timeout=TIMEOUT)
    assert pg.locator("#tl-context .ctx-turn").count() >= 2
    assert pg.locator("#tl-context .ctx-turn.current mark").count() == 1
    cite = pg.locator("#tl-cite textarea").input_value()
    assert cite == entry["quotes"][0]["standard_form"]

    # choosing an entry does the same
    other = d["entries"][0]
    box = pg.locator("#tl-pick input").first
    box.click()
    box.fill(f"[{other['id']}]")
    pg.keyboard.press("Enter")
    pg.keyboard.press("Escape")
    pg.click("#tl-show")
    pg.wait_for_function("q => (document.querySelector('#tl-context .ctx-turn.current')?.innerText || '').includes(q)",
                         arg=other["quotes"][0]["quote"][:20], timeout=TIMEOUT)

    # the brief, with the chart next to it
    pg.click("#tl-export")
    pg.wait_for_function("() => (document.querySelector('#tl-export-md')?.innerText || '').includes('答弁経過')",
                         timeout=TIMEOUT)
    md = pg.locator("#tl-export-md").inner_text()
    assert "## 経過（会議ごと、日付順）" in md and first["quotes"][0]["standard_form"][:20] in md and ".png)" in md
    links = pg.locator("#tl-export-file a")
    links.first.wait_for(timeout=TIMEOUT)
    names = " ".join(links.nth(i).inner_text() + (links.nth(i).get_attribute("href") or "")
                     for i in range(links.count()))
    assert ".md" in names and ".png" in names
    assert pg.dialogs == []


def test_markup_in_minutes_stays_text(tl_page):
    pg = tl_page
    show(pg, "ペンギン保護条例")
    text = pg.locator("#tl-entries").inner_text()
    assert "<script>alert(1)</script>" in text or "<script>" in pg.locator("#tl-context").inner_text() + text
    assert pg.locator("#tl-entries script, #tl-entries b").count() == 0
    assert pg.dialogs == []


def test_empty_topic_and_bad_date(tl_page):
    pg = tl_page
    pg.click("#tl-run")
    pg.wait_for_function("() => (document.querySelector('#tl-summary')?.innerText || '').includes('入力')",
                         timeout=TIMEOUT)
    pg.get_by_text("絞り込み（団体・期間・発言者）").click()
    pg.fill("#tl-f-since textarea, #tl-f-since input", "2024/01/01")
    pg.fill("#tl-topic textarea", TOPIC)
    pg.click("#tl-run")
    pg.wait_for_function("() => (document.querySelector('#tl-summary')?.innerText || '').includes('YYYY-MM-DD')",
                         timeout=TIMEOUT)
