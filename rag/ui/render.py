"""Pure rendering for the UI: answers, citation cards, surrounding turns, exports, filters (no Gradio).

Everything that comes from the minutes (or from a user) is shown as text, never as markup: HTML is
escaped with `html.escape`, Markdown with `escape_md`. A turn that contains `<script>` shows those
characters; it does not run them. Text meant to be copied (`standard_form`, `export_markdown`) is
plain text: no tags, no entities, no Markdown escapes.

Minutes without metadata (no body, meeting or date) leave the missing parts out: no empty
brackets, no dangling separators; 日付不明 appears only where a date is labelled as such.
"""

from __future__ import annotations

import html
import re
import time
from datetime import date
from typing import Any, Iterable

from rag.records import Filters

KIND_LABELS = {"chair": "議長・委員長", "member": "議員・委員", "executive": "執行部・理事者", "secretariat": "事務局",
               "unknown": "不明"}
EXCERPT_CHARS = 160  # characters of the turn shown either side of the quote (the whole turn is one click away)
NO_CITATIONS = '<p class="cite-empty">引用はまだありません。質問すると、根拠となる発言がここに表示されます。</p>'
NOT_FOUND = '<p class="cite-empty">該当する発言は見つかりませんでした。絞り込みを外すか、言い換えてみてください。</p>'
UNKNOWN_DATE = "日付不明"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>\-.$=:])")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# an answer line for a meeting the answerer knows nothing about: 「発言者（）：「…」」 / "Speaker (): 「…」"
_EMPTY_META = re.compile(r"（\s*）(?=：)| ?\(\s*\)(?=:)")


