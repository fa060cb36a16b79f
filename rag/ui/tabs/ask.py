"""質問: chat, filters, citation cards, the turns around a citation, the copy text, Markdown export.

API endpoints (gradio_client): /ask, /context, /export.
"""

from __future__ import annotations

import logging
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.ui.context import Tab, UIContext
from rag.ui.render import (NO_CITATIONS, answer_markdown, cards_of, citation_cards, context_html, escape_md,
                           export_markdown, kind_choices, parse_filters, standard_form)

log = logging.getLogger("rag.ui")

PICK_FIRST = "<p>回答の引用を選んでください。</p>"


def _card(state: dict | None, choice: Any) -> dict[str, Any] | None:
    """The citation card `choice` ("1", "[1] …") of the session's last answer."""
    a = (state or {}).get("answer") or {}
    n = str(choice or "").strip().lstrip("[").split("]")[0].strip()
    return next((c for c in cards_of(a) if str(c.get("n")) == n), None)


def build(ctx: UIContext) -> None:
    import gradio as gr

    f = ctx.facets()
    state = gr.State({})
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=340):
            chat = gr.Chatbot(label="会話", height=440, elem_id="chat", latex_delimiters=[], allow_tags=False,
                              sanitize_html=True, buttons=["copy"],
                              placeholder="会議録について質問してください（日本語・英語）。"
                                          "回答の [1] などの番号は根拠となる発言を指します。")
            question = gr.Textbox(label="質問", placeholder="例: 下関市は生成AIをどこで使えるようにしたのか",
                                  elem_id="question", lines=1, max_lines=4, max_length=2000)
            with gr.Row():
                send = gr.Button("質問する", variant="primary", elem_id="send", min_width=120)
                clear = gr.Button("新しい会話", elem_id="new-chat", min_width=120)
            with gr.Accordion("絞り込み（団体・会議・期間・発言者）", open=False, elem_id="filters"):
                body = gr.Dropdown(f["bodies"], label="団体", value=None, allow_custom_value=True, elem_id="f-body")
                meeting = gr.Dropdown(f["meetings"], label="会議", value=None, allow_custom_value=True,
                                      elem_id="f-meeting")
                with gr.Row():
                    since = gr.Textbox(label="開始日", placeholder="YYYY-MM-DD", elem_id="f-since", min_width=140)
                    until = gr.Textbox(label="終了日", placeholder="YYYY-MM-DD", elem_id="f-until", min_width=140)
                speaker = gr.Dropdown(f["speakers"], label="発言者名（一部でも可）", value=None,
                                      allow_custom_value=True, elem_id="f-speaker")
                kinds = gr.CheckboxGroup(kind_choices(f["kinds"]), label="発言者の区分", elem_id="f-kind")
                reset = gr.Button("絞り込みを解除", size="sm", elem_id="f-reset")
        with gr.Column(scale=2, min_width=300):
            gr.Markdown("### 根拠となる発言")
            cards = gr.HTML(NO_CITATIONS, elem_id="citations")
            with gr.Group():
                pick = gr.Dropdown([], label="引用を選ぶ", elem_id="pick")
                span = gr.Slider(1, 5, value=2, step=1, label="前後に表示する発言数", elem_id="ctx-span")
                ctx_btn = gr.Button("前後の発言を表示", elem_id="show-context")
            cite_text = gr.Textbox(label="引用の定型文（コピー用）", buttons=["copy"], elem_id="cite-text",
                                   interactive=False)
            ctx_html = gr.HTML("", elem_id="context")
            exp_btn = gr.Button("回答と出典をMarkdownで書き出す", elem_id="export")
            exp_md = gr.Code(label="書き出し（Markdown）", language="markdown", elem_id="export-md",
                             interactive=False, visible=False)
            exp_file = gr.File(label="ダウンロード", elem_id="export-file", interactive=False, visible=False)

    keep = gr.update

    def shown(chat, state, question="", answer=None, note=""):
        """One row of outputs: the chat, and with a new answer everything derived from the previous one replaced
        (cards, choice, context, copy text, export); without one, those stay as they are."""
        if answer is None:
            return chat, state, keep(), question, keep(), keep(), keep(), keep(), keep()
        choices = [(f"[{c['n']}] {c['speaker']}", str(c["n"])) for c in cards_of(answer)]
        first = cards_of(answer)[0] if choices else None
        return (chat, state, citation_cards(answer), question,
                keep(choices=choices, value=choices[0][1] if choices else None), "",
                standard_form(first) if first else "", keep(value="", visible=False), keep(value=None, visible=False))

    def ask(message: str, chat: list, state: dict, body, meeting, since, until, speaker, kinds):
        chat, state = list(chat or []), dict(state or {})
        message = (message or "").strip()
        if not message:
            yield shown(chat, state)
            return
        chat.append({"role": "user", "content": escape_md(message)})
        try:
            filters, note = parse_filters(body, meeting, since, until, speaker, kinds)
        except ValueError as e:
            chat.append({"role": "assistant", "content": f"⚠️ {escape_md(str(e))}"})
            yield shown(chat, state, message)
            return
        history = list(state.get("history", []))
        a = None
        try:
            with ctx.reading():
                streamed = ""
                for part in ctx.pipe.ask_stream(message, filters=filters, history=history):
                    if isinstance(part, str):  # an LLM writing: show the text as it comes
                        streamed += part
                        yield shown(chat + [{"role": "assistant", "content": escape_md(streamed)}], state)
                    else:
                        a = part.to_dict()
        except RagError as e:
            chat.append({"role": "assistant", "content": f"⚠️ エラー: {escape_md(str(e))}"})
            yield shown(chat, state)
            return
        except Exception as e:  # keep the session usable; details go to the server log
            log.error("ask failed: %s\n%s", e, traceback.format_exc())
            chat.append({"role": "assistant", "content": f"⚠️ 内部エラーが発生しました（{escape_md(type(e).__name__)}）。"
                                                         "もう一度お試しください。"})
            yield shown(chat, state, message)
            return
        if a is None:  # an answerer must end with an Answer; say so rather than keep the old cards
            chat.append({"role": "assistant", "content": "⚠️ 回答を得られませんでした。もう一度お試しください。"})
            yield shown(chat, state, message)
            return
        # the checked answer replaces what was streamed (markers renumbered, unsupported text flagged)
        chat.append({"role": "assistant", "content": answer_markdown(a, note)})
        yield shown(chat, {"history": history + [message], "answer": a, "filters": note}, "", a, note)

    def new_conversation():
        return ([], {}, NO_CITATIONS, keep(choices=[], value=None), "", "", keep(value="", visible=False),
                keep(value=None, visible=False))

    def show_context(choice, span: float, state: dict):
        if not (state or {}).get("answer") or not choice:
            return PICK_FIRST, ""
        c = _card(state, choice)
        if c is None:
            return "<p>この引用は見つかりません。</p>", ""
        span = max(1, min(int(span or 2), 10))
        key = str(c.get("turn_key") or "")
        try:
            with ctx.reading():
                rows = ctx.pipe.retriever.context(key, before=span, after=span) if key else []
        except Exception as e:  # noqa: BLE001 - a missing turn is explained below
            log.error("context failed: %s", e)
            rows = []
        # the document may have been replaced since the answer: only show the turn if it is still the same
        if not any(k == key and t.text == c["text"] for k, t, _ in rows):
            return "<p>前後の発言を表示できません（索引が更新された可能性があります）。</p>", standard_form(c)
        return context_html(rows, key, (int(c["quote_start"]), int(c["quote_end"]))), standard_form(c)

    def cite_of(choice, state: dict) -> str:
        c = _card(state, choice)
        return standard_form(c) if c else ""

    def export(state: dict):
        a = (state or {}).get("answer")
        if not a:
            return keep(value="（書き出す回答がありません。先に質問してください。）", visible=True), None
        md = export_markdown(a, state.get("filters", ""))
        out = Path(tempfile.mkdtemp(prefix="rag-export-")) / f"kaigiroku-answer-{time.strftime('%Y%m%d-%H%M%S')}.md"
        out.write_text(md, encoding="utf-8")
        return keep(value=md, visible=True), keep(value=str(out), visible=True)

    def refresh_facets():
        f = ctx.facets()
        return (keep(choices=f["bodies"]), keep(choices=f["meetings"]), keep(choices=f["speakers"]),
                keep(choices=kind_choices(f["kinds"])))

    inputs = [question, chat, state, body, meeting, since, until, speaker, kinds]
    outputs = [chat, state, cards, question, pick, ctx_html, cite_text, exp_md, exp_file]
    send.click(ask, inputs, outputs, api_name="ask", concurrency_id="ask")
    question.submit(ask, inputs, outputs, api_visibility="private", concurrency_id="ask")
    clear.click(new_conversation, None, [chat, state, cards, pick, ctx_html, cite_text, exp_md, exp_file],
                api_visibility="private")
    reset.click(lambda: (None, None, "", "", None, []), None, [body, meeting, since, until, speaker, kinds],
                api_visibility="private")
    ctx_btn.click(show_context, [pick, span, state], [ctx_html, cite_text], api_name="context")
    pick.change(cite_of, [pick, state], [cite_text], api_visibility="private")
    exp_btn.click(export, [state], [exp_md, exp_file], api_name="export")
    ctx.on_index_change(refresh_facets, [body, meeting, speaker, kinds])


TAB = Tab("質問", "ask", build)
