"""国会会議録の取得: fetch Diet minutes by date range, house, meeting and keyword through the library function
the CLI uses (rag.fetch.kokkai.fetch_kokkai, as `python -m rag fetch kokkai … --ingest`), with progress and a
per-meeting result, then index them (rag.fetch.kokkai.ingest_fetched). API endpoint: /fetch_kokkai.

The raw responses are kept in corpus/fetched/kokkai (the CLI's default folder, so both share one corpus and
one fetch state); a failed or stopped fetch keeps what it fetched, and the same fetch again goes on from there.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterator

from rag.errors import RagError
from rag.ui.context import Tab, UIContext
from rag.ui.render import escape_md, ingest_markdown

log = logging.getLogger("rag.ui")

ANY_HOUSE = "指定なし"
HOUSE_CHOICES = [ANY_HOUSE, "衆議院", "参議院", "両院", "両院協議会"]
STATUS_LABELS = {"new": "✅ 新規", "changed": "🔄 更新", "unchanged": "＝ 取得済み（変更なし）",
                 "empty": "⚠️ 発言なし（保存せず）"}
SHOW_MEETINGS = 200  # rows of the per-meeting list at most (the counts cover all)


def intro() -> str:
    from rag.fetch.kokkai import ATTRIBUTION, DEFAULT_DELAY

    return (f"国立国会図書館の国会会議録検索システム（検索用API）から、期間・院・会議名・キーワードで会議録を取得し、"
            f"索引に追加します。API の求めに従い、リクエストは一度に一つ、{DEFAULT_DELAY:g} 秒の間隔で送ります"
            f"（10 会議ごとに 1 リクエスト）。取得済みで変更のない会議は保存し直しません。途中で失敗しても取得済みの"
            f"会議録と索引は失われず、同じ条件で再実行すると続きから取得します。\n\n{escape_md(ATTRIBUTION)}")


def _meeting_line(m: Any) -> str:
    what = " ".join(x for x in (m.house, m.meeting, m.date) if x)
    tail = f"発言 {m.speeches}" if m.status != "empty" else "発言の記録がありません"
    link = f" — <{m.url}>" if m.url and m.url.startswith("https://") else ""
    return f"- {STATUS_LABELS.get(m.status, m.status)}: {escape_md(what)}（{tail}）{link}"


def progress_markdown(meetings: list[Any], total: int, started: float) -> str:
    lines = [f"**取得中**: {len(meetings)} / {total or '?'} 会議（{time.perf_counter() - started:.0f} 秒）"]
    lines += [_meeting_line(m) for m in meetings[-SHOW_MEETINGS:]]
    return "\n".join(lines)


def result_markdown(report: Any, ingested: Any = None, index_error: str | None = None) -> str:
    from rag.fetch.kokkai import ATTRIBUTION

    if report.nothing_found:
        head = f"**取得結果**: 条件に合う会議はありませんでした（{escape_md(report.query.get('described', ''))}）"
    else:
        head = (f"**取得結果**: {len(report.meetings)} 会議（新規 {len(report.new)}、更新 {len(report.changed)}、"
                f"変更なし {len(report.unchanged)}、発言なし {len(report.empty)}）、発言 {report.speeches}、"
                f"{report.requests} リクエスト、{report.seconds:.0f} 秒")
    lines = [head]
    if report.error:
        lines.append(f"❌ 途中で止まりました（取得済みの会議録は保存されています。同じ条件で再実行すると続きから取得します）: "
                     f"{escape_md(report.error)}")
    shown = [m for m in report.meetings if m.status != "unchanged"][:SHOW_MEETINGS]
    lines += [_meeting_line(m) for m in shown]
    if len(report.unchanged):
        lines.append(f"- ＝ 取得済みで変更のない会議 {len(report.unchanged)} 件")
    if ingested is not None:
        lines += ["", ingest_markdown(ingested)]
    if index_error:
        lines += ["", f"❌ 索引に追加できませんでした（既存の索引はそのままです）: {escape_md(index_error)}"]
    lines += ["", escape_md(ATTRIBUTION)]
    return "\n".join(lines)


def fetch_and_index(ctx: UIContext, since: str, until: str, house: str, meeting: str, words: str,
                    do_index: bool, out_dir: Path | None = None, base_url: str | None = None,
                    delay: float | None = None, refresh: float = 0.5) -> Iterator[tuple[str, Any]]:
    """The tab's event: yields (result Markdown, index_version) as the fetch goes, then once indexed."""
    from rag.fetch import kokkai

    no_change = ctx._no_change()
    if not (since or "").strip():
        yield "開始日を YYYY-MM-DD で入力してください。", no_change
        return
    if not ctx.ingest_lock.acquire(blocking=False):
        yield "別の取り込みが進行中です。終わってからもう一度お試しください。", no_change
        return
    try:
        query = kokkai.KokkaiQuery(since=since.strip(), until=(until or "").strip() or None,
                                   house=None if house in (None, "", ANY_HOUSE) else house,
                                   meeting=(meeting or "").strip() or None, any=(words or "").strip() or None)
        out = Path(out_dir) if out_dir else Path(ctx.settings.fetch_dir) / "kokkai"
        seen: list[Any] = []
        totals = {"total": 0}
        outcome: dict[str, Any] = {}

        def on_meeting(res: Any, done: int, total: int) -> None:
            seen.append(res)
            totals["total"] = total

        def work() -> None:
            try:
                outcome["report"] = kokkai.fetch_kokkai(
                    query, out, base_url=base_url or ctx.settings.kokkai_base_url,
                    delay=kokkai.DEFAULT_DELAY if delay is None else delay, on_meeting=on_meeting,
                    log=lambda s: log.info("fetch kokkai: %s", s))
            except BaseException as e:  # noqa: BLE001 - shown to the user below
                outcome["error"] = e

        started = time.perf_counter()
        worker = threading.Thread(target=work, name="fetch-kokkai", daemon=True)
        worker.start()
        shown = -1
        while worker.is_alive():
            worker.join(refresh)
            if len(seen) != shown:
                shown = len(seen)
                yield progress_markdown(list(seen), totals["total"], started), no_change
        if "error" in outcome:
            e = outcome["error"]
            msg = str(e) if isinstance(e, RagError) else f"{type(e).__name__}: {e}"
            if not isinstance(e, RagError):
                log.error("fetch failed: %s\n%s", msg, "".join(traceback.format_exception(e)))
            yield f"❌ 取得できませんでした: {escape_md(msg)}", no_change
            return
        report = outcome["report"]
        if not do_index or not kokkai.kokkai_folder(out).files():
            yield result_markdown(report), no_change
            return
        yield result_markdown(report) + "\n\n**索引に追加しています…**", no_change
        try:
            try:
                embedder = ctx.pipe.embedder  # the model already loaded for questions
            except RagError:
                embedder = None
            ingested = kokkai.ingest_fetched(out, ctx.settings, embedder=embedder)
        except Exception as e:  # noqa: BLE001 - the index is left as it was; say why
            msg = str(e) if isinstance(e, RagError) else f"{type(e).__name__}: {e}"
            log.error("indexing fetched minutes failed: %s\n%s", msg, traceback.format_exc())
            yield result_markdown(report, index_error=msg), no_change
            return
        yield result_markdown(report, ingested), ctx.index_changed(ingested)
    finally:
        ctx.ingest_lock.release()


