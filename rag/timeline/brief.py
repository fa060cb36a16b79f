"""The 答弁経過 brief: a timeline as Markdown to paste into a draft, with standard citations and the chart.

Plain text in Markdown (like the 質問 tab's export): quotes are verbatim, each followed by its standard form
「…」（令和6年9月18日 下関市議会 … 総合政策部長） and its source link; nothing is escaped or rewritten. The chart is
linked as an image: a file name written next to the brief (`timeline --md --chart PNG`) or a data URI.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from rag.ui.render import KIND_LABELS, wareki

CHANGE_KINDS = {"figure": "数字の変化", "stance": "姿勢の変化", "reference": "過去の答弁への言及"}


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _meeting_title(e: dict[str, Any]) -> str:
    return " ".join(x for x in (wareki(e.get("date")), e.get("body"), e.get("meeting")) if x)


def _source(x: dict[str, Any]) -> str:
    src = x.get("url") or x.get("source") or ""
    where = f"（{x['doc']}、{x['start']}–{x['end']}文字目）" if x.get("start") is not None and x.get("doc") else ""
    return f"{src}{where}"


def _quoted(text: str) -> str:
    return "\n".join("> " + line for line in str(text).splitlines()) or ">"


def _side(label: str, s: dict[str, Any] | None) -> list[str]:
    if not s:
        return []
    return [f"   - {label}: {s['standard_form']}", f"     出典: {_source(s)}"]


def brief_markdown(d: dict[str, Any], chart: str | None = None) -> str:
    """`d`: Timeline.to_dict(); `chart`: an image reference (file name or data URI) or None."""
    c = d["counts"]
    lines = [f"# 答弁経過: {d['topic']}", ""]
    lines.append(f"- 作成: {time.strftime('%Y-%m-%d %H:%M')}（会議録QA）")
    if d.get("filters"):
        names = {"body": "団体", "meeting": "会議", "since": "開始日", "until": "終了日", "speaker": "発言者",
                 "kind": "発言者の区分", "agenda": "議題"}
        lines.append("- 絞り込み: " + "、".join(f"{names.get(k, k)}={v}" for k, v in d["filters"].items()))
    lines.append(f"- 該当: {c['meetings']}会議の発言 {c['entries']}件"
                 + (f"（同じ内容の発言 {c['folded']}件をまとめています）" if c["folded"] else "")
                 + f"、変化・言及 {len(d['changes'])}件")
    for n in d.get("notes") or []:
        lines.append(f"- {n}")
    lines.append("")
    if chart:
        lines += [f"![答弁の経過（会議の日付順、発言者ごと。赤は変化・言及）]({chart})", ""]
    if d["changes"]:
        lines += ["## 変化・過去の答弁への言及", ""]
        for i, ch in enumerate(d["changes"], 1):
            lines.append(f"{i}. **{CHANGE_KINDS.get(ch['kind'], ch['kind'])}（{ch['label']}）** {ch['summary']}")
            if ch["kind"] == "reference":
                lines += _side("言及", ch["after"])
                lines += _side("過去の答弁", ch.get("before"))
                lines += _side("この質問への答弁", ch.get("reply"))
            else:
                lines += _side("前", ch.get("before"))
                lines += _side("後", ch["after"])
            if ch.get("note"):
                lines.append(f"   - 注: {ch['note']}")
        lines.append("")
    lines += ["## 経過（会議ごと、日付順）", ""]
    by_id = {e["id"]: e for e in d["entries"]}
    for m in d["meetings"]:
        head = " ".join(x for x in (wareki(m.get("date")), m.get("body"), m.get("meeting")) if x) or m["doc"]
        lines += [f"### {head}", ""]
        for eid in m["entries"]:
            e = by_id[eid]
            kind = KIND_LABELS.get(e["speaker_kind"], "")
            lines.append(f"**{e['speaker']}**（{kind}、{e['turn']}番目の発言）" + (f" 議題: {e['agenda']}" if e.get("agenda")
                                                                            else ""))
            lines.append("")
            for q in e["quotes"]:
                lines.append(_quoted(q["standard_form"]))
                lines.append("")
            lines.append(f"出典: {_source({**e, **(e['quotes'][0] if e['quotes'] else {})})}  ")
            if e.get("question_turn"):
                q = e["question_turn"]
                lines.append(f"答えている質問: {q['standard_form']}  ")
            if e.get("neighbours"):
                lines.append("前後の発言: " + "、".join(f"{n['turn']}番目 {n['speaker']}" for n in e["neighbours"]) + "  ")
            if e.get("folded"):
                lines.append("同じ内容の発言: " + "、".join(
                    " ".join(x for x in (wareki(f.get("date")), f.get("body"), f.get("meeting"), f.get("speaker")) if x)
                    for f in e["folded"]) + "  ")
            if e.get("changes"):
                lines.append("変化・言及: " + "、".join(e["changes"]) + "  ")
            lines.append("")
    if d.get("similar_questions"):
        lines += ["## 過去の類似質問と答弁（新しい順）", ""]
        for i, p in enumerate(d["similar_questions"], 1):
            q = p["question"]
            lines.append(f"{i}. {_meeting_title(q)}")
            lines.append(f"   - 問: {q['standard_form']}")
            for a in p["answers"]:
                lines.append(f"   - 答: {a['standard_form']}")
            lines.append(f"   - 出典: {_source(q)}")
        lines.append("")
    lines.append("---")
    lines.append("引用はすべて会議録の原文どおりです。変化・言及は規則による検出で、判断の前に原文で確かめてください。")
    return "\n".join(lines).rstrip() + "\n"
