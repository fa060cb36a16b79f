"""`python -m rag eval eval/timeline/<set>.jsonl`: timeline sets (topic → every gold turn across meetings).

A timeline set is JSONL, one topic per line (eval/timeline/README.md):

    {"id", "topic", "corpus": "corpus/sample", "filters"?: {body, since, until, kind, …},
     "gold": [{"doc", "meeting", "date", "turn", "speaker", "quote"}],     # every turn on the topic
     "acceptable": [{…same…}],                                           # related turns: neither counted nor held against
     "note"?}

Each gold/acceptable turn is found by its document, date and quote (an exact substring of the turn; checked
against the parser by tests/test_timeline_sets.py). Reported, for the configured relevance cut:

- recall: gold turns listed (as an entry or folded into one) / gold turns;
- precision: entries that are gold or acceptable (the entry's turn or one folded into it) / entries;
- date order: entries never go back in date, undated meetings last (must always hold);
- change markers: every change the timelines emit is looked up in eval/timeline/changes.jsonl (labelled by reading
  both quotes: correct or not); precision = correct / labelled; unlabelled markers are listed (and fail the CI test);
- latency of whole timelines (retrieval, cut, quotes, questions, folding, changes, similar questions);
- a sweep of the cut (micro recall and precision at each value) and the cut it suggests: the highest recall-weighted
  F (β = 2) whose precision stays at or above 0.80.

Without --index, each set's corpus is indexed once into eval/runs/timeline-index/<corpus name> (incremental: later
runs only re-read changed files).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

from rag.config import PROJECT_ROOT, Settings
from rag.errors import RagError

CHANGES = PROJECT_ROOT / "eval" / "timeline" / "changes.jsonl"
SWEEP = [round(0.80 + 0.005 * i, 3) for i in range(49)]  # 0.800 … 1.040
PRECISION_FLOOR = 0.80
BETA = 2.0


def _log(s: str) -> None:
    print(s, file=sys.stderr, flush=True)


def is_timeline_set(path: Path) -> bool:
    try:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                return "topic" in json.loads(line)
    except (OSError, ValueError):
        return False
    return False


def load_set(path: Path) -> list[dict[str, Any]]:
    from rag.evaluation.runner import read_jsonl

    out = []
    for n, item in read_jsonl(path):
        if not isinstance(item, dict) or not item.get("id") or not item.get("topic") or "gold" not in item:
            raise RagError(f"{path} line {n}: a timeline topic needs 'id', 'topic' and 'gold'")
        out.append(item)
    if not out:
        raise RagError(f"{path} holds no topics")
    return out


def load_labels(path: Path = CHANGES) -> list[dict[str, Any]]:
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------ matching


def _turns_of(entry) -> list[tuple[Any, Any]]:
    return [(entry.turn, entry.meeting)] + [(t, m) for _, t, m in entry.folded]


def _matches(gold: dict[str, Any], turn, meeting) -> bool:
    return meeting.doc == gold["doc"] and (meeting.date or None) == (gold.get("date") or None) \
        and gold["quote"] in turn.text


def score_topic(item: dict[str, Any], entries: list) -> dict[str, Any]:
    gold, ok = item["gold"], item["gold"] + item.get("acceptable", [])
    found = [any(_matches(g, t, m) for e in entries for t, m in _turns_of(e)) for g in gold]
    relevant = [any(_matches(g, t, m) for g in ok for t, m in _turns_of(e)) for e in entries]
    keys = [(e.meeting.date is None, e.meeting.date or "") for e in entries]
    return {
        "gold": len(gold), "found": sum(found), "entries": len(entries), "relevant": sum(relevant),
        "recall": sum(found) / len(gold) if gold else None,
        "precision": sum(relevant) / len(entries) if entries else None,
        "date_order_ok": all(a <= b for a, b in zip(keys, keys[1:])),
        "missed": [g for g, f in zip(gold, found) if not f],
        "extra": [{"doc": e.meeting.doc, "date": e.meeting.date, "turn": e.turn.order, "speaker": e.turn.speaker,
                   "relevance": e.relevance, "quote": e.quote_text(0)[:80]}
                  for e, r in zip(entries, relevant) if not r],
    }


def _side_matches(label: dict[str, Any] | None, side: dict[str, Any] | None) -> bool:
    if label is None or side is None:
        return label is None and side is None
    return label["doc"] == side["doc"] and (label.get("date") or None) == (side.get("date") or None) \
        and label["quote"] in side["quote"]


def label_of(change: dict[str, Any], labels: list[dict[str, Any]]) -> dict[str, Any] | None:
    for lab in labels:
        if lab["kind"] == change["kind"] and _side_matches(lab.get("before"), change.get("before")) \
                and _side_matches(lab["after"], change["after"]):
            return lab
    return None


# ------------------------------------------------------------------ the run


def _pipeline_for(item: dict[str, Any], settings: Settings, explicit_index: bool, embedder, cache: dict, log):
    from rag.ingest import ingest
    from rag.pipeline import Pipeline

    if explicit_index:
        key = str(settings.index_dir)
        s = settings
    else:
        corpus = PROJECT_ROOT / item.get("corpus", "corpus/sample")
        key = str(corpus)
        s = settings.with_overrides(index_dir=PROJECT_ROOT / "eval" / "runs" / "timeline-index" / corpus.name)
        if key not in cache:
            log(f"indexing {corpus} into {s.index_dir} (unchanged files are skipped) ...")
            report = ingest([corpus], s, embedder=embedder, progress=False)
            log("  " + report.summary().splitlines()[0])
    if key not in cache:
        cache[key] = Pipeline(s, embedder=embedder)
    return cache[key]


def evaluate_set(items: list[dict[str, Any]], settings: Settings, explicit_index: bool = False, embedder=None,
                 cut: float | None = None, labels: list[dict[str, Any]] | None = None,
                 log: Callable[[str], None] = _log) -> dict[str, Any]:
    from rag.records import Filters
    from rag.timeline import RELEVANCE_CUT, build_timeline
    from rag.timeline.core import entries_at

    cut = RELEVANCE_CUT if cut is None else cut
    labels = load_labels() if labels is None else labels
    if embedder is None:
        from rag.embedding.embedder import load_embedder
        from rag.store import embedding_backend

        embedder = load_embedder(settings.model, settings.model_cache, embedding_backend(settings) if explicit_index
                                 else settings.embed_backend, settings.embed_threads)
    cache: dict[str, Any] = {}
    results, sweep_rows = [], {c: [0, 0, 0, 0] for c in SWEEP}  # gold, found, entries, relevant
    changes_out = []
    for item in items:
        pipe = _pipeline_for(item, settings, explicit_index, embedder, cache, log)
        filters = Filters(**item["filters"]) if item.get("filters") else None
        pipe.embedder.embed_query(item["topic"])  # (warm: the model's first call is not the timeline's latency)
        t0 = time.perf_counter()
        tl = build_timeline(pipe, item["topic"], filters, cut=cut)
        seconds = time.perf_counter() - t0
        r = score_topic(item, tl.entries)
        r.update({"id": item["id"], "topic": item["topic"], "filters": item.get("filters") or {},
                  "seconds": round(seconds, 3), "changes": len(tl.changes)})
        d = tl.to_dict()
        for c in d["changes"]:
            lab = label_of(c, labels)
            changes_out.append({"topic_id": item["id"], "change": c, "label": lab})
        results.append(r)
        low = build_timeline(pipe, item["topic"], filters, cut=SWEEP[0], changes=False, similar=False)
        for c in SWEEP:
            s = score_topic(item, entries_at(low.entries, c))
            row = sweep_rows[c]
            row[0] += s["gold"]
            row[1] += s["found"]
            row[2] += s["entries"]
            row[3] += s["relevant"]
        log(f"  {item['id']} {item['topic'][:24]}: recall {r['found']}/{r['gold']}, precision "
            f"{r['relevant']}/{r['entries']}, {len(tl.changes)} change(s), {seconds * 1000:.0f} ms")
    return summarise(results, sweep_rows, changes_out, cut)


def summarise(results, sweep_rows, changes_out, cut) -> dict[str, Any]:
    gold = sum(r["gold"] for r in results)
    entries = sum(r["entries"] for r in results)
    labelled = [c for c in changes_out if c["label"] is not None]
    correct = [c for c in labelled if c["label"]["correct"]]
    sweep = []
    for c, (g, f, n, rel) in sweep_rows.items():
        rec, prec = (f / g if g else 0.0), (rel / n if n else 1.0)
        fb = (1 + BETA**2) * prec * rec / (BETA**2 * prec + rec) if prec + rec else 0.0
        sweep.append({"cut": c, "recall": round(rec, 4), "precision": round(prec, 4), "f2": round(fb, 4)})
    ok = [s for s in sweep if s["precision"] >= PRECISION_FLOOR]
    suggestion = max(ok, key=lambda s: (s["f2"], s["cut"])) if ok else None
    secs = [r["seconds"] for r in results]
    overall = {
        "topics": len(results), "gold_turns": gold, "entries": entries,
        "recall": round(sum(r["found"] for r in results) / gold, 4) if gold else None,
        "precision": round(sum(r["relevant"] for r in results) / entries, 4) if entries else None,
        "recall_macro": round(statistics.mean(r["recall"] for r in results if r["recall"] is not None), 4),
        "precision_macro": round(statistics.mean(r["precision"] for r in results if r["precision"] is not None), 4)
        if any(r["precision"] is not None for r in results) else None,
        "date_order_ok": all(r["date_order_ok"] for r in results),
        "changes": len(changes_out), "changes_labelled": len(labelled), "changes_correct": len(correct),
        "change_precision": round(len(correct) / len(labelled), 4) if labelled else None,
        "changes_unlabelled": len(changes_out) - len(labelled),
        "latency_p50": round(statistics.median(secs), 3) if secs else None,
        "latency_max": round(max(secs), 3) if secs else None,
    }
    return {"cut": cut, "overall": overall, "topics": results, "changes": changes_out, "sweep": sweep,
            "sweep_suggestion": suggestion}


def render_markdown(report: dict[str, Any], set_path: Path) -> str:
    o = report["overall"]
    lines = [f"# Timeline evaluation: {set_path}", "",
             f"Relevance cut {report['cut']}; {o['topics']} topics, {o['gold_turns']} gold turns.", "",
             "| metric | value |", "|---|---|"]
    for k in ("recall", "precision", "recall_macro", "precision_macro", "date_order_ok", "changes",
              "changes_labelled", "changes_correct", "change_precision", "changes_unlabelled", "latency_p50",
              "latency_max"):
        lines.append(f"| {k} | {o[k]} |")
    lines += ["", "## Topics", "", "| id | topic | filters | recall | precision | entries | changes | s |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report["topics"]:
        f = ", ".join(f"{k}={v}" for k, v in r["filters"].items())
        lines.append(f"| {r['id']} | {r['topic']} | {f} | {r['found']}/{r['gold']} | {r['relevant']}/{r['entries']}"
                     f" | {r['entries']} | {r['changes']} | {r['seconds']} |")
    lines += ["", "## Missed gold turns", ""]
    for r in report["topics"]:
        for g in r["missed"]:
            lines.append(f"- {r['id']}: {g['doc']} {g.get('date')} #{g.get('turn')} {g['speaker']}「{g['quote']}」")
    lines += ["", "## Entries neither gold nor acceptable", ""]
    for r in report["topics"]:
        for x in r["extra"]:
            lines.append(f"- {r['id']}: {x['doc']} {x['date']} #{x['turn']} {x['speaker']} ({x['relevance']})"
                         f"「{x['quote']}」")
    lines += ["", "## Change markers", ""]
    for c in report["changes"]:
        lab = c["label"]
        verdict = "unlabelled" if lab is None else ("correct" if lab["correct"] else "wrong")
        ch = c["change"]
        before = ch["before"]["quote"][:60] if ch.get("before") else "—"
        lines.append(f"- {c['topic_id']} {ch['kind']} ({ch['label']}) **{verdict}**: 「{before}」"
                     f" → 「{ch['after']['quote'][:60]}」")
    pr = report.get("pairs")
    if pr:
        lines += ["", "## Change rules on labelled statement pairs (eval/timeline/change_pairs.jsonl)", "",
                  f"Precision {pr['precision']} ({pr['correct']}/{pr['flagged']} markers), recall {pr['recall']} "
                  f"({pr['expected']} expected).", "", "| id | source | expected | found | why |", "|---|---|---|---|---|"]
        for r in pr["rows"]:
            lines.append(f"| {r['id']} | {r['source']} | {', '.join(r['expected'])} | {', '.join(r['found'])} | {r['why']} |")
    lines += ["", "## Cut sweep (micro)", "", "| cut | recall | precision | F2 |", "|---|---|---|---|"]
    for s in report["sweep"]:
        lines.append(f"| {s['cut']} | {s['recall']} | {s['precision']} | {s['f2']} |")
    sug = report.get("sweep_suggestion")
    if sug:
        lines += ["", f"Suggested cut (best F2 with precision ≥ {PRECISION_FLOOR}): {sug['cut']}"]
    return "\n".join(lines) + "\n"


def run_cli(args: Any, settings: Settings) -> int:
    """The `eval` command for a timeline set: figures on stdout, reports in the run folder."""
    set_path = Path(args.set)
    items = load_set(set_path)
    explicit = getattr(args, "index_dir", None) is not None
    out = Path(args.out) if getattr(args, "out", None) else \
        PROJECT_ROOT / "eval" / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-timeline-{set_path.stem}"
    _log(f"evaluating {len(items)} timeline topics of {set_path} ...")
    from rag.embedding.embedder import load_embedder
    from rag.store import embedding_backend
    from rag.timeline.core import BROAD_CUT

    embedder = load_embedder(settings.model, settings.model_cache,
                             embedding_backend(settings) if explicit else settings.embed_backend, settings.embed_threads)
    report = evaluate_set(items, settings, explicit_index=explicit, embedder=embedder)
    report["pairs"] = evaluate_pairs(embedder)
    report["broad"] = next((r for r in report["sweep"] if abs(r["cut"] - BROAD_CUT) < 1e-9), None)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report, set_path), encoding="utf-8")
    o = report["overall"]
    precision = "" if o["change_precision"] is None else f" (precision {o['change_precision']})"
    unlabelled = f", {o['changes_unlabelled']} unlabelled" if o["changes_unlabelled"] else ""
    order = "ok" if o["date_order_ok"] else "WRONG"
    print(f"timeline {set_path.name} (cut {report['cut']}): recall {o['recall']}, precision {o['precision']} "
          f"(macro {o['recall_macro']} / {o['precision_macro']}), date order {order}, "
          f"change markers {o['changes_correct']}/{o['changes_labelled']} correct{precision}{unlabelled}, "
          f"latency p50 {o['latency_p50']} s")
    b, pr = report.get("broad"), report["pairs"]
    if b:
        print(f"broad (cut {b['cut']}): recall {b['recall']}, precision {b['precision']}")
    print(f"change rules on labelled statement pairs: precision {pr['precision']} ({pr['correct']}/{pr['flagged']}), "
          f"recall {pr['recall']} of {pr['expected']} expected markers")
    sug = report.get("sweep_suggestion")
    if sug:
        print(f"cut sweep suggests {sug['cut']} (recall {sug['recall']}, precision {sug['precision']})")
    print(f"report: {out / 'report.md'}")
    return 0


# ------------------------------------------------------------------ labelled statement pairs (change rules alone)

PAIRS = PROJECT_ROOT / "eval" / "timeline" / "change_pairs.jsonl"


def _pair_entry(pid: str, side: str, s: dict[str, Any], kind: str, embedder):
    from rag.indexing.chunking import sentence_spans
    from rag.records import Meeting, SpeakerKind, Turn
    from rag.timeline.core import Entry

    text = s["text"]
    meeting = Meeting(id=f"{pid}-{side}", doc=f"{pid}.txt", source="eval/timeline/change_pairs.jsonl",
                      body=s.get("body", "テスト市議会"), name=s.get("meeting", "定例会"), date=s.get("date"),
                      place=s.get("place"))
    turn = Turn(meeting_id=meeting.id, order=1, speaker="市長" if kind == "executive" else "議員", text=text,
                pieces=[(0, len(text))], kind=SpeakerKind(kind))
    spans = sentence_spans(text)
    vecs = embedder.embed_passages([text[a:b] for a, b in spans])
    sv = {(a, b): v for (a, b), v in zip(spans, vecs)}
    return Entry(f"{pid}:{side}", turn, meeting, 1.0, spans, [sv[spans[0]]], [], sv, id=f"e-{side}")


def evaluate_pairs(embedder, path: Path = PAIRS) -> dict[str, Any]:
    """The change rules on labelled statement pairs (constructed ones and sentences from the corpora): precision of
    the markers they emit, and how many expected markers they find."""
    from rag.timeline.changes import detect_changes

    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        p = json.loads(line)
        entries = [_pair_entry(p["id"], "a", p["a"], p.get("kind_a", "executive"), embedder)]
        if p.get("b"):
            entries.append(_pair_entry(p["id"], "b", p["b"], p.get("kind_b", "executive"), embedder))
        found = [c.kind for c in detect_changes(entries)]
        expected = p.get("expected", [])
        rows.append({"id": p["id"], "source": p.get("source"), "expected": expected, "found": found,
                     "correct": sum(k in expected for k in found), "why": p.get("why", "")})
    flagged = sum(len(r["found"]) for r in rows)
    correct = sum(r["correct"] for r in rows)
    expected = sum(len(r["expected"]) for r in rows)
    hit = sum(sum(k in r["found"] for k in r["expected"]) for r in rows)
    return {"pairs": len(rows), "flagged": flagged, "correct": correct,
            "precision": round(correct / flagged, 4) if flagged else None,
            "expected": expected, "recall": round(hit / expected, 4) if expected else None, "rows": rows}