def escape_md(text: str) -> str:
    """Show text literally inside Markdown: no HTML, no Markdown syntax, no LaTeX."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True) if s is not None else ""


def _join(parts: Iterable[Any], sep: str = " ") -> str:
    """The non-empty parts, joined: nothing dangles when some are unknown."""
    return sep.join(str(p).strip() for p in parts if p is not None and str(p).strip())


def _paren(text: str) -> str:
    """（text）, or nothing at all when there is no text."""
    return f"（{text}）" if text else ""


def wareki(iso: str | None) -> str:
    """2024-09-18 -> 令和6年9月18日; no date -> 日付不明; odd dates are shown as given."""
    from rag.answering.base import to_wareki

    if not iso:
        return UNKNOWN_DATE
    try:
        return to_wareki(iso)
    except (ValueError, TypeError):
        return iso


def when(iso: str | None) -> str:
    """The date in 和暦 where one is known, else '' (for places that carry no date label)."""
    return wareki(iso) if iso else ""


def where_when(c: dict[str, Any]) -> str:
    """下関市議会 第3回定例会 本会議 令和6年9月18日 — whichever of body, meeting and date are known."""
    return _join((c.get("body"), c.get("meeting"), when(c.get("date"))))


def cards_of(a: dict[str, Any]) -> list[dict[str, Any]]:
    """The citations of an answer, or the related turns shown when it abstained."""
    return a.get("citations") or a.get("related") or []


def answer_text(a: dict[str, Any]) -> str:
    """The answer as plain text, without the empty brackets a meeting without metadata would leave."""
    return _EMPTY_META.sub("", str(a.get("answer") or ""))


def answer_markdown(a: dict[str, Any], filters_note: str = "") -> str:
    """The chat message: the answer (escaped), each [n] a link to citation card n."""
    body = escape_md(answer_text(a)).replace("\n", "  \n")
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
    """「…」（令和6年9月18日 下関市議会 本会議 総合政策部長） — plain text, the unknown parts left out."""
    from rag.answering.base import standard_form as sf
    from rag.records import Citation

    fields = Citation.__dataclass_fields__
    return sf(Citation(**{k: c.get(k) for k in fields}))


def _marked(text: str, qs: int, qe: int, a: int = 0, b: int | None = None) -> str:
    """HTML of text[a:b] with the quote text[qs:qe] marked."""
    b = len(text) if b is None else b
    return html.escape(text[a:qs]) + "<mark>" + html.escape(text[qs:qe]) + "</mark>" + html.escape(text[qe:b])


def _excerpt(text: str, qs: int, qe: int, width: int = EXCERPT_CHARS) -> str:
    """HTML of the turn around the quote, the quote marked; '…' where text is left out."""
    qs, qe = max(0, min(qs, len(text))), max(0, min(qe, len(text)))
    a, b = max(0, qs - width), min(len(text), qe + width)
    return ("…" if a > 0 else "") + _marked(text, qs, qe, a, b) + ("…" if b < len(text) else "")


def _doc_span(c: dict[str, Any]) -> str:
    """003.txt、100–140文字目"""
    span = f"{c['start']}–{c['end']}文字目" if c.get("start") is not None and c.get("end") is not None else ""
    return _join((c.get("doc"), span), "、")


def _source_html(c: dict[str, Any]) -> str:
    src = c.get("url") or c.get("source") or ""
    where = _e(_paren(_doc_span(c)))
    if re.match(r"^https?://", src, re.I):
        return f'<a href="{_e(src)}" target="_blank" rel="noopener noreferrer nofollow">{_e(src)}</a>{where}'
    return f"{_e(src)}{where}"


def _card_meta(c: dict[str, Any]) -> list[tuple[str, str]]:
    who = [c.get("speaker") or "不明"]
    if c.get("speaker_name") and c["speaker_name"] != c.get("speaker"):
        who.append(f"氏名: {c['speaker_name']}")
    if c.get("speaker_role") and c["speaker_role"] != c.get("speaker"):
        who.append(f"役職: {c['speaker_role']}")
    kind = c.get("speaker_kind") or "unknown"
    if kind != "unknown":
        who.append(KIND_LABELS.get(kind, kind))
    meta = [("団体", c.get("body")), ("会議", c.get("meeting")),
            ("日付", wareki(c.get("date")) + _paren(c.get("date") or "")), ("議題", c.get("agenda")),
            ("発言者", "／".join(who)), ("発言順", f"{c['turn']}番目の発言" if c.get("turn") else "")]
    return [(k, v) for k, v in meta if v]


def citation_cards(a: dict[str, Any]) -> str:
    cards = cards_of(a)
    if not cards:
        return NOT_FOUND
    out = []
    if a.get("abstained"):
        out.append('<p class="cite-related"><b>関連する発言（回答ではありません）</b></p>')
    for c in cards:
        text = c["text"]
        qs, qe = int(c["quote_start"]), int(c["quote_end"])
        dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in _card_meta(c))
        full = ""
        if len(text) > (qe - qs) + 2 * EXCERPT_CHARS:
            full = ('<details class="cite-full"><summary>発言全体を表示</summary><div class="cite-turn" lang="ja">'
                    + _marked(text, qs, qe) + "</div></details>")
        n = int(c["n"])
        out.append(
            f'<div class="cite-card" id="cite-{n}" data-speaker="{_e(c.get("speaker"))}" '
            f'data-body="{_e(c.get("body"))}">'
            f'<div class="cite-head"><span lang="ja">[{n}] {_e(c.get("speaker"))}</span>'
            f'<button type="button" class="copy-cite" title="引用の定型文をコピー" data-cite="{_e(standard_form(c))}">'
            f"コピー</button></div>"
            f'<dl class="cite-meta" lang="ja">{dl}</dl>'
            f'<div class="cite-turn" lang="ja">{_excerpt(text, qs, qe)}</div>{full}'
            f'<div class="cite-src">出典: {_source_html(c)}</div></div>'
        )
    return "\n".join(out)


def context_html(rows: list[tuple[str, Any, Any]], current: str, quote: tuple[int, int] | None = None) -> str:
    """The turns around a cited one (rows: (turn_key, Turn, Meeting)), in meeting order; the cited turn
    (and its quote) marked."""
    if not rows:
        return "<p>前後の発言はありません。</p>"
    m = rows[0][2]
    head = _join((m.body, m.name, when(m.date))) or _join((m.doc, UNKNOWN_DATE))
    out = [f'<div class="ctx-head">{_e(head)}</div>']
    for key, t, _m in rows:
        here = key == current
        body = _marked(t.text, *quote) if here and quote else html.escape(t.text)
        label = f"{t.order}. {t.speaker}" + (_paren(t.agenda or "") if here else "")
        out.append(f'<div class="ctx-turn{" current" if here else ""}" data-order="{int(t.order)}">'
                   f'<span class="ctx-who">{_e(label)}</span>{body}</div>')
    return '<div class="ctx-box" lang="ja">' + "\n".join(out) + "</div>"


def export_markdown(a: dict[str, Any], filters_note: str = "") -> str:
    """An answer with its citations, in the form staff paste into a 答弁 draft (plain text in Markdown)."""
    def quoted(s: str) -> str:
        return "\n".join("> " + line for line in str(s).splitlines()) or ">"

    lines = [f"## 質問\n\n{a['question']}\n", f"## 回答\n\n{answer_text(a)}\n"]
    if filters_note:
        lines.append(f"（{filters_note}）\n")
    cards = a.get("citations") or []
    lines.append("## 出典\n")
    for c in cards:
        about = _join((where_when(c), c.get("agenda"), f"{c['turn']}番目の発言" if c.get("turn") else ""), "、")
        lines.append(f"[{c['n']}] {c['speaker']}{_paren(about)}\n")
        lines.append(quoted(c["quote"]) + "\n")
        lines.append(f"引用: {standard_form(c)}  ")
        lines.append(f"出典: {_join((c.get('url') or c.get('source'), _paren(_doc_span(c))), '')}\n")
    if not cards:
        lines.append("（該当する発言は見つかりませんでした）\n")
        for c in a.get("related") or []:
            lines.append(f"- 関連: {c['speaker']}{_paren(_join((c.get('meeting'), when(c.get('date')))))}「{c['quote']}」")
    lines.append(f"\n---\n作成: {time.strftime('%Y-%m-%d %H:%M')}（会議録QA、{a.get('mode', 'extractive')}）")
    return "\n".join(lines).rstrip() + "\n"


def parse_filters(body, meeting, since, until, speaker, kinds) -> tuple[Filters, str]:
    """(Filters, human note) from the filter widgets; raises ValueError with a Japanese message."""
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


def kind_choices(kinds: Iterable[str]) -> list[tuple[str, str]]:
    """(label, value) pairs for the speaker-kind checkboxes."""
    return [(KIND_LABELS.get(k, k), k) for k in kinds]


def stats_markdown(stats: dict[str, Any], documents: list[dict[str, Any]], manifest: Any,
                   answer_mode: str, retrieval: str) -> str:
    """The 索引の状態 tab: what the store holds and how it was built."""
    bodies = "、".join(stats.get("bodies") or [])
    period = _join((stats.get("date_from"), stats.get("date_to")), " 〜 ") if stats.get("date_from") else ""
    model = f"{escape_md(manifest.model)}（{manifest.dimension}次元、{escape_md(manifest.backend)}、" \
            f"{escape_md(manifest.vector_index)}）"
    lines = [
        "| 項目 | 値 |", "|---|---|",
        f"| 文書数 | **{stats['documents']}** |",
        f"| 会議数 | {stats['meetings']} |",
        f"| 発言数 | **{stats['turns']}**（検索単位 {stats['chunks']}） |",
        f"| 団体 | {escape_md(bodies) or '—'} |",
        f"| 期間 | {escape_md(period) or '—'} |",
        f"| 保存先 | {escape_md(_join((stats.get('store') or getattr(manifest, 'store', None), stats.get('edition'), stats.get('location')), '、'))} |",
        f"| 埋め込みモデル | {model} |",
        f"| 回答モード | {escape_md(answer_mode)} |",
        f"| 検索方式 | {escape_md(retrieval)} |",
        f"| 索引の作成日時 | {escape_md(manifest.created)} |",
        "", "### 文書", "", "| 文書 | 団体 | 形式 | 発言数 | 日付 |", "|---|---|---|---|---|",
    ]
    for d in documents:
        doc_bodies = _join(str(d.get("bodies") or "").split(","), "、")
        lines.append(f"| {escape_md(d['doc'])} | {escape_md(doc_bodies) or '—'} | {escape_md(d.get('format') or '')} | "
                     f"{d.get('turns') or 0} | {escape_md(d.get('date') or '') or '—'} |")
    return "\n".join(lines)


def ingest_markdown(report: Any) -> str:
    """The result of an upload (rag.ingest.IngestReport) as the 会議録の追加 tab shows it."""
    from pathlib import PurePath

    skipped = [(PurePath(str(where)).name or str(where), why) for where, why in report.skipped]
    if not report.documents and not report.unchanged:
        lines = [f"**取り込み結果**: 取り込めず {len(skipped)} 件（索引は変わっていません）"]
    else:
        lines = [f"**取り込み結果**: 追加 {len(report.added)} 件、置き換え {len(report.replaced)} 件、"
                 f"変更なし {len(report.unchanged)} 件、取り込めず {len(skipped)} 件"
                 f"（発言 {report.turns}、{report.seconds:.1f} 秒）"]
    lines += [f"- ✅ {escape_md(d)}: 追加しました" for d in report.added]
    lines += [f"- ✅ {escape_md(d)}: 置き換えました" for d in report.replaced]
    lines += [f"- ＝ {escape_md(d)}: 取り込み済みと同じ内容です" for d in report.unchanged]
    lines += [f"- ⚠️ {escape_md(d)}: {escape_md(w)}" for d, w in report.warnings]
    lines += [f"- ❌ {escape_md(n)}: {escape_md(why)}" for n, why in skipped]
    return "\n".join(lines)
