"""answer -> UI: the Gradio chat app (`python -m rag serve`, `python app.py`).

Everything that comes from the minutes (or from a user) is shown as text, never as markup:
HTML is escaped with `html.escape`, Markdown with `escape_md`. A turn that contains
`<script>` shows those characters; it does not run them.

Layout: a 質問 tab (chat, filters, citation cards, surrounding turns, copy/export), a
会議録の追加 tab (upload) and a 索引の状態 tab (what the index holds).
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import tempfile
import threading
import time
import traceback
import unicodedata
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Iterator

from rag.config import Settings
from rag.errors import IndexMissing, RagError

log = logging.getLogger("rag.ui")

KIND_LABELS = {"chair": "議長・委員長", "member": "議員・委員", "executive": "執行部・理事者", "secretariat": "事務局",
               "unknown": "不明"}
UPLOAD_TYPES = [".txt", ".html", ".htm", ".pdf", ".json"]
MAX_UPLOAD_MB = 50
MAX_UPLOAD_FILES = 20
MAX_NAME_CHARS = 120
EXCERPT_CHARS = 160  # characters of the turn shown either side of the quote (the whole turn is one click away)
NO_CITATIONS = '<p class="cite-empty">引用はまだありません。質問すると、根拠となる発言がここに表示されます。</p>'

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

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>\-.$=:])")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ---------------------------------------------------------------- rendering (pure functions, unit-tested)


def escape_md(text: str) -> str:
    """Show text literally inside Markdown: no HTML, no Markdown syntax, no LaTeX."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True) if s is not None else ""


def wareki(iso: str | None) -> str:
    """2024-09-18 -> 令和6年9月18日; unknown or odd dates are shown as given."""
    from rag.answering.base import to_wareki

    if not iso:
        return "日付不明"
    try:
        return to_wareki(iso)
    except (ValueError, TypeError):
        return iso


def _cards_of(a: dict[str, Any]) -> list[dict[str, Any]]:
    return a.get("citations") or a.get("related") or []


def answer_markdown(a: dict[str, Any], filters_note: str = "") -> str:
    """The chat message: the answer (escaped), each [n] a link to citation card n."""
    body = escape_md(a["answer"]).replace("\n", "  \n")
    body = re.sub(r"\\\[(\d+)\\\]", r"[**\\[\1\\]**](#cite-\1)", body)
    extra = []
    if a.get("abstained") and a.get("related"):
        extra.append("関連する発言を右（下）に示します（回答ではありません）。")
    extra += list(a.get("notes") or [])
    if filters_note:
        extra.append(filters_note)
    if extra:
        body += "\n\n" + "  \n".join(f"_{escape_md(n)}_" for n in extra)
    return body


def standard_form(c: dict[str, Any]) -> str:
    """「…」（令和6年9月18日 下関市議会 本会議 総合政策部長）"""
    from rag.answering.base import standard_form as sf
    from rag.records import Citation

    fields = Citation.__dataclass_fields__
    return sf(Citation(**{k: v for k, v in c.items() if k in fields}))


def _excerpt(text: str, qs: int, qe: int, width: int = EXCERPT_CHARS) -> str:
    """HTML of the turn around the quote, the quote marked; '…' where text is left out."""
    qs, qe = max(0, min(qs, len(text))), max(0, min(qe, len(text)))
    a, b = max(0, qs - width), min(len(text), qe + width)
    return (("…" if a > 0 else "") + html.escape(text[a:qs]) + "<mark>" + html.escape(text[qs:qe]) + "</mark>"
            + html.escape(text[qe:b]) + ("…" if b < len(text) else ""))


def _source_html(c: dict[str, Any]) -> str:
    src = c.get("url") or c.get("source") or ""
    where = f"（{_e(c.get('doc'))}、{c.get('start')}–{c.get('end')}文字目）"
    if re.match(r"^https?://", src, re.I):
        return f'<a href="{_e(src)}" target="_blank" rel="noopener noreferrer nofollow">{_e(src)}</a>{where}'
    return f"{_e(src)}{where}"