def build(ctx: UIContext) -> None:
    import gradio as gr

    gr.Markdown(intro(), elem_id="fetch-intro")
    with gr.Row():
        since = gr.Textbox(label="開始日", value=lambda: (date.today() - timedelta(days=30)).isoformat(),
                           placeholder="YYYY-MM-DD", elem_id="fetch-since", min_width=140)
        until = gr.Textbox(label="終了日（空欄は今日）", placeholder="YYYY-MM-DD", elem_id="fetch-until", min_width=140)
        house = gr.Dropdown(HOUSE_CHOICES, value=ANY_HOUSE, label="院", elem_id="fetch-house")
    with gr.Row():
        meeting = gr.Textbox(label="会議名（例: 本会議。空白区切りはいずれか）", elem_id="fetch-meeting")
        words = gr.Textbox(label="キーワード（空白区切りはすべてを含む）", elem_id="fetch-words")
    do_index = gr.Checkbox(value=True, label="取得した会議録を索引に追加する", elem_id="fetch-index")
    btn = gr.Button("取得する", variant="primary", elem_id="fetch-btn")
    result = gr.Markdown(elem_id="fetch-result")

    def run(since, until, house, meeting, words, do_index):
        yield from fetch_and_index(ctx, since, until, house, meeting, words, do_index)

    btn.click(run, [since, until, house, meeting, words, do_index], [result, ctx.index_version],
              api_name="fetch_kokkai", concurrency_limit=1)


TAB = Tab("国会会議録の取得", "fetch-kokkai", build)
