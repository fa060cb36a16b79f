"""The Gradio app: build_app assembles the tabs listed in TABS; launch serves it (`python -m rag serve`).

A new tab is one module in rag/ui/tabs/ defining `TAB = Tab(label, id, build)` and one entry in TABS.
"""

from __future__ import annotations

import time

from rag.config import Settings
from rag.errors import IndexMissing, RagError
from rag.ui.context import UIContext
from rag.ui.tabs import add, ask, fetch, index, timeline

TABS = [ask.TAB, timeline.TAB, add.TAB, fetch.TAB, index.TAB]  # in the order they are shown

CSS = """
.cite-card {border:1px solid #d0d7de; border-radius:8px; padding:10px 12px; margin:8px 0;
            background:var(--background-fill-primary, #fff); scroll-margin-top:12px;}
.cite-card.flash {outline:3px solid #bf8700;}
.cite-head {font-weight:600; margin-bottom:4px; display:flex; justify-content:space-between; gap:8px; flex-wrap:wrap;}
.cite-meta {color:var(--body-text-color-subdued, #57606a); font-size:0.9em; margin:0 0 6px 0;
            display:grid; grid-template-columns:max-content 1fr; column-gap:8px; row-gap:1px;}
.cite-meta dt {font-weight:600;} .cite-meta dd {margin:0; overflow-wrap:anywhere;}
.cite-turn {white-space:pre-wrap; line-height:1.6; overflow-wrap:anywhere;}
.cite-turn mark, .ctx-turn mark {background:#fff3b0; color:inherit; padding:0 1px;}
.cite-full summary {cursor:pointer; color:var(--link-text-color, #0969da); font-size:0.9em; margin-top:4px;}
.cite-full .cite-turn {max-height:20em; overflow:auto; border-top:1px dashed #d0d7de; margin-top:4px; padding-top:4px;}
.cite-src {color:var(--body-text-color-subdued, #57606a); font-size:0.85em; margin-top:6px; overflow-wrap:anywhere;}
.copy-cite {font-size:0.85em; border:1px solid #d0d7de; border-radius:6px; padding:1px 8px; cursor:pointer;
            background:var(--button-secondary-background-fill, #f6f8fa); font-weight:400;}
.ctx-box {max-height:32em; overflow:auto; border:1px solid #d0d7de; border-radius:8px; padding:4px 8px;}
.ctx-head {font-weight:600; margin:4px 0;}
.ctx-turn {border-left:3px solid #d0d7de; padding:2px 0 2px 8px; margin:6px 0; white-space:pre-wrap;
           overflow-wrap:anywhere; line-height:1.6;}
.ctx-turn.current {border-left-color:#bf8700; background:#fffbea;}
.ctx-turn .ctx-who {font-weight:600; display:block;}
#chat a[href^="#cite-"] {text-decoration:none; font-weight:600;}
@media (max-width: 640px) { .cite-meta {grid-template-columns:1fr;} .cite-meta dt {margin-top:2px;} }
"""

# Clicking a [n] marker in the chat scrolls to card n; the コピー button of a card copies its standard form.
HEAD_JS = """
<script>
(function () {
  function flash(el) { el.classList.add('flash'); setTimeout(function () { el.classList.remove('flash'); }, 1500); }
  function copyText(text, btn) {
    var done = function () { var t = btn.textContent; btn.textContent = 'コピーしました'; setTimeout(function () { btn.textContent = t; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, function () {}); return; }
    var ta = document.createElement('textarea'); ta.value = text; document.body.appendChild(ta); ta.select();
    try { document.execCommand('copy'); done(); } catch (e) {} document.body.removeChild(ta);
  }
  document.addEventListener('click', function (ev) {
    var a = ev.target.closest && ev.target.closest('a[href^="#cite-"]');
    if (a) {
      var card = document.getElementById(a.getAttribute('href').slice(1));
      if (card) { ev.preventDefault(); ev.stopPropagation(); card.scrollIntoView({behavior: 'smooth', block: 'start'}); flash(card); }
      return;
    }
    var b = ev.target.closest && ev.target.closest('button.copy-cite');
    if (b) { ev.preventDefault(); copyText(b.getAttribute('data-cite') || '', b); }
  }, true);
})();
</script>
"""


def parse_auth(value: str) -> tuple[str, str] | None:
    """RAG_AUTH=user:password -> (user, password); '' -> None."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise RagError("RAG_AUTH must be user:password (both non-empty)")
    return user, password


def build_app(settings: Settings, pipeline=None):
    import gradio as gr

    from rag.pipeline import Pipeline

    ctx = UIContext(settings, pipeline or Pipeline(settings))
    with gr.Blocks(title="会議録QA") as app:
        ctx.app, ctx.index_version = app, gr.State(0)
        gr.Markdown("## 会議録QA — 議会・委員会の会議録に出典つきで答えます", elem_id="title")
        with gr.Tabs():
            for tab in TABS:
                with gr.Tab(tab.label, id=tab.id):
                    tab.build(ctx)
    return app


def launch(settings: Settings, pipeline=None) -> None:
    from rag.pipeline import Pipeline
    from rag.sources.upload import MAX_UPLOAD_MB

    auth = parse_auth(settings.auth)
    if auth is None and settings.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {settings.host} without a login; set RAG_AUTH=user:password", flush=True)
    pipe = pipeline or Pipeline(settings)
    started = time.perf_counter()
    try:  # load the model, the index and the answerer now, not on the first user's question (no LLM call)
        pipe.retrieve("ウォームアップ")
        pipe.answerer
        print(f"index {settings.index_dir} and model ready in {time.perf_counter() - started:.1f} s", flush=True)
    except IndexMissing as e:
        print(f"warning: {e} (the UI starts; add minutes in the 会議録の追加 tab)", flush=True)
    except RagError as e:
        print(f"warning: {e} (the UI starts, but cannot answer until this is fixed)", flush=True)
    app = build_app(settings, pipe)
    app.queue(default_concurrency_limit=4, max_size=64).launch(
        server_name=settings.host, server_port=settings.port, auth=auth,
        auth_message="会議録QA: ユーザー名とパスワードを入力してください", css=CSS, head=HEAD_JS,
        max_file_size=f"{MAX_UPLOAD_MB}mb", show_error=True, footer_links=[],
    )
