"""`python -m rag eval`: run a question set through the real pipeline and write a report; compare runs.

    python -m rag eval eval/questions.jsonl [--index DIR] [--config KEY=VALUE ...] [--out DIR] [-k 10]
    python -m rag eval eval/questions.jsonl --config all-retrieval
    python -m rag eval --compare RUN_A RUN_B

Configurations: retrieval=hybrid|dense|keyword, abstain_below=FLOAT, context=none|speaker|full,
tokenizer=both|bigram|sudachi (these two build a fresh index of the corpus into <out>/index),
corpus=PATH (default corpus/sample), top_k=N, pipeline=llamaindex (plain llama-index baseline,
retrieval only). See eval/README.md.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from rag.config import SAMPLE_CORPUS, Settings
from rag.errors import RagError

__all__ = ["run_cli", "run_eval", "run_retrieval_matrix"]


def _log(s: str) -> None:
    print(s, file=sys.stderr, flush=True)


def run_cli(args: Any, settings: Settings) -> int:
    from rag.evaluation import report as R
    from rag.evaluation.runner import config_label, default_out, load_questions, parse_config

    if getattr(args, "compare", None):
        a, b = args.compare
        for p in (a, b):
            if not Path(p).exists():
                raise RagError(f"no such run folder: {p}")
        print(R.compare(Path(a), Path(b)))
        return 0
    if not getattr(args, "set", None):
        raise RagError("give a question set (e.g. eval/questions.jsonl) or --compare A B")
    from rag.evaluation import timeline as T

    if T.is_timeline_set(Path(args.set)):  # topic -> gold turns across meetings (eval/timeline/)
        return T.run_cli(args, settings)
    k = int(getattr(args, "k", 10) or 10)
    if k < 1:
        raise RagError("-k must be at least 1")
    cfg = parse_config(getattr(args, "config", []) or [])
    questions = load_questions(Path(args.set))
    out = Path(args.out) if getattr(args, "out", None) else default_out(cfg)
    if cfg.get("all") == "retrieval":
        report = run_retrieval_matrix(Path(args.set), questions, settings, cfg, out, k)
        print(f"{'configuration':<32} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'MRR':>6}")
        for r in report["rows"]:
            s = r["summary"]
            print(f"{r['name']:<32} {s.get('hit@1', 0):6.3f} {s.get('hit@5', 0):6.3f} "
                  f"{s.get('hit@10', 0):6.3f} {s.get('mrr', 0):6.3f}")
    else:
        report = run_eval(Path(args.set), questions, settings, cfg, out, k)
        o = report["overall"]
        keys = ["hit@1", "hit@5", "hit@10", "mrr", "citation_precision", "citation_recall", "key_fact_rate",
                "correct_answers", "correct_abstentions", "wrong_abstentions", "wrong_answers",
                "latency_p50", "latency_p95"]
        print(f"{config_label(cfg)}: " + ", ".join(f"{key} {R.fmt(o.get(key))}" for key in keys if key in o))
        sug = report.get("sweep_suggestion")
        if sug:
            print(f"threshold sweep suggests abstain_below={sug['threshold']} (score {sug['score']}; "
                  f"configured {report.get('abstain_below')}: score {(report.get('at_threshold') or {}).get('score')})")
    print(f"report: {out / 'report.md'}")
    return 0


def _stamp(label: str, cfg: dict[str, Any], settings: Settings, set_path: Path, questions, embedder,
           pipe=None) -> dict[str, Any]:
    from rag.evaluation.runner import code_version, index_stamp, question_set_stamp

    stamp = {"label": label, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": cfg,
             "retrieval": cfg.get("retrieval", settings.retrieval), "model": settings.model,
             "embedding_model": getattr(embedder, "model_id", None),
             "embedding_backend": getattr(embedder, "backend", None), "code": code_version(),
             "question_set": question_set_stamp(set_path, questions)}
    if pipe is not None:
        stamp["index"] = index_stamp(pipe)
    return stamp


def run_eval(set_path: Path, questions, settings: Settings, cfg: dict[str, Any], out: Path, k: int = 10,
             embedder=None, log: Callable[[str], None] = _log) -> dict[str, Any]:
    """One configuration: every question retrieved (all three modes) and asked; reports written to `out`."""
    from rag.evaluation import report as R
    from rag.evaluation.runner import build_report, config_label, ensure_index, evaluate, evaluate_baseline
    from rag.pipeline import Pipeline

    label = config_label(cfg)
    if "top_k" in cfg:
        settings = settings.with_overrides(top_k=cfg["top_k"])
    if "retrieval" in cfg:
        settings = settings.with_overrides(retrieval=cfg["retrieval"])
    if "backend" in cfg and embedder is None:  # a fresh index is built below with this backend
        from rag.embedding.embedder import load_embedder

        embedder = load_embedder(settings.model, settings.model_cache, cfg["backend"], settings.embed_threads)
    corpus = Path(cfg.get("corpus") or SAMPLE_CORPUS)
    pipe = Pipeline(settings, embedder=embedder)
    t0 = time.perf_counter()
    emb = pipe.embedder
    if cfg.get("cache"):
        from rag.evaluation.runner import CachingEmbedder

        emb = CachingEmbedder(emb)
        pipe = Pipeline(settings, embedder=emb)
    log(f"embedding model {emb.model_id} ready in {time.perf_counter() - t0:.1f} s")

    if cfg.get("pipeline") == "llamaindex":
        from rag.evaluation.baseline import LlamaIndexBaseline

        log(f"building the llama-index baseline over {corpus} ...")
        base = LlamaIndexBaseline(corpus, emb, settings.batch_size)
        results = evaluate_baseline(base, questions, k)
        stamp = _stamp(label, cfg, settings, set_path, questions, emb)
        stamp["baseline"] = base.describe()
        report = build_report(results, k, "llamaindex", stamp)
        R.write_run(out, results, report)
        return report

    if "context" in cfg or "tokenizer" in cfg or "corpus" in cfg or "backend" in cfg:
        folder = ensure_index(settings, emb, corpus, cfg.get("context", settings.context_prefix),
                              cfg.get("tokenizer", settings.keyword_tokenizer),
                              out / "index", log, reuse=False)
        pipe = Pipeline(settings.with_overrides(index_dir=folder), embedder=emb)
    has_threshold = settings.answer_mode == "extractive"  # an LLM answerer's own decisions are kept
    if "abstain_below" in cfg and not has_threshold:
        raise RagError(f"abstain_below applies to the extractive answerer, not {settings.answer_mode!r}")
    threshold = float(cfg.get("abstain_below", settings.abstain_below)) if has_threshold else None
    if has_threshold:  # answers are given below any threshold, which is applied afterwards (see evaluate)
        pipe = Pipeline(pipe.settings.with_overrides(abstain_below=-math.inf), embedder=emb)
    stamp = _stamp(label, cfg, settings, set_path, questions, emb, pipe)
    stamp["abstain_below"] = threshold
    stamp["top_k"] = settings.top_k
    if cfg.get("cache"):
        stamp["note"] = "embedding cache on: latencies are not the pipeline's"
    log(f"evaluating {len(questions)} questions ({label}, retrieval {settings.retrieval}, "
        f"abstain_below {threshold}) ...")
    from rag.evaluation.runner import load_metadata_gold

    results = evaluate(pipe, questions, k, threshold, settings.retrieval, answers=True, log=log,
                       metadata=load_metadata_gold(set_path))
    report = build_report(results, k, settings.retrieval, stamp, threshold)
    R.write_run(out, results, report)
    return report


def run_retrieval_matrix(set_path: Path, questions, settings: Settings, cfg: dict[str, Any], out: Path,
                         k: int = 10, embedder=None, log: Callable[[str], None] = _log,
                         contexts=("none", "speaker", "full"), tokenizers=("bigram", "sudachi"),
                         baseline: bool = True) -> dict[str, Any]:
    """hybrid/dense/keyword × context none/speaker/full (+ keyword tokenizers, + the llama-index baseline),
    retrieval only, one process, one model; one combined table."""
    from rag.evaluation import report as R
    from rag.evaluation.runner import MODES, ensure_index, evaluate, evaluate_baseline, summarise, TYPES
    from rag.pipeline import Pipeline

    corpus = Path(cfg.get("corpus") or SAMPLE_CORPUS)
    from rag.evaluation.runner import CachingEmbedder

    pipe0 = Pipeline(settings, embedder=embedder)
    # retrieval only: no latency is measured, and the cache embeds each question once for all indexes
    # (and a chunk text once for all indexes that share it, e.g. the keyword-tokenizer variants)
    emb = CachingEmbedder(pipe0.embedder)
    rows: list[dict[str, Any]] = []
    all_results: dict[str, list[dict[str, Any]]] = {}

    def add(name: str, results, mode: str, context: str, tokenizer: str, index: str) -> None:
        s = summarise(results, k, mode)
        by_type = {t: summarise([r for r in results if r["type"] == t], k, mode)
                   for t in TYPES if any(r["type"] == t and r["answerable"] for r in results)}
        rows.append({"name": name, "pipeline": "llamaindex" if mode == "llamaindex" else "rag", "retrieval": mode,
                     "context": context, "tokenizer": tokenizer, "index": index,
                     "summary": {key: v for key, v in s.items() if key != "retrieval"} | {
                         "curve": s["retrieval"][mode]["curve"]},
                     "by_type": {t: {key: v for key, v in bt.items() if key != "retrieval"} for t, bt in by_type.items()}})
        all_results[name] = [{**r, "rank": r["ranks"][mode]} for r in results]
        log(f"  {name}: hit@1 {s.get('hit@1', 0):.3f} hit@5 {s.get('hit@5', 0):.3f} mrr {s.get('mrr', 0):.3f}")

    variants = [(c, "both") for c in contexts] + [("none", t) for t in tokenizers]
    for context, tokenizer in variants:
        folder = ensure_index(settings, emb, corpus, context, tokenizer, out / f"index-{context}-{tokenizer}", log,
                              reuse="corpus" not in cfg)
        pipe = Pipeline(settings.with_overrides(index_dir=folder), embedder=emb)
        where = f"{folder} (manifest: {json.dumps(asdict(pipe.store.manifest), ensure_ascii=False)})"
        results = evaluate(pipe, questions, k, answers=False, log=lambda s: None)
        modes = MODES if tokenizer == "both" else ("keyword", "hybrid")
        for mode in modes:
            name = f"{mode}/{context}" + ("" if tokenizer == "both" else f"/{tokenizer}")
            add(name, results, mode, context, tokenizer, where)
        pipe.store.close()
    stamp = {"label": "all-retrieval", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": cfg,
             "model": settings.model, "embedding_model": emb.model_id}
    from rag.evaluation.runner import code_version, question_set_stamp

    stamp["code"] = code_version()
    stamp["question_set"] = question_set_stamp(set_path, questions)
    if baseline:
        from rag.evaluation.baseline import LlamaIndexBaseline

        log(f"building the llama-index baseline over {corpus} ...")
        base = LlamaIndexBaseline(corpus, emb, settings.batch_size)
        stamp["baseline"] = base.describe()
        add("llamaindex baseline", evaluate_baseline(base, questions, k), "llamaindex", "-", "-", "in memory")
    return R.write_matrix(out, rows, stamp, k, all_results)
