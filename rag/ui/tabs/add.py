"""会議録の追加: upload minutes files through the ingest service the CLI uses (rag.ingest.add_uploads).

The accepted formats and limits come from rag.readers and rag.sources.upload; the checks, the
library copy of each file and the rollback on failure are the service's. API endpoint: /upload.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.ui.context import Tab, UIContext
from rag.ui.render import escape_md, ingest_markdown

log = logging.getLogger("rag.ui")


def intro() -> str:
    """What the tab says about formats and limits, built from the readers' own list."""
    from rag.readers import readers
    from rag.sources.upload import MAX_UPLOAD_FILES, MAX_UPLOAD_MB

    formats = "、".join(r.label for r in readers())
    return (f"会議録ファイルを索引に追加します。対応形式: {escape_md(formats)}。1ファイル {MAX_UPLOAD_MB} MB まで、"
            f"一度に {MAX_UPLOAD_FILES} ファイルまで。取り込みに失敗しても既存の索引は失われません。")


def _named(f: Any) -> tuple[Path, str]:
    """(path of the uploaded temp file, the name the user gave it) from what gr.File hands over."""
    path = Path(f if isinstance(f, str) else getattr(f, "path", None) or f.name)
    return path, getattr(f, "orig_name", None) or path.name


def build(ctx: UIContext) -> None:
    import gradio as gr

    from rag.readers import accepted_suffixes

    gr.Markdown(intro(), elem_id="upload-intro")
    files = gr.File(label="会議録ファイル", file_count="multiple", file_types=accepted_suffixes(),
                    elem_id="upload-files")
    up_btn = gr.Button("取り込む", variant="primary", elem_id="upload-btn")
    result = gr.Markdown(elem_id="upload-result")

    def upload(chosen):
        from rag.ingest import add_uploads

        if not chosen:
            return "ファイルを選んでください。", gr.update()
        if not ctx.ingest_lock.acquire(blocking=False):
            return "別の取り込みが進行中です。終わってからもう一度お試しください。", gr.update()
        try:
            try:
                embedder = ctx.pipe.embedder  # the model already loaded for questions
            except RagError:
                embedder = None  # no usable index yet: the service loads the configured model
            report = add_uploads([_named(f) for f in chosen], ctx.settings, embedder=embedder)
            return ingest_markdown(report), ctx.index_changed(report)
        except Exception as e:  # noqa: BLE001 - the service rolled back; say why, keep the session usable
            msg = str(e) if isinstance(e, RagError) else f"{type(e).__name__}: {e}"
            log.error("upload failed: %s\n%s", msg, traceback.format_exc())
            return f"❌ 取り込めませんでした（既存の索引はそのままです）: {escape_md(msg)}", gr.update()
        finally:
            ctx.ingest_lock.release()

    up_btn.click(upload, [files], [result, ctx.index_version], api_name="upload", concurrency_limit=1)


TAB = Tab("会議録の追加", "upload", build)
