"""answer -> UI: the Gradio chat app (`python -m rag serve`, `python app.py`).

    render.py       pure HTML/Markdown rendering (everything from the minutes shown as text, never markup)
    context.py      what the tabs share: pipeline, settings, the reload lock, the ingest lock, index-change events
    app.py          build_app (the tabs listed in app.TABS), launch, login, CSS/JS
    tabs/ask.py     質問: chat, filters, citation cards, surrounding turns, copy text, export
    tabs/add.py     会議録の追加: upload through rag.ingest.add_uploads
    tabs/index.py   索引の状態: what the index holds
"""

from rag.ui.app import build_app, launch

__all__ = ["build_app", "launch"]
