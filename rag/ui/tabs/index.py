"""索引の状態: what the index holds and how it was built (through the store interface only). API: /stats."""

from __future__ import annotations

from rag.errors import IndexMissing, RagError
from rag.ui.context import Tab, UIContext
from rag.ui.render import escape_md, stats_markdown


def index_state(ctx: UIContext) -> str:
    try:
        with ctx.reading():
            store = ctx.pipe.store
            stats, docs, manifest = store.stats(), store.documents(), store.manifest
    except IndexMissing as e:
        return f"**索引がありません**: {escape_md(str(e))}\n\n「会議録の追加」タブからファイルを取り込めます。"
    except RagError as e:
        return f"**索引を開けません**: {escape_md(str(e))}"
    return stats_markdown(stats, docs, manifest, ctx.settings.answer_mode, ctx.settings.retrieval)


def build(ctx: UIContext) -> None:
    import gradio as gr

    stats = gr.Markdown(index_state(ctx), elem_id="stats")
    refresh = gr.Button("更新", elem_id="refresh-stats", size="sm")
    refresh.click(lambda: index_state(ctx), None, stats, api_name="stats")
    ctx.on_index_change(lambda: index_state(ctx), [stats])


TAB = Tab("索引の状態", "stats", build)