def citation_cards(a: dict[str, Any]) -> str:
    cards = _cards_of(a)
    if not cards:
        return '<p class="cite-empty">該当する発言は見つかりませんでした。絞り込みを外すか、言い換えてみてください。</p>'
    out = []
    if a.get("abstained"):
        out.append('<p class="cite-related"><b>関連する発言（回答ではありません）</b></p>')
    for c in cards:
        text = c["text"]
        qs, qe = int(c["quote_start"]), int(c["quote_end"])
        who = [c.get("speaker") or "不明"]
        if c.get("speaker_name") and c["speaker_name"] != c.get("speaker"):
            who.append(f"氏名: {c['speaker_name']}")
        if c.get("speaker_role") and c["speaker_role"] != c.get("speaker"):
            who.append(f"役職: {c['speaker_role']}")
        who.append(KIND_LABELS.get(c.get("speaker_kind") or "unknown", c.get("speaker_kind") or ""))
        meta = [("団体", c.get("body") or "—"), ("会議", c.get("meeting") or "—"),
                ("日付", f"{wareki(c.get('date'))}" + (f"（{c['date']}）" if c.get("date") else ""))]
        if c.get("agenda"):
            meta.append(("議題", c["agenda"]))
        meta += [("発言者", "／".join(who)), ("発言順", f"{c['turn']}番目の発言")]
        dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta)
        full = ""
        if len(text) > (qe - qs) + 2 * EXCERPT_CHARS:
            full = ('<details class="cite-full"><summary>発言全体を表示</summary><div class="cite-turn">'
                    + html.escape(text[:qs]) + "<mark>" + html.escape(text[qs:qe]) + "</mark>"
                    + html.escape(text[qe:]) + "</div></details>")
        out.append(
            f'<div class="cite-card" id="cite-{int(c["n"])}" data-speaker="{_e(c.get("speaker"))}" '
            f'data-body="{_e(c.get("body"))}">'
            f'<div class="cite-head"><span>[{int(c["n"])}] {_e(c.get("speaker"))}</span>'
            f'<button type="button" class="copy-cite" title="引用の定型文をコピー" data-cite="{_e(standard_form(c))}">'
            f"コピー</button></div>"
            f'<dl class="cite-meta">{dl}</dl>'
            f'<div class="cite-turn">{_excerpt(text, qs, qe)}</div>{full}'
            f'<div class="cite-src">出典: {_source_html(c)}</div></div>'
        )
    return "\n".join(out)


def context_html(rows: list[tuple[int, Any, Any]], current: int, quote: tuple[int, int] | None = None) -> str:
    """The turns around a cited one, in meeting order; the cited turn (and its quote) marked."""
    if not rows:
        return "<p>前後の発言はありません。</p>"
    m = rows[0][2]
    head = " ".join(x for x in (m.body, m.name, wareki(m.date)) if x)
    out = [f'<div class="ctx-head">{_e(head)}</div>']
    for turn_id, t, _m in rows:
        cls = "ctx-turn current" if turn_id == current else "ctx-turn"
        text = t.text
        if turn_id == current and quote:
            qs, qe = quote
            body = html.escape(text[:qs]) + "<mark>" + html.escape(text[qs:qe]) + "</mark>" + html.escape(text[qe:])
        else:
            body = html.escape(text)
        label = f"{t.order}. {t.speaker}" + (f"（{t.agenda}）" if t.agenda and turn_id == current else "")
        out.append(f'<div class="{cls}" data-order="{int(t.order)}"><span class="ctx-who">{_e(label)}</span>{body}</div>')
    return '<div class="ctx-box">' + "\n".join(out) + "</div>"


