"""答弁の経過: every statement on a topic across meetings in date order, drawn and listed, with the changes between
them, similar past questions, the cited turn in context, and the 答弁経過 brief (rag.timeline).

Clicking a mark in the chart, or choosing an entry, shows that turn among the turns around it.
API endpoints (gradio_client): /timeline, /timeline_context, /timeline_export.
"""

from __future__ import annotations

import html
import logging
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.ui.context import Tab, UIContext
from rag.ui.render import KIND_LABELS, context_html, escape_md, kind_choices, parse_filters, wareki

log = logging.getLogger("rag.ui")

EMPTY = '<p class="tl-empty">話題を入力して「経過を表示」を押すと、会議ごとの発言が日付順に表示されます。</p>'
PICK_FIRST = "<p>図の印をクリックするか、発言を選んでください。</p>"
CHANGE_NAMES = {"figure": "数字の変化", "stance": "姿勢の変化", "reference": "過去の答弁への言及"}
STYLE = """<style>
.tl-group {margin:10px 0 4px 0; font-weight:600; border-bottom:1px solid #d0d7de;}
.tl-entry {border-left:3px solid #d0d7de; padding:4px 0 4px 10px; margin:6px 0;}
.tl-entry.tl-changed {border-left-color:#cf222e;}
.tl-who {font-weight:600;} .tl-meta {color:#57606a; font-size:0.88em;}
.tl-quote {white-space:pre-wrap; line-height:1.6; margin:2px 0;}
.tl-q {color:#57606a; font-size:0.9em;} .tl-change {border:1px solid #cf222e; border-radius:6px; padding:6px 8px; margin:6px 0;}
.tl-change b {color:#cf222e;}
</style>"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True) if x is not None else ""


def summary_markdown(d: dict[str, Any]) -> str:
    c = d["counts"]
    parts = [f"**{escape_md(d['topic'])}**: {c['meetings']}会議の発言 **{c['entries']}件**"]
    if c["folded"]:
        parts.append(f"同じ内容の発言 {c['folded']}件をまとめました")
    parts.append(f"変化・言及 **{len(d['changes'])}件**")
    if d.get("filters"):
        parts.append("絞り込み: " + escape_md("、".join(f"{k}={v}" for k, v in d["filters"].items())))
    lines = ["、".join(parts)]
    lines += [f"_{escape_md(n)}_" for n in d.get("notes") or []]
    return "  \n".join(lines)


def changes_html(d: dict[str, Any]) -> str:
    if not d["changes"]:
        return '<p class="tl-meta">数字・姿勢の変化や、過去の答弁への言及は見つかりませんでした。</p>'
    out = [STYLE]
    for ch in d["changes"]:
        rows = []
        names = (("言及", "after"), ("過去の答弁", "before"), ("この質問への答弁", "reply")) if ch["kind"] == "reference" \
            else (("前", "before"), ("後", "after"))
        for label, key in names:
            s = ch.get(key)
            if s:
                rows.append(f'<div class="tl-quote" lang="ja">{_e(label)}（{_e(s["entry"])}）: {_e(s["standard_form"])}</div>')
        note = f'<div class="tl-meta">{_e(ch["note"])}</div>' if ch.get("note") else ""
        out.append(f'<div class="tl-change" data-change="{_e(ch["id"])}"><b>{_e(CHANGE_NAMES.get(ch["kind"], ch["kind"]))}'
                   f'（{_e(ch["label"])}）</b> {_e(ch["summary"])}{"".join(rows)}{note}</div>')
    return "\n".join(out)


def entries_html(d: dict[str, Any]) -> str:
    if not d["entries"]:
        return '<p class="tl-empty">この話題についての発言は見つかりませんでした。言い換えるか、絞り込みを外してみてください。</p>'
    by_id = {e["id"]: e for e in d["entries"]}
    out = [STYLE]
    for m in d["meetings"]:
        head = " ".join(x for x in (wareki(m.get("date")), m.get("body"), m.get("meeting")) if x) or m["doc"]
        out.append(f'<div class="tl-group" lang="ja">{_e(head)}</div>')
        for eid in m["entries"]:
            e = by_id[eid]
            quotes = "".join(f'<div class="tl-quote" lang="ja">「{_e(q["quote"])}」</div>' for q in e["quotes"])
            q = e.get("question_turn")
            question = f'<div class="tl-q" lang="ja">答えている質問（{_e(q["speaker"])}）: 「{_e(q["quote"])}」</div>' if q else ""
            folded = ""
            if e.get("folded"):
                folded = '<div class="tl-meta">同じ内容: ' + _e("、".join(
                    " ".join(x for x in (wareki(f.get("date")), f.get("meeting"), f.get("speaker")) if x)
                    for f in e["folded"])) + "</div>"
            changes = f' <span class="tl-meta">変化・言及: {_e("、".join(e["changes"]))}</span>' if e.get("changes") else ""
            src = e.get("url") or e.get("source") or ""
            link = f'<a href="{_e(src)}" target="_blank" rel="noopener noreferrer nofollow">{_e(src)}</a>' \
                if src.startswith(("http://", "https://")) else _e(src)
            cls = "tl-entry tl-changed" if e.get("changes") else "tl-entry"
            out.append(f'<div class="{cls}" id="tl-{_e(eid)}" data-entry="{_e(eid)}" data-speaker="{_e(e["speaker"])}">'
                       f'<span class="tl-who" lang="ja">[{_e(eid)}] {_e(e["speaker"])}</span> '
                       f'<span class="tl-meta">{_e(KIND_LABELS.get(e["speaker_kind"], ""))}、{e["turn"]}番目の発言</span>'
                       f'{changes}{quotes}{question}{folded}<div class="tl-meta">出典: {link}</div></div>')
    return "\n".join(out)


def similar_html(d: dict[str, Any]) -> str:
    pairs = d.get("similar_questions") or []
    if not pairs:
        return '<p class="tl-meta">過去の類似質問は見つかりませんでした。</p>'
    out = [STYLE]
    for p in pairs:
        q = p["question"]
        head = " ".join(x for x in (wareki(q.get("date")), q.get("body"), q.get("meeting")) if x)
        answers = "".join(f'<div class="tl-quote" lang="ja">答（{_e(a["speaker"])}）: 「{_e(a["quote"])}」</div>'
                          for a in p["answers"])
        out.append(f'<div class="tl-entry" data-question="{_e(q["turn_key"])}"><div class="tl-meta">{_e(head)}</div>'
                   f'<div class="tl-quote" lang="ja">問（{_e(q["speaker"])}）: 「{_e(q["quote"])}」</div>{answers}</div>')
    return "\n".join(out)


def entry_choices(d: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f"[{e['id']}] {e['date'] or '日付不明'} {e['speaker']}", e["id"]) for e in d.get("entries") or []]


def build(ctx: UIContext) -> None:
    import gradio as gr

    f = ctx.facets()
    state = gr.State({})
    gr.Markdown("過去の発言を話題ごとに会議の日付順で並べ、数字や姿勢の変化、過去の答弁への言及を示します。"
                "答弁の準備（これまで何と答えてきたか）に。", elem_id="tl-intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=340):
            with gr.Row():
                topic = gr.Textbox(label="話題または質問", placeholder="例: システム標準化、生成AIの業務での活用",
                                   elem_id="tl-topic", lines=1, max_lines=3, max_length=2000, scale=4)
                run = gr.Button("経過を表示", variant="primary", elem_id="tl-run", scale=1, min_width=110)
            broad = gr.Checkbox(label="広めに探す（取りこぼしを減らす代わりに、関係の薄い発言も増えます）", value=False,
                                elem_id="tl-broad")
            with gr.Accordion("絞り込み（団体・期間・発言者）", open=False, elem_id="tl-filters"):
                body = gr.Dropdown(f["bodies"], label="団体", value=None, allow_custom_value=True, elem_id="tl-f-body")
                with gr.Row():
                    since = gr.Textbox(label="開始日", placeholder="YYYY-MM-DD", elem_id="tl-f-since", min_width=140)
                    until = gr.Textbox(label="終了日", placeholder="YYYY-MM-DD", elem_id="tl-f-until", min_width=140)
                speaker = gr.Dropdown(f["speakers"], label="発言者名（一部でも可）", value=None, allow_custom_value=True,
                                      elem_id="tl-f-speaker")
                kinds = gr.CheckboxGroup(kind_choices(f["kinds"]), label="発言者の区分", elem_id="tl-f-kind")
            with gr.Accordion("質問通告から過去の類似質問を探す", open=False, elem_id="tl-notice-box"):
                notice = gr.Textbox(label="質問通告の文面", lines=5, max_lines=20, max_length=8000, elem_id="tl-notice",
                                    placeholder="1. 自治体システムの標準化について\n2. 生成AIの活用について")
            summary = gr.Markdown("", elem_id="tl-summary")
            chart = gr.Image(label="答弁の経過（印をクリックすると、その発言を前後の発言とともに表示します）", type="filepath",
                             interactive=False, elem_id="tl-chart", buttons=["download"])
            gr.Markdown("### 変化・過去の答弁への言及")
            changes = gr.HTML("", elem_id="tl-changes")
            gr.Markdown("### 発言（会議ごと、日付順）")
            entries = gr.HTML(EMPTY, elem_id="tl-entries")
        with gr.Column(scale=2, min_width=300):
            with gr.Group():
                pick = gr.Dropdown([], label="発言を選ぶ", elem_id="tl-pick")
                span = gr.Slider(1, 5, value=2, step=1, label="前後に表示する発言数", elem_id="tl-span")
                show = gr.Button("前後の発言を表示", elem_id="tl-show")
            cite = gr.Textbox(label="引用の定型文（コピー用）", buttons=["copy"], elem_id="tl-cite", interactive=False)
            context = gr.HTML("", elem_id="tl-context")
            gr.Markdown("### 過去の類似質問と答弁（新しい順）")
            similar = gr.HTML("", elem_id="tl-similar")
            export = gr.Button("答弁経過をMarkdownで書き出す（図つき）", elem_id="tl-export")
            export_md = gr.Code(label="答弁経過（Markdown）", language="markdown", elem_id="tl-export-md",
                                interactive=False, visible=False)
            export_files = gr.File(label="ダウンロード（Markdown と図）", file_count="multiple", elem_id="tl-export-file",
                                   interactive=False, visible=False)

    keep = gr.update

    def show_timeline(text, notice_text, broad_on, body_v, since_v, until_v, speaker_v, kinds_v):
        from rag.timeline import build_timeline
        from rag.timeline.chart import draw_chart
        from rag.timeline.core import BROAD_CUT

        text, notice_text = (text or "").strip(), (notice_text or "").strip()
        if not text and not notice_text:
            return ({}, "話題を入力してください。", None, "", EMPTY, "", keep(choices=[], value=None), "", "")
        try:
            filters, _ = parse_filters(body_v, None, since_v, until_v, speaker_v, kinds_v)
        except ValueError as e:
            return ({}, f"⚠️ {escape_md(str(e))}", None, "", EMPTY, "", keep(choices=[], value=None), "", "")
        try:
            with ctx.reading():
                tl = build_timeline(ctx.pipe, text, filters, notice=notice_text or None,
                                    cut=BROAD_CUT if broad_on else None)
        except RagError as e:
            return ({}, f"⚠️ エラー: {escape_md(str(e))}", None, "", EMPTY, "", keep(choices=[], value=None), "", "")
        except Exception as e:  # keep the session usable; details go to the server log
            log.error("timeline failed: %s\n%s", e, traceback.format_exc())
            return ({}, f"⚠️ 内部エラーが発生しました（{escape_md(type(e).__name__)}）。", None, "", EMPTY, "",
                    keep(choices=[], value=None), "", "")
        d = tl.to_dict()
        png, marks = draw_chart(d)
        path = Path(tempfile.mkdtemp(prefix="rag-timeline-")) / "timeline.png"
        path.write_bytes(png)
        choices = entry_choices(d)
        st = {"timeline": d, "marks": marks, "chart": str(path)}
        return (st, summary_markdown(d), str(path), changes_html(d), entries_html(d), similar_html(d),
                keep(choices=choices, value=choices[0][1] if choices else None), "", PICK_FIRST if choices else "")

    def context_of(entry_id, span_v, st):
        d = (st or {}).get("timeline") or {}
        e = next((x for x in d.get("entries") or [] if x["id"] == entry_id), None)
        if e is None:
            return PICK_FIRST, ""
        quote = e["quotes"][0] if e["quotes"] else None
        cite_text = quote["standard_form"] if quote else ""
        n = max(1, min(int(span_v or 2), 10))
        try:
            with ctx.reading():
                rows = ctx.pipe.retriever.context(e["turn_key"], before=n, after=n)
        except Exception as err:  # noqa: BLE001 - a missing turn is explained below
            log.error("timeline context failed: %s", err)
            rows = []
        if not any(k == e["turn_key"] for k, _, _ in rows):
            return "<p>前後の発言を表示できません（索引が更新された可能性があります）。</p>", cite_text
        span_q = (int(quote["quote_start"]), int(quote["quote_end"])) if quote else None
        return context_html(rows, e["turn_key"], span_q), cite_text

    def clicked(st, span_v, evt: gr.SelectData):
        from rag.timeline.chart import nearest_mark

        marks = (st or {}).get("marks") or []
        try:
            x, y = evt.index
        except (TypeError, ValueError):
            return keep(), PICK_FIRST, ""
        eid = nearest_mark([tuple(m) for m in marks], float(x), float(y))
        if eid is None:
            return keep(), "<p>印の上をクリックしてください。</p>", ""
        ctx_html, cite_text = context_of(eid, span_v, st)
        return keep(value=eid), ctx_html, cite_text

    clicked.__annotations__["evt"] = gr.SelectData  # (this module's annotations are strings; Gradio needs the class)

    def do_export(st):
        from rag.timeline.brief import brief_markdown

        d = (st or {}).get("timeline")
        if not d:
            return keep(value="（書き出す経過がありません。先に「経過を表示」を押してください。）", visible=True), \
                keep(value=None, visible=False)
        folder = Path(tempfile.mkdtemp(prefix="rag-brief-"))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        png = folder / f"toben-keika-{stamp}.png"
        src = (st or {}).get("chart")
        if src and Path(src).is_file():
            png.write_bytes(Path(src).read_bytes())
        else:
            from rag.timeline.chart import draw_chart

            png.write_bytes(draw_chart(d)[0])
        md = brief_markdown(d, png.name)
        path = folder / f"toben-keika-{stamp}.md"
        path.write_text(md, encoding="utf-8")
        return keep(value=md, visible=True), keep(value=[str(path), str(png)], visible=True)

    def refresh_facets():
        f = ctx.facets()
        return (keep(choices=f["bodies"]), keep(choices=f["speakers"]), keep(choices=kind_choices(f["kinds"])))

    inputs = [topic, notice, broad, body, since, until, speaker, kinds]
    outputs = [state, summary, chart, changes, entries, similar, pick, cite, context]
    run.click(show_timeline, inputs, outputs, api_name="timeline", concurrency_id="timeline")
    topic.submit(show_timeline, inputs, outputs, api_visibility="private", concurrency_id="timeline")
    show.click(context_of, [pick, span, state], [context, cite], api_name="timeline_context")
    pick.change(context_of, [pick, span, state], [context, cite], api_visibility="private")
    chart.select(clicked, [state, span], [pick, context, cite], api_visibility="private")
    export.click(do_export, [state], [export_md, export_files], api_name="timeline_export")
    ctx.on_index_change(refresh_facets, [body, speaker, kinds])


TAB = Tab("答弁の経過", "timeline", build)
