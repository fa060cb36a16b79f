"""Writing a run folder (results.jsonl, report.json, report.md, PNG charts) and comparing two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

HEADLINE = [
    ("hit@1", "hit@1"), ("hit@5", "hit@5"), ("hit@10", "hit@10"), ("mrr", "MRR"),
    ("citation_precision", "citation precision"), ("citation_recall", "citation recall"),
    ("cites_answer", "answer cites the gold turn"), ("quote_covers", "quoted words cover the gold quote"),
    ("body_ok", "citation body right (where stated)"), ("date_ok", "citation date right (where stated)"),
    ("figure_in_answer", "figure asked for in the answer"), ("abstention_recall", "unanswerable refused"),
    ("wrong_abstention_rate", "answerable wrongly refused"),
    ("speaker_ok", "speaker correct"), ("meeting_ok", "meeting correct"),
    ("key_fact_rate", "key-fact rate"), ("key_facts_all", "all key facts"),
    ("correct_answers", "correct answers"), ("correct_abstentions", "correct abstentions"),
    ("wrong_abstentions", "wrong abstentions"), ("wrong_answers", "wrong answers on unanswerable"),
    ("latency_p50", "latency p50 (s)"), ("latency_p95", "latency p95 (s)"),
]
TYPE_COLS = [("answerable", "n"), ("hit@1", "hit@1"), ("hit@5", "hit@5"), ("mrr", "MRR"),
             ("citation_recall", "cit. recall"), ("key_fact_rate", "key facts"),
             ("correct_answers", "correct"), ("wrong_abstentions", "wrong abst."),
             ("correct_abstentions", "correct abst."), ("wrong_answers", "wrong ans."),
             ("latency_p50", "p50 s"), ("latency_p95", "p95 s")]


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return out


def _stamp_lines(stamp: dict[str, Any]) -> list[str]:
    idx = stamp.get("index") or {}
    man = idx.get("manifest") or {}
    code = stamp.get("code") or {}
    qs = stamp.get("question_set") or {}
    extra = ", ".join(f"{key} {stamp[key]}" for key in ("retrieval", "abstain_below", "top_k")
                      if stamp.get(key) is not None)
    lines = [
        f"* date: {stamp.get('date')}",
        f"* configuration: `{json.dumps(stamp.get('config') or {}, ensure_ascii=False)}`"
        + (f" ({extra})" if extra else ""),
        f"* embedding model: {stamp.get('embedding_model')} (configured as `{stamp.get('model')}`, "
        f"runtime {stamp.get('embedding_backend')})",
        f"* code: git {code.get('git')}, rag {code.get('rag_version')}",
        f"* question set: {qs.get('path')} ({qs.get('questions')} questions, sha256 {str(qs.get('sha256'))[:12]}…)",
    ]
    if idx:
        lines.append(f"* index: {idx.get('dir')} ({idx.get('generation')}; {idx.get('documents')} documents, "
                     f"{idx.get('turns')} turns, {idx.get('chunks')} chunks; manifest: model {man.get('model')} ({man.get('backend')}), "
                     f"tokenizer {man.get('tokenizer')}, context {man.get('context')}, parser {man.get('parser_version')}, "
                     f"built {man.get('created')})")
    if stamp.get("note"):
        lines.append(f"* note: {stamp['note']}")
    if stamp.get("baseline"):
        lines.append(f"* baseline: `{json.dumps(stamp['baseline'], ensure_ascii=False)}`")
    return lines


# ------------------------------------------------------------------ one run


def render_markdown(report: dict[str, Any], results: Sequence[dict[str, Any]]) -> str:
    o = report["overall"]
    k = report["k"]
    lines = [f"# Evaluation run: {report['stamp'].get('label')}", ""] + _stamp_lines(report["stamp"]) + [""]
    lines += ["## Headline", ""]
    lines += _table(["metric", "value"], [(label, o.get(key)) for key, label in HEADLINE if key in o])
    lines += ["", f"{o['questions']} questions ({o['answerable']} answerable, {o['unanswerable']} unanswerable). "
              f"Retrieval figures use the `{o.get('retrieval_mode')}` mode, depth k={k}: a hit is a retrieved turn "
              "whose text holds the gold (answering) quote after NFKC and whitespace removal."]
    if "key_fact_rate" in o:
        lines += ["Citation precision is over answered answerable questions; recall, speaker and meeting "
                  "correctness over answerable ones (abstaining counts as recall 0; speaker/meeting only where a "
                  "citation holds the gold quote). A *correct answer* is an answer (not an abstention) to an "
                  "answerable question that cites the turn of the gold quote or holds all key facts."]
    lines += ["", "## Retrieval modes (same index, same questions)", ""]
    rows = [(m, s.get("hit@1"), s.get("hit@3"), s.get("hit@5"), s.get("hit@10"), s.get("mrr"))
            for m, s in o["retrieval"].items()]
    lines += _table(["mode", "hit@1", "hit@3", "hit@5", "hit@10", "MRR"], rows)
    if report.get("by_split"):
        lines += ["", "## By split (`test` is frozen: measured, never tuned on)", ""]
        keys = [(key, label) for key, label in HEADLINE if any(key in s for s in report["by_split"].values())]
        lines += _table(["metric"] + list(report["by_split"]),
                        [[label] + [s.get(key) for s in report["by_split"].values()] for key, label in keys])
    lines += ["", "![hit@k](hit_at_k.png)", "", "## By question type", ""]
    cols = [c for c in TYPE_COLS if any(c[0] in s for s in report["by_type"].values())]
    rows = [[t] + [s.get(key) for key, _ in cols] for t, s in report["by_type"].items()]
    lines += _table(["type"] + [label for _, label in cols], rows)
    lines += ["", "![by type](by_type.png)", ""]
    if "sweep" in report:
        sug = report.get("sweep_suggestion") or {}
        at = report.get("at_threshold") or {}
        lines += ["## Abstention threshold", "",
                  f"Configured `abstain_below` = {fmt(report.get('abstain_below'))}: "
                  f"{at.get('correct')} correct answers, {at.get('incorrect')} unsupported answers, "
                  f"{at.get('wrong_abstention')} wrong abstentions, {at.get('correct_abstention')} correct "
                  f"abstentions, {at.get('wrong_answer')} answers to unanswerable questions "
                  f"(score {at.get('score')} = correct answers + correct abstentions).", "",
                  f"**Suggested threshold: {fmt(sug.get('threshold'))}** (score {sug.get('score')}; the best score "
                  f"holds for t in [{fmt((sug.get('plateau') or [None])[0])}, {fmt((sug.get('plateau') or [None, None])[1])}]; "
                  "the middle of the widest best range is suggested). Computed from each answer's `confidence`: "
                  "abstaining below t answers exactly the questions with confidence ≥ t.", ""]
        for lang, d in (report.get("sweep_by_language") or {}).items():
            ls, la = d.get("suggestion") or {}, d.get("at_threshold") or {}
            lines.append(f"* {'Japanese' if lang == 'ja' else 'English'} questions ({d['questions']}): suggested "
                         f"{fmt(ls.get('threshold'))} (score {ls.get('score')}, range {ls.get('plateau')}); "
                         f"configured: score {la.get('score')}, {la.get('wrong_abstention')} wrong abstentions, "
                         f"{la.get('correct_abstention')} correct abstentions")
        lines.append("")
        sweep = report["sweep"]
        shown = [r for i, r in enumerate(sweep) if i % 2 == 0 or r["threshold"] in (sug.get("threshold"),)]
        lines += _table(["t", "correct", "unsupported", "wrong abst.", "correct abst.", "wrong ans.", "score",
                         "precision"],
                        [(r["threshold"], r["correct"], r["incorrect"], r["wrong_abstention"],
                          r["correct_abstention"], r["wrong_answer"], r["score"], r["precision"]) for r in shown])
        lines += ["", "![threshold sweep](sweep.png)", ""]
    misses = [r for r in results if r["answerable"] and r.get("rank") is None]
    if misses:
        lines += [f"## Retrieval misses at k={k} ({len(misses)})", ""]
        lines += _table(["id", "type", "question", "other modes"],
                        [(r["id"], r["type"], r["question"][:70],
                          ", ".join(f"{m}:{v}" for m, v in r["ranks"].items())) for r in misses])
        lines.append("")
    wrong = [r for r in results if r.get("outcome") in ("wrong_answer", "wrong_abstention", "incorrect")]
    if wrong:
        lines += [f"## Answer failures ({len(wrong)})", ""]
        lines += _table(["id", "type", "outcome", "confidence", "rank", "question"],
                        [(r["id"], r["type"], r["outcome"], r.get("confidence"), r.get("rank"), r["question"][:60])
                         for r in wrong])
        lines.append("")
    return "\n".join(lines)


def write_run(out: Path, results: Sequence[dict[str, Any]], report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    report["charts"] = plot_run(out, report)
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report, results), encoding="utf-8")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_hit_curves(path: Path, curves: dict[str, Sequence[float]], title: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, curve) in enumerate(curves.items()):
        style = ("-", "--", ":", "-.")[(i // 10) % 4]  # the colour cycle has 10 colours
        ax.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3, ls=style, label=name)
    ax.set_xlabel("k")
    ax.set_ylabel("hit@k")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_run(out: Path, report: dict[str, Any]) -> list[str]:
    plt = _plt()
    charts = []
    o = report["overall"]
    curves = {m: s["curve"] for m, s in o["retrieval"].items() if s.get("curve")}
    if curves:
        plot_hit_curves(out / "hit_at_k.png", curves, f"hit@k by retrieval mode ({report['stamp'].get('label')})")
        charts.append("hit_at_k.png")
    types = [t for t, s in report["by_type"].items() if s.get("answerable")]
    metrics = [(key, label) for key, label in (("hit@5", "hit@5"), ("mrr", "MRR"), ("citation_recall", "citation recall"),
                                               ("key_fact_rate", "key-fact rate"))
               if any(report["by_type"][t].get(key) is not None for t in types)]
    if types and metrics:
        fig, ax = plt.subplots(figsize=(max(7, 1.1 * len(types)), 4.5))
        width = 0.8 / len(metrics)
        for j, (key, label) in enumerate(metrics):
            vals = [report["by_type"][t].get(key) or 0.0 for t in types]
            ax.bar([i + j * width for i in range(len(types))], vals, width, label=label)
        ax.set_xticks([i + width * (len(metrics) - 1) / 2 for i in range(len(types))])
        ax.set_xticklabels(types, rotation=20)
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=len(metrics))
        ax.set_title("by question type")
        fig.tight_layout()
        fig.savefig(out / "by_type.png", dpi=110)
        plt.close(fig)
        charts.append("by_type.png")
    if report.get("sweep"):
        sw = report["sweep"]
        ts = [r["threshold"] for r in sw]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key, label in (("score", "correct answers + correct abstentions"), ("correct", "correct answers"),
                           ("correct_abstention", "correct abstentions"), ("wrong_abstention", "wrong abstentions"),
                           ("wrong_answer", "answers to unanswerable")):
            ax.plot(ts, [r[key] for r in sw], label=label)
        if report.get("abstain_below") is not None:
            ax.axvline(report["abstain_below"], color="grey", ls="--", lw=1, label="configured")
        sug = report.get("sweep_suggestion")
        if sug:
            ax.axvline(sug["threshold"], color="red", ls=":", lw=1, label="suggested")
        ax.set_xlabel("abstain below confidence t")
        ax.set_ylabel("questions")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        fig.savefig(out / "sweep.png", dpi=110)
        plt.close(fig)
        charts.append("sweep.png")
    return charts


# ------------------------------------------------------------------ retrieval matrix


def write_matrix(out: Path, rows: list[dict[str, Any]], stamp: dict[str, Any], k: int,
                 results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """rows: [{"name", "pipeline", "retrieval", "context", "tokenizer", "summary", "by_type", "index"}]."""
    out.mkdir(parents=True, exist_ok=True)
    report = {"kind": "retrieval-matrix", "stamp": stamp, "k": k, "rows": rows}
    with open(out / "results.jsonl", "w", encoding="utf-8") as f:
        for name, rs in results.items():
            for r in rs:
                f.write(json.dumps({"config": name, **r}, ensure_ascii=False) + "\n")
    plot_hit_curves(out / "hit_at_k.png", {r["name"]: r["summary"]["curve"] for r in rows if r["summary"].get("curve")},
                    "hit@k by configuration")
    _plot_matrix_types(out / "by_type.png", rows)
    report["charts"] = ["hit_at_k.png", "by_type.png"]
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    lines = [f"# Retrieval comparison: {stamp.get('label')}", ""] + _stamp_lines(stamp) + [""]
    lines += [f"Answerable questions only; a hit is a retrieved unit (turn, or chunk for the llama-index baseline) "
              f"holding the gold answering quote. Depth k={k}.", ""]
    lines += _table(["configuration", "retrieval", "context", "tokenizer", "hit@1", "hit@3", "hit@5", "hit@10", "MRR"],
                    [(r["name"], r["retrieval"], r["context"], r["tokenizer"], r["summary"].get("hit@1"),
                      r["summary"].get("hit@3"), r["summary"].get("hit@5"), r["summary"].get("hit@10"),
                      r["summary"].get("mrr")) for r in rows])
    types = list(rows[0]["by_type"]) if rows else []
    lines += ["", "![hit@k](hit_at_k.png)", "", "## hit@5 by question type", ""]
    lines += _table(["configuration"] + types, [[r["name"]] + [r["by_type"][t].get("hit@5") for t in types]
                                                for r in rows])
    lines += ["", "## MRR by question type", ""]
    lines += _table(["configuration"] + types, [[r["name"]] + [r["by_type"][t].get("mrr") for t in types]
                                                for r in rows])
    lines += ["", "![by type](by_type.png)", ""]
    indexes = {r["name"]: r.get("index") for r in rows}
    lines += ["## Indexes", ""] + [f"* {n}: {i}" for n, i in indexes.items()] + [""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return report


def _plot_matrix_types(path: Path, rows: list[dict[str, Any]]) -> None:
    plt = _plt()
    if not rows:
        return
    types = list(rows[0]["by_type"])
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(types)), 5))
    width = 0.85 / len(rows)
    for j, r in enumerate(rows):
        ax.bar([i + j * width for i in range(len(types))], [r["by_type"][t].get("hit@5") or 0.0 for t in types],
               width, label=r["name"])
    ax.set_xticks([i + width * (len(rows) - 1) / 2 for i in range(len(types))])
    ax.set_xticklabels(types, rotation=20)
    ax.set_ylabel("hit@5")
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=6, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ compare


def _load(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from rag.errors import RagError

    folder = Path(folder)
    rp = folder / "report.json" if folder.is_dir() else folder
    if not rp.is_file():
        raise RagError(f"no report.json in {folder}")
    report = json.loads(rp.read_text(encoding="utf-8"))
    res = rp.parent / "results.jsonl"
    results = [json.loads(l) for l in res.read_text(encoding="utf-8").splitlines() if l.strip()] if res.is_file() else []
    return report, results


def _delta(a: Any, b: Any) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        d = b - a
        if isinstance(a, int) and isinstance(b, int):
            return f"{d:+d}"
        return f"{d:+.3f}"
    return ""


def compare(a_dir: Path, b_dir: Path, flip_k: int = 5) -> str:
    ra, resa = _load(a_dir)
    rb, resb = _load(b_dir)
    la, lb = ra["stamp"].get("label", str(a_dir)), rb["stamp"].get("label", str(b_dir))
    lines = [f"A: {a_dir}  ({la}; {ra['stamp'].get('date')}, git {(ra['stamp'].get('code') or {}).get('git')})",
             f"B: {b_dir}  ({lb}; {rb['stamp'].get('date')}, git {(rb['stamp'].get('code') or {}).get('git')})", ""]
    if ra.get("kind") == "retrieval-matrix" or rb.get("kind") == "retrieval-matrix":
        rows_a = {r["name"]: r["summary"] for r in ra.get("rows", [])} if ra.get("kind") else {"A": ra["overall"]}
        rows_b = {r["name"]: r["summary"] for r in rb.get("rows", [])} if rb.get("kind") else {"B": rb["overall"]}
        names = [n for n in rows_a if n in rows_b] or sorted(set(rows_a) | set(rows_b))
        lines += _table(["configuration", "hit@5 A", "hit@5 B", "Δ", "MRR A", "MRR B", "Δ"],
                        [(n, (rows_a.get(n) or {}).get("hit@5"), (rows_b.get(n) or {}).get("hit@5"),
                          _delta((rows_a.get(n) or {}).get("hit@5"), (rows_b.get(n) or {}).get("hit@5")),
                          (rows_a.get(n) or {}).get("mrr"), (rows_b.get(n) or {}).get("mrr"),
                          _delta((rows_a.get(n) or {}).get("mrr"), (rows_b.get(n) or {}).get("mrr")))
                         for n in names])
        return "\n".join(lines)
    oa, ob = ra["overall"], rb["overall"]
    lines += ["## Headline", ""]
    lines += _table(["metric", "A", "B", "Δ"], [(label, oa.get(key), ob.get(key), _delta(oa.get(key), ob.get(key)))
                                                for key, label in HEADLINE if key in oa or key in ob])
    sa, sb = ra.get("sweep_suggestion") or {}, rb.get("sweep_suggestion") or {}
    if sa or sb:
        lines += ["", f"suggested threshold: A {fmt(sa.get('threshold'))} (score {sa.get('score')}), "
                      f"B {fmt(sb.get('threshold'))} (score {sb.get('score')})"]
    lines += ["", "## By type (A → B)", ""]
    types = list(dict.fromkeys(list(ra["by_type"]) + list(rb["by_type"])))
    keys = [("hit@5", "hit@5"), ("mrr", "MRR"), ("key_fact_rate", "key facts"), ("correct_answers", "correct"),
            ("correct_abstentions", "correct abst.")]
    rows = []
    moved = []
    for t in types:
        ta, tb = ra["by_type"].get(t, {}), rb["by_type"].get(t, {})
        row: list[Any] = [t]
        for key, _ in keys:
            va, vb = ta.get(key), tb.get(key)
            row.append(f"{fmt(va)} → {fmt(vb)} ({_delta(va, vb) or '='})" if (va is not None or vb is not None) else "–")
            if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and abs(vb - va) >= 0.05 \
                    and key not in ("correct_answers", "correct_abstentions"):
                moved.append(f"{t} {key} {fmt(va)} → {fmt(vb)}")
        rows.append(row)
    lines += _table(["type"] + [label for _, label in keys], rows)
    lines += ["", "What moved (|Δ| ≥ 0.05): " + ("; ".join(moved) if moved else "nothing")]
    ia = {r["id"]: r for r in resa}
    ib = {r["id"]: r for r in resb}
    common = [i for i in ia if i in ib]

    def hit(r: dict[str, Any]) -> bool:
        return r.get("rank") is not None and r["rank"] <= flip_k

    lost = [i for i in common if ia[i]["answerable"] and hit(ia[i]) and not hit(ib[i])]
    won = [i for i in common if ia[i]["answerable"] and not hit(ia[i]) and hit(ib[i])]
    lines += ["", f"## Retrieval flips at hit@{flip_k}", "",
              f"hit → miss ({len(lost)}): " + (", ".join(f"{i} [{ia[i]['type']}] {ia[i]['rank']}→{ib[i]['rank']}"
                                                         for i in lost) or "none"),
              f"miss → hit ({len(won)}): " + (", ".join(f"{i} [{ia[i]['type']}] {ia[i]['rank']}→{ib[i]['rank']}"
                                                         for i in won) or "none")]
    good = ("correct", "correct_abstention")
    if any("outcome" in r for r in resa) and any("outcome" in r for r in resb):
        worse = [i for i in common if ia[i].get("outcome") in good and ib[i].get("outcome") not in good]
        better = [i for i in common if ia[i].get("outcome") not in good and ib[i].get("outcome") in good]
        lines += ["", "## Answer flips", "",
                  f"right → wrong ({len(worse)}): " + (", ".join(f"{i} [{ia[i]['type']}] {ia[i].get('outcome')}→"
                                                                 f"{ib[i].get('outcome')}" for i in worse) or "none"),
                  f"wrong → right ({len(better)}): " + (", ".join(f"{i} [{ia[i]['type']}] {ia[i].get('outcome')}→"
                                                                  f"{ib[i].get('outcome')}" for i in better) or "none")]
    only = sorted(set(ia) ^ set(ib))
    if only:
        lines += ["", f"questions in only one run: {', '.join(only)}"]
    return "\n".join(lines)