def export_markdown(a: dict[str, Any], filters_note: str = "") -> str:
    """An answer with its citations, in the form staff paste into a 答弁 draft."""
    def quoted(s: str) -> str:
        return "\n".join("> " + line for line in str(s).splitlines()) or ">"

    lines = [f"## 質問\n\n{a['question']}\n", f"## 回答\n\n{a['answer']}\n"]
    if filters_note:
        lines.append(f"（{filters_note}）\n")
    cards = a.get("citations") or []
    lines.append("## 出典\n")
    for c in cards:
        lines.append(f"[{c['n']}] {c['speaker']}（{c.get('body') or ''} {c.get('meeting') or ''} {wareki(c.get('date'))}"
                     f"{'、' + c['agenda'] if c.get('agenda') else ''}、{c['turn']}番目の発言）\n")
        lines.append(quoted(c["quote"]) + "\n")
        lines.append(f"引用: {standard_form(c)}  ")
        lines.append(f"出典: {c.get('url') or c['source']}（{c['doc']} {c['start']}–{c['end']}文字目）\n")
    if not cards:
        lines.append("（該当する発言は見つかりませんでした）\n")
        for c in a.get("related") or []:
            lines.append(f"- 関連: {c['speaker']}（{c.get('meeting') or ''} {wareki(c.get('date'))}）「{c['quote']}」")
    lines.append(f"\n---\n作成: {time.strftime('%Y-%m-%d %H:%M')}（会議録QA、{a.get('mode', 'extractive')}）")
    return "\n".join(lines).rstrip() + "\n"


def safe_upload_name(name: str) -> str | None:
    """A plain file name for an uploaded file, or None. No folders, no dot-files, no control characters."""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    name = re.sub(r'[<>:"|?*]', "_", name)
    if not name or name in (".", ".."):
        return None
    stem, suffix = Path(name).stem, Path(name).suffix
    if len(name) > MAX_NAME_CHARS:
        name = stem[: MAX_NAME_CHARS - len(suffix)] + suffix
    return name


def parse_filters(body, meeting, since, until, speaker, kinds):
    """(Filters, human note) from the filter widgets; raises ValueError with a Japanese message."""
    from rag.store.catalog import Filters

    since, until = (since or "").strip(), (until or "").strip()
    for label, d in (("開始日", since), ("終了日", until)):
        if d:
            if not _DATE.match(d):
                raise ValueError(f"{label}は YYYY-MM-DD の形で入力してください（例: 2024-09-18）: {d}")
            try:
                date.fromisoformat(d)
            except ValueError:
                raise ValueError(f"{label}が正しい日付ではありません: {d}") from None
    if since and until and since > until:
        raise ValueError(f"開始日 {since} が終了日 {until} より後です")
    kinds = [k for k in (kinds or []) if k in KIND_LABELS]
    f = Filters(body=(body or "").strip() or None, meeting=(meeting or "").strip() or None, since=since or None,
                until=until or None, speaker=(speaker or "").strip() or None, kind=",".join(kinds) or None)
    parts = []
    if f.body:
        parts.append(f"団体={f.body}")
    if f.meeting:
        parts.append(f"会議={f.meeting}")
    if f.since or f.until:
        parts.append(f"期間={f.since or ''}〜{f.until or ''}")
    if f.speaker:
        parts.append(f"発言者={f.speaker}")
    if kinds:
        parts.append("区分=" + "・".join(KIND_LABELS[k] for k in kinds))
    return f, ("絞り込み: " + "、".join(parts) if parts else "")


class _ReadWriteLock:
    """Many questions at once; an index reload (after an upload) waits for them and blocks new ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._writing = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def parse_auth(value: str) -> tuple[str, str] | None:
    """RAG_AUTH=user:password -> (user, password); '' -> None."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise RagError("RAG_AUTH must be user:password (both non-empty)")
    return user, password


# ---------------------------------------------------------------- the app


