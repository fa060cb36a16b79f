"""answer -> UI: the Gradio chat app.

Everything that comes from the minutes is escaped before display (a turn that contains
`<script>` shows those characters, it does not run them).
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import RagError

KIND_LABELS = {"member": "議員・委員", "executive": "執行部・理事者", "secretariat": "事務局", "chair": "議長・委員長",
               "unknown": "不明"}
UPLOAD_TYPES = [".txt", ".html", ".htm", ".pdf", ".json"]
MAX_UPLOAD_MB = 50
CSS = """
.cite-card {border:1px solid #d0d7de; border-radius:8px; padding:10px 12px; margin:8px 0; background:#fff;}
.cite-head {font-weight:600; margin-bottom:4px;}
.cite-meta {color:#57606a; font-size:0.9em; margin-bottom:6px;}
.cite-turn {white-space:pre-wrap; line-height:1.6; max-height:16em; overflow:auto;}
.cite-turn mark {background:#fff3b0; padding:0 1px;}
.cite-src {color:#57606a; font-size:0.85em; margin-top:6px; word-break:break-all;}
.ctx-turn {border-left:3px solid #d0d7de; padding-left:8px; margin:6px 0; white-space:pre-wrap;}
.ctx-turn.current {border-left-color:#bf8700; background:#fffbea;}
"""
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def escape_md(text: str) -> str:
    """Show minutes text literally inside Markdown: no HTML, no Markdown syntax."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(a: dict[str, Any]) -> str:
    """The chat message: the answer, with citation markers kept as [n]."""
    body = escape_md(a["answer"]).replace("\n", "  \n")
    body = re.sub(r"\\\[(\d+)\\\]", r"**[\1]**", body)
    if a.get("notes"):
        body += "\n\n" + " ".join(f"_{escape_md(n)}_" for n in a["notes"])
    return body


def citation_cards(a: dict[str, Any]) -> str:
    cards = a["citations"] or a.get("related", [])
    if not cards:
        return "<p>引用はまだありません。</p>"
    out = []
    if a["abstained"] and a.get("related"):
        out.append("<p><b>関連する発言（回答ではありません）</b></p>")
    for c in cards:
        e = lambda s: html.escape(str(s)) if s is not None else ""  # noqa: E731
        text = c["text"]
        qs, qe = c["quote_start"], c["quote_end"]
        turn_html = e(text[:qs]) + "<mark>" + e(text[qs:qe]) + "</mark>" + e(text[qe:])
        who = " ".join(x for x in (c.get("speaker_role"), c.get("speaker_name")) if x)
        out.append(
            f'<div class="cite-card" id="cite-{c["n"]}"><div class="cite-head">[{c["n"]}] {e(c["speaker"])}'
            f'{" — " + e(who) if who and who != c["speaker"] else ""}</div>'
            f'<div class="cite-meta">{e(c.get("body"))} {e(c.get("meeting"))} {e(c.get("date") or "日付不明")}'
            f'{" / " + e(c["agenda"]) if c.get("agenda") else ""} / 発言順 {c["turn"]}</div>'
            f'<div class="cite-turn">{turn_html}</div>'
            f'<div class="cite-src">出典: {e(c["source"])}（{e(c["doc"])} {c["start"]}–{c["end"]}文字目）</div></div>'
        )
    return "\n".join(out)


def export_markdown(a: dict[str, Any]) -> str:
    """An answer with its citations, in the form staff paste into a 答弁 draft."""
    from rag.answering.base import to_wareki

    lines = [f"## 質問\n\n{a['question']}\n", f"## 回答\n\n{a['answer']}\n", "## 出典\n"]
    for c in a["citations"]:
        date = to_wareki(c["date"]) if c.get("date") else "日付不明"
        lines.append(f"[{c['n']}] {c['speaker']}（{c.get('body') or ''} {c.get('meeting') or ''} {date}"
                     f"{'、' + c['agenda'] if c.get('agenda') else ''}、発言順 {c['turn']}）  ")
        lines.append(f"> {c['quote']}  ")
        lines.append(f"出典: {c['source']}\n")
    if a["abstained"]:
        lines.append("（該当する発言は見つかりませんでした）")
    return "\n".join(lines)


def context_html(rows: list[tuple[int, Any, Any]], current: int) -> str:
    out = []
    for turn_id, t, m in rows:
        cls = "ctx-turn current" if turn_id == current else "ctx-turn"
        out.append(f'<div class="{cls}"><b>{t.order}. {html.escape(t.speaker)}</b>\n{html.escape(t.text)}</div>')
    return "\n".join(out) or "<p>前後の発言はありません。</p>"


def build_app(settings: Settings, pipeline=None):
    import gradio as gr

    from rag.answering.base import standard_form
    from rag.pipeline import Pipeline
    from rag.records import Citation
    from rag.store.catalog import Filters

    pipe = pipeline or Pipeline(settings)

    def facets() -> dict[str, list[str]]:
        try:
            return pipe.index.catalog.facets()
        except RagError:
            return {"bodies": [], "meetings": [], "kinds": [], "speakers": []}

    def stats_markdown() -> str:
        try:
            idx = pipe.index
        except RagError as e:
            return f"**索引がありません**: {escape_md(str(e))}"
        s = idx.catalog.stats()
        docs = idx.catalog.documents()
        lines = [
            f"- 文書数: **{s['documents']}**、会議数: {s['meetings']}、発言数: **{s['turns']}**",
            f"- 団体: {escape_md('、'.join(s['bodies']) or '—')}",
            f"- 期間: {s['date_from'] or '—'} 〜 {s['date_to'] or '—'}",
            f"- 埋め込みモデル: {escape_md(idx.manifest.model)}（{idx.manifest.dimension}次元、{idx.manifest.vector_index}）",
            f"- 回答モード: {escape_md(settings.answer_mode)}",
            "", "| 文書 | 形式 | 発言数 | 日付 |", "|---|---|---|---|",
        ]
        lines += [f"| {escape_md(d['doc'])} | {d['format']} | {d['turns']} | {d['date'] or ''} |" for d in docs]
        return "\n".join(lines)

    def ask(message: str, chat: list, state: dict, body, meeting, since, until, speaker, kinds):
        chat = list(chat or [])
        message = (message or "").strip()
        if not message:
            return chat, state, gr.update(), "", gr.update()
        history = state.get("history", [])
        filters = Filters(body=body or None, meeting=meeting or None, since=since or None, until=until or None,
                          speaker=speaker or None, kind=",".join(kinds) if kinds else None)
        chat.append({"role": "user", "content": escape_md(message)})
        try:
            a = pipe.ask(message, filters=filters, history=history).to_dict()
        except RagError as e:
            chat.append({"role": "assistant", "content": f"エラー: {escape_md(str(e))}"})
            return chat, state, gr.update(), "", gr.update()
        chat.append({"role": "assistant", "content": answer_markdown(a)})
        state = {"history": history + [message], "answer": a}
        choices = [f"[{c['n']}] {c['speaker']}" for c in (a["citations"] or a.get("related", []))]
        return (chat, state, citation_cards(a), "",
                gr.update(choices=choices, value=choices[0] if choices else None))

    def new_conversation():
        return [], {}, "<p>引用はまだありません。</p>", gr.update(choices=[], value=None), "", ""

    def show_context(choice: str, state: dict):
        a = state.get("answer")
        if not a or not choice:
            return "<p>回答の引用を選んでください。</p>", ""
        n = int(choice.split("]")[0].strip("["))
        cards = a["citations"] or a.get("related", [])
        c = next((c for c in cards if c["n"] == n), None)
        if c is None:
            return "", ""
        rows = pipe.retriever.context(c["turn_id"], before=2, after=2)
        return context_html(rows, c["turn_id"]), standard_form(Citation(**c))

    def export(state: dict):
        a = state.get("answer")
        if not a:
            return "", None
        md = export_markdown(a)
        out = Path(tempfile.mkdtemp(prefix="rag-export-")) / f"answer-{time.strftime('%Y%m%d-%H%M%S')}.md"
        out.write_text(md, encoding="utf-8")
        return md, str(out)

    def upload(files):
        from rag.ingest import ingest

        if not files:
            return "ファイルを選んでください。", stats_markdown()
        staging = Path(tempfile.mkdtemp(prefix="rag-upload-"))
        rejected = []
        for f in files:
            src = Path(f if isinstance(f, str) else f.name)
            name = Path(src.name).name  # never trust a path inside an uploaded name
            if Path(name).suffix.lower() not in UPLOAD_TYPES:
                rejected.append((name, f"対応していない形式です（{', '.join(UPLOAD_TYPES)}）"))
                continue
            if src.stat().st_size > MAX_UPLOAD_MB * 1024 * 1024:
                rejected.append((name, f"{MAX_UPLOAD_MB} MB を超えています"))
                continue
            shutil.copyfile(src, staging / name)
        lines = []
        if any(staging.iterdir()):
            try:
                report = ingest([staging], settings, embedder=pipe.embedder, progress=False)
            except RagError as e:
                return f"取り込めませんでした（既存の索引はそのままです）: {escape_md(str(e))}", stats_markdown()
            pipe.reload()
            lines.append(f"取り込み: {report.documents} 件（発言 {report.turns}）、変更なし {len(report.unchanged)} 件、"
                         f"{report.seconds:.1f} 秒")
            lines += [f"- ✅ {escape_md(d)}" for d in report.added + report.replaced]
            rejected += [(Path(p).name, why) for p, why in report.skipped]
            lines += [f"- ⚠️ {escape_md(d)}: {escape_md(w)}" for d, w in report.warnings]
        lines += [f"- ❌ {escape_md(n)}: {escape_md(why)}" for n, why in rejected]
        return "\n".join(lines), stats_markdown()

    f = facets()
    with gr.Blocks(title="会議録QA") as app:
        state = gr.State({})
        gr.Markdown("# 会議録QA — 議会・委員会の会議録に出典つきで答えます")
        with gr.Tabs():
            with gr.Tab("質問", id="ask"):
                with gr.Row():
                    with gr.Column(scale=3, min_width=320):
                        chat = gr.Chatbot(label="会話", height=460, elem_id="chat")
                        question = gr.Textbox(label="質問", placeholder="例: 下関市は生成AIをどこで使えるようにしたのか",
                                              elem_id="question", lines=1)
                        with gr.Row():
                            send = gr.Button("質問する", variant="primary", elem_id="send")
                            clear = gr.Button("新しい会話", elem_id="new-chat")
                        with gr.Accordion("絞り込み", open=False, elem_id="filters"):
                            body = gr.Dropdown(f["bodies"], label="団体", value=None, allow_custom_value=True, elem_id="f-body")
                            meeting = gr.Dropdown(f["meetings"], label="会議", value=None, allow_custom_value=True,
                                                  elem_id="f-meeting")
                            with gr.Row():
                                since = gr.Textbox(label="開始日 (YYYY-MM-DD)", elem_id="f-since")
                                until = gr.Textbox(label="終了日 (YYYY-MM-DD)", elem_id="f-until")
                            speaker = gr.Textbox(label="発言者名", elem_id="f-speaker")
                            kinds = gr.CheckboxGroup([(KIND_LABELS.get(k, k), k) for k in f["kinds"]],
                                                     label="発言者の区分", elem_id="f-kind")
                    with gr.Column(scale=2, min_width=300):
                        gr.Markdown("### 根拠となる発言")
                        cards = gr.HTML("<p>引用はまだありません。</p>", elem_id="citations")
                        pick = gr.Dropdown([], label="引用を選ぶ", elem_id="pick")
                        ctx_btn = gr.Button("前後の発言を表示", elem_id="show-context")
                        cite_text = gr.Textbox(label="引用の定型文（コピー用）", buttons=["copy"], elem_id="cite-text")
                        ctx = gr.HTML("", elem_id="context")
                        exp_btn = gr.Button("Markdownで書き出す", elem_id="export")
                        exp_md = gr.Code(label="書き出し（Markdown）", language="markdown", elem_id="export-md")
                        exp_file = gr.File(label="ダウンロード", elem_id="export-file")
            with gr.Tab("会議録の追加", id="upload"):
                files = gr.File(label="会議録ファイル（txt, html, pdf, 国会会議録API JSON）", file_count="multiple",
                                file_types=UPLOAD_TYPES, elem_id="upload-files")
                up_btn = gr.Button("取り込む", variant="primary", elem_id="upload-btn")
                up_out = gr.Markdown(elem_id="upload-result")
            with gr.Tab("索引の状態", id="stats"):
                stats = gr.Markdown(stats_markdown(), elem_id="stats")
                gr.Button("更新", elem_id="refresh-stats").click(stats_markdown, None, stats)

        inputs = [question, chat, state, body, meeting, since, until, speaker, kinds]
        outputs = [chat, state, cards, question, pick]
        send.click(ask, inputs, outputs, api_name="ask")
        question.submit(ask, inputs, outputs)
        clear.click(new_conversation, None, [chat, state, cards, pick, ctx, cite_text])
        ctx_btn.click(show_context, [pick, state], [ctx, cite_text])
        pick.change(show_context, [pick, state], [ctx, cite_text])
        exp_btn.click(export, [state], [exp_md, exp_file])
        up_btn.click(upload, [files], [up_out, stats], api_name="upload")
    return app


def launch(settings: Settings, pipeline=None) -> None:
    app = build_app(settings, pipeline)
    auth = None
    if settings.auth:
        user, _, password = settings.auth.partition(":")
        auth = (user, password)
    elif settings.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {settings.host} without a login; set RAG_AUTH=user:password", flush=True)
    app.queue(default_concurrency_limit=4).launch(
        server_name=settings.host, server_port=settings.port, auth=auth, css=CSS,
        max_file_size=f"{MAX_UPLOAD_MB}mb", show_error=True,
    )