def build_app(settings: Settings, pipeline=None):
    import gradio as gr

    from rag.pipeline import Pipeline

    pipe = pipeline or Pipeline(settings)
    rw = _ReadWriteLock()
    ingest_lock = threading.Lock()
    uploads_dir = Path(settings.index_dir) / "uploads"

    def facets() -> dict[str, list[str]]:
        try:
            with rw.read():
                return pipe.index.catalog.facets()
        except RagError:
            return {"bodies": [], "meetings": [], "kinds": [], "speakers": []}

    def stats_markdown() -> str:
        try:
            with rw.read():
                idx = pipe.index
                s = idx.catalog.stats()
                docs = idx.catalog.documents()
                man = idx.manifest
        except IndexMissing as e:
            return f"**索引がありません**: {escape_md(str(e))}\n\n「会議録の追加」タブからファイルを取り込めます。"
        except RagError as e:
            return f"**索引を開けません**: {escape_md(str(e))}"
        lines = [
            "| 項目 | 値 |", "|---|---|",
            f"| 文書数 | **{s['documents']}** |",
            f"| 会議数 | {s['meetings']} |",
            f"| 発言数 | **{s['turns']}**（検索単位 {s['chunks']}） |",
            f"| 団体 | {escape_md('、'.join(s['bodies']) or '—')} |",
            f"| 期間 | {s['date_from'] or '—'} 〜 {s['date_to'] or '—'} |",
            f"| 埋め込みモデル | {escape_md(man.model)}（{man.dimension}次元、{escape_md(man.backend)}、{escape_md(man.vector_index)}） |",
            f"| 回答モード | {escape_md(settings.answer_mode)} |",
            f"| 検索方式 | {escape_md(settings.retrieval)} |",
            f"| 索引の作成日時 | {escape_md(man.created)} |",
            "", "### 文書", "", "| 文書 | 団体 | 形式 | 発言数 | 日付 |", "|---|---|---|---|---|",
        ]
        lines += [f"| {escape_md(d['doc'])} | {escape_md(d.get('bodies') or '')} | {escape_md(d['format'])} | "
                  f"{d['turns']} | {escape_md(d['date'] or '')} |" for d in docs]
        return "\n".join(lines)

    def facet_updates():
        f = facets()
        return (gr.update(choices=f["bodies"]), gr.update(choices=f["meetings"]),
                gr.update(choices=f["speakers"]),
                gr.update(choices=[(KIND_LABELS.get(k, k), k) for k in f["kinds"]]))

    def on_load():
        return (*facet_updates(), stats_markdown())

    def ask(message: str, chat: list, state: dict, body, meeting, since, until, speaker, kinds):
        chat = list(chat or [])
        state = dict(state or {})
        message = (message or "").strip()
        if not message:
            yield chat, state, gr.update(), "", gr.update(), gr.update()
            return
        chat.append({"role": "user", "content": escape_md(message)})
        try:
            filters, note = parse_filters(body, meeting, since, until, speaker, kinds)
        except ValueError as e:
            chat.append({"role": "assistant", "content": f"⚠️ {escape_md(str(e))}"})
            yield chat, state, gr.update(), message, gr.update(), gr.update()
            return
        history = list(state.get("history", []))
        a = None
        try:
            with rw.read():
                streamed = ""
                for part in pipe.ask_stream(message, filters=filters, history=history):
                    if isinstance(part, str):  # an LLM writing: show the text as it comes
                        streamed += part
                        yield (chat + [{"role": "assistant", "content": escape_md(streamed)}], state, gr.update(),
                               "", gr.update(), gr.update())
                    else:
                        a = part.to_dict()
        except RagError as e:
            chat.append({"role": "assistant", "content": f"⚠️ エラー: {escape_md(str(e))}"})
            yield chat, state, gr.update(), "", gr.update(), gr.update()
            return
        except Exception as e:  # keep the session usable; details go to the server log
            log.error("ask failed: %s\n%s", e, traceback.format_exc())
            chat.append({"role": "assistant", "content": f"⚠️ 内部エラーが発生しました（{escape_md(type(e).__name__)}）。"
                                                         "もう一度お試しください。"})
            yield chat, state, gr.update(), message, gr.update(), gr.update()
            return
        # the checked answer replaces what was streamed (markers renumbered, unsupported text flagged)
        chat.append({"role": "assistant", "content": answer_markdown(a, note)})
        state = {"history": history + [message], "answer": a, "filters": note}
        choices = [(f"[{c['n']}] {c['speaker']}", str(c["n"])) for c in _cards_of(a)]
        yield (chat, state, citation_cards(a), "",
               gr.update(choices=choices, value=choices[0][1] if choices else None), "")

    def new_conversation():
        return ([], {}, NO_CITATIONS, gr.update(choices=[], value=None), "", "", gr.update(value="", visible=False),
                gr.update(value=None, visible=False))

    def show_context(choice, span: float, state: dict):
        a = (state or {}).get("answer")
        if not a or not choice:
            return "<p>回答の引用を選んでください。</p>", ""
        try:
            n = int(str(choice).strip("[] ").split("]")[0])
        except ValueError:
            return "", ""
        c = next((c for c in _cards_of(a) if int(c["n"]) == n), None)
        if c is None:
            return "<p>この引用は見つかりません。</p>", ""
        span = max(1, min(int(span or 2), 10))
        try:
            with rw.read():
                rows = pipe.retriever.context(int(c["turn_id"]), before=span, after=span)
        except Exception as e:
            log.error("context failed: %s", e)
            rows = []
        # turn ids change when the index is rebuilt: only trust the rows if they are the same turn
        rows = rows if any(t.order == c["turn"] and t.text == c["text"] for _, t, _ in rows) else []
        if not rows:
            return "<p>前後の発言を表示できません（索引が更新された可能性があります）。</p>", standard_form(c)
        return context_html(rows, int(c["turn_id"]), (int(c["quote_start"]), int(c["quote_end"]))), standard_form(c)

    def cite_of(choice, state: dict) -> str:
        a = (state or {}).get("answer")
        c = next((c for c in _cards_of(a or {}) if str(c["n"]) == str(choice)), None)
        return standard_form(c) if c else ""

    def export(state: dict):
        a = (state or {}).get("answer")
        if not a:
            return gr.update(value="（書き出す回答がありません。先に質問してください。）", visible=True), None
        md = export_markdown(a, state.get("filters", ""))
        out = Path(tempfile.mkdtemp(prefix="rag-export-")) / f"kaigiroku-answer-{time.strftime('%Y%m%d-%H%M%S')}.md"
        out.write_text(md, encoding="utf-8")
        return gr.update(value=md, visible=True), gr.update(value=str(out), visible=True)

    def _check_upload(src: Path, name: str) -> str | None:
        """Why an uploaded file is refused, or None."""
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_TYPES:
            return f"対応していない形式です（{', '.join(UPLOAD_TYPES)} のみ）"
        size = src.stat().st_size
        if size == 0:
            return "空のファイルです"
        if size > MAX_UPLOAD_MB * 1024 * 1024:
            return f"{MAX_UPLOAD_MB} MB を超えています"
        with open(src, "rb") as fh:
            head = fh.read(2048)
        if suffix == ".pdf" and not head.startswith(b"%PDF"):
            return "PDF ではありません（拡張子と中身が一致しません）"
        if suffix == ".json" and not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
            return "JSON ではありません（国会会議録検索システム API の JSON を想定しています）"
        if suffix in (".txt", ".html", ".htm") and b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "テキストではありません（バイナリファイルのようです）"
        return None

    def upload(files):
        from rag.ingest import ingest

        if not files:
            return ("ファイルを選んでください。", stats_markdown(), *facet_updates())
        files = list(files)
        if len(files) > MAX_UPLOAD_FILES:
            return (f"一度に取り込めるのは {MAX_UPLOAD_FILES} ファイルまでです（{len(files)} 件選択）。",
                    stats_markdown(), *facet_updates())
        if not ingest_lock.acquire(blocking=False):
            return ("別の取り込みが進行中です。終わってからもう一度お試しください。", stats_markdown(), *facet_updates())
        try:
            return _upload(files, ingest)
        finally:
            ingest_lock.release()

    def _upload(files, ingest):
        rejected: list[tuple[str, str]] = []
        staged: dict[str, Path] = {}  # shown name -> path in the uploads folder
        backups: dict[Path, Path] = {}
        uploads_dir.mkdir(parents=True, exist_ok=True)

        def restore() -> None:  # the uploads folder as it was before this upload
            for dest in staged.values():
                dest.unlink(missing_ok=True)
            for dest, bak in backups.items():
                bak.replace(dest)

        report = None
        try:  # staging and ingest in one piece: any failure puts back the files the index was built from
            for f in files:
                src = Path(f if isinstance(f, str) else getattr(f, "path", None) or f.name)
                raw_name = getattr(f, "orig_name", None) or src.name
                name = safe_upload_name(raw_name)
                if name is None:
                    rejected.append((str(raw_name), "ファイル名が不正です"))
                    continue
                if name in staged:
                    rejected.append((name, "同じ名前のファイルが重複しています"))
                    continue
                why = _check_upload(src, name)
                if why:
                    rejected.append((name, why))
                    continue
                dest = uploads_dir / name
                if dest.resolve().parent != uploads_dir.resolve():  # belt and braces: never leave the folder
                    rejected.append((name, "ファイル名が不正です"))
                    continue
                if dest.exists():
                    bak = dest.with_name(f".bak-{time.time_ns()}-{name}")
                    dest.replace(bak)
                    backups[dest] = bak
                staged[name] = dest
                shutil.copyfile(src, dest)
            if staged:
                report = ingest(list(staged.values()), settings, embedder=pipe.embedder, progress=False)
        except Exception as e:
            restore()
            msg = str(e) if isinstance(e, RagError) else f"{type(e).__name__}: {e}"
            log.error("upload ingest failed: %s\n%s", msg, traceback.format_exc())
            return (f"❌ 取り込めませんでした（既存の索引はそのままです）: {escape_md(msg)}", stats_markdown(),
                    *facet_updates())
        lines: list[str] = []
        if report is not None:
            skipped = {Path(p).name: why for p, why in report.skipped}
            for name, dest in staged.items():
                if name in skipped:  # not indexed: put back what was there before
                    dest.unlink(missing_ok=True)
                    if dest in backups:
                        backups.pop(dest).replace(dest)
                    rejected.append((name, skipped[name]))
            for bak in backups.values():
                bak.unlink(missing_ok=True)
            if report.documents:
                with rw.write():
                    pipe.reload()
            lines.append(f"**取り込み結果**: 追加 {len(report.added)} 件、置き換え {len(report.replaced)} 件、"
                         f"変更なし {len(report.unchanged)} 件、取り込めず {len(rejected)} 件"
                         f"（発言 {report.turns}、{report.seconds:.1f} 秒）")
            lines += [f"- ✅ {escape_md(d)}: 追加しました" for d in report.added]
            lines += [f"- ✅ {escape_md(d)}: 置き換えました" for d in report.replaced]
            lines += [f"- ＝ {escape_md(d)}: 取り込み済みと同じ内容です" for d in report.unchanged]
            lines += [f"- ⚠️ {escape_md(d)}: {escape_md(w)}" for d, w in report.warnings]
        else:
            lines.append(f"**取り込み結果**: 取り込めず {len(rejected)} 件（索引は変わっていません）")
        lines += [f"- ❌ {escape_md(n)}: {escape_md(why)}" for n, why in rejected]
        return ("\n".join(lines), stats_markdown(), *facet_updates())

    f = facets()
    with gr.Blocks(title="会議録QA") as app:
        state = gr.State({})
        gr.Markdown("## 会議録QA — 議会・委員会の会議録に出典つきで答えます", elem_id="title")
        with gr.Tabs():
            with gr.Tab("質問", id="ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=340):
                        chat = gr.Chatbot(label="会話", height=440, elem_id="chat", latex_delimiters=[],
                                          allow_tags=False, sanitize_html=True, buttons=["copy"],
                                          placeholder="会議録について質問してください（日本語・英語）。"
                                                      "回答の [1] などの番号は根拠となる発言を指します。")
                        question = gr.Textbox(label="質問", placeholder="例: 下関市は生成AIをどこで使えるようにしたのか",
                                              elem_id="question", lines=1, max_lines=4, max_length=2000)
                        with gr.Row():
                            send = gr.Button("質問する", variant="primary", elem_id="send", min_width=120)
                            clear = gr.Button("新しい会話", elem_id="new-chat", min_width=120)
                        with gr.Accordion("絞り込み（団体・会議・期間・発言者）", open=False, elem_id="filters"):
                            body = gr.Dropdown(f["bodies"], label="団体", value=None, allow_custom_value=True,
                                               elem_id="f-body")
                            meeting = gr.Dropdown(f["meetings"], label="会議", value=None, allow_custom_value=True,
                                                  elem_id="f-meeting")
                            with gr.Row():
                                since = gr.Textbox(label="開始日", placeholder="YYYY-MM-DD", elem_id="f-since",
                                                   min_width=140)
                                until = gr.Textbox(label="終了日", placeholder="YYYY-MM-DD", elem_id="f-until",
                                                   min_width=140)
                            speaker = gr.Dropdown(f["speakers"], label="発言者名（一部でも可）", value=None,
                                                  allow_custom_value=True, elem_id="f-speaker")
                            kinds = gr.CheckboxGroup([(KIND_LABELS.get(k, k), k) for k in f["kinds"]],
                                                     label="発言者の区分", elem_id="f-kind")
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
                        ctx = gr.HTML("", elem_id="context")
                        exp_btn = gr.Button("回答と出典をMarkdownで書き出す", elem_id="export")
                        exp_md = gr.Code(label="書き出し（Markdown）", language="markdown", elem_id="export-md",
                                         interactive=False, visible=False)
                        exp_file = gr.File(label="ダウンロード", elem_id="export-file", interactive=False, visible=False)
            with gr.Tab("会議録の追加", id="upload"):
                gr.Markdown(f"会議録ファイルを索引に追加します。対応形式: テキスト（.txt）、HTML（.html/.htm）、PDF（.pdf）、"
                            f"国会会議録検索システム API の JSON（.json）。1ファイル {MAX_UPLOAD_MB} MB まで、"
                            f"一度に {MAX_UPLOAD_FILES} ファイルまで。取り込みに失敗しても既存の索引は失われません。")
                files = gr.File(label="会議録ファイル", file_count="multiple", file_types=UPLOAD_TYPES,
                                elem_id="upload-files")
                up_btn = gr.Button("取り込む", variant="primary", elem_id="upload-btn")
                up_out = gr.Markdown(elem_id="upload-result")
            with gr.Tab("索引の状態", id="stats"):
                stats = gr.Markdown(stats_markdown(), elem_id="stats")
                refresh = gr.Button("更新", elem_id="refresh-stats", size="sm")

        filter_boxes = [body, meeting, speaker, kinds]
        inputs = [question, chat, state, body, meeting, since, until, speaker, kinds]
        outputs = [chat, state, cards, question, pick, ctx]
        send.click(ask, inputs, outputs, api_name="ask", concurrency_id="ask")
        question.submit(ask, inputs, outputs, api_visibility="private", concurrency_id="ask")
        clear.click(new_conversation, None, [chat, state, cards, pick, ctx, cite_text, exp_md, exp_file],
                    api_visibility="private")
        reset.click(lambda: (None, None, "", "", None, []), None, [body, meeting, since, until, speaker, kinds],
                    api_visibility="private")
        ctx_btn.click(show_context, [pick, span, state], [ctx, cite_text], api_name="context")
        pick.change(cite_of, [pick, state], [cite_text], api_visibility="private")
        exp_btn.click(export, [state], [exp_md, exp_file], api_name="export")
        up_btn.click(upload, [files], [up_out, stats, *filter_boxes], api_name="upload", concurrency_limit=1)
        refresh.click(stats_markdown, None, stats, api_name="stats")
        app.load(on_load, None, [*filter_boxes, stats], api_visibility="private")
    return app


def launch(settings: Settings, pipeline=None) -> None:
    from rag.pipeline import Pipeline

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
