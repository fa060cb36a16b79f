"""Running a question set through the real pipeline and summarising it.

One embedding model is loaded for the whole run and shared by every index and pipeline built in it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.config import CONTEXT_MODES as CONTEXTS
from rag.config import EMBED_BACKENDS, PROJECT_ROOT, TOKENIZERS, Settings
from rag.config import RETRIEVAL_MODES as MODES
from rag.errors import IndexMismatch, RagError
from rag.evaluation import metrics as M


TYPES = ("number", "fact", "who-said", "stance", "two-turn", "paraphrase", "procedure", "english", "unanswerable")
QUOTE_COVERS = 0.8  # the cited words cover the gold quote when they hold at least this share of its characters
CONFIG_KEYS = ("retrieval", "abstain_below", "context", "tokenizer", "backend", "pipeline", "corpus", "top_k", "cache")

Log = Callable[[str], None]


def _stderr(s: str) -> None:
    print(s, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ inputs


def read_jsonl(path: Path):
    """(line number, object) of each non-blank line of a JSONL file; RagError naming the line that is not JSON."""
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as e:
            raise RagError(f"{path} line {n} is not JSON: {e}") from None


def load_questions(path: Path) -> list[dict[str, Any]]:
    if not Path(path).is_file():
        raise RagError(f"no such question set: {path}")
    out = []
    for n, q in read_jsonl(path):
        if not isinstance(q, dict) or not q.get("question") or not q.get("id"):
            raise RagError(f"{path} line {n}: a question needs at least 'id' and 'question'")
        q.setdefault("type", "unanswerable" if q.get("quote") is None else "fact")
        q.setdefault("key_facts", [])
        out.append(q)
    if not out:
        raise RagError(f"{path} holds no questions")
    return out


def parse_config(items: Sequence[str]) -> dict[str, Any]:
    """["retrieval=dense", "abstain_below=0.8", "all-retrieval"] -> {"retrieval": "dense", ...}."""
    cfg: dict[str, Any] = {}
    for item in items or []:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if part in ("all-retrieval", "all_retrieval", "matrix=retrieval", "all=retrieval"):
                cfg["all"] = "retrieval"
                continue
            if "=" not in part:
                raise RagError(f"--config wants KEY=VALUE (or all-retrieval), got {part!r}")
            key, value = (x.strip() for x in part.split("=", 1))
            key = key.replace("-", "_")
            if key not in CONFIG_KEYS:
                raise RagError(f"unknown --config key {key!r}; known: {', '.join(CONFIG_KEYS)}, all-retrieval")
            cfg[key] = value
    if "retrieval" in cfg and cfg["retrieval"] not in MODES:
        raise RagError(f"retrieval must be one of {', '.join(MODES)}")
    if "context" in cfg and cfg["context"] not in CONTEXTS:
        raise RagError(f"context must be one of {', '.join(CONTEXTS)}")
    if "tokenizer" in cfg and cfg["tokenizer"] not in TOKENIZERS:
        raise RagError(f"tokenizer must be one of {', '.join(TOKENIZERS)}")
    if "backend" in cfg and cfg["backend"] not in EMBED_BACKENDS:
        raise RagError(f"backend must be one of {', '.join(EMBED_BACKENDS)}")
    if "pipeline" in cfg and cfg["pipeline"] not in ("rag", "llamaindex", "llama-index", "llama_index"):
        raise RagError("pipeline must be rag (default) or llamaindex")
    if cfg.get("pipeline") in ("llama-index", "llama_index"):
        cfg["pipeline"] = "llamaindex"
    if "abstain_below" in cfg:
        try:
            cfg["abstain_below"] = float(cfg["abstain_below"])
        except ValueError:
            raise RagError("abstain_below must be a number") from None
    if "cache" in cfg:
        if str(cfg["cache"]).lower() not in ("on", "off", "1", "0", "true", "false", "yes", "no"):
            raise RagError("cache must be on or off")
        cfg["cache"] = str(cfg["cache"]).lower() in ("on", "1", "true", "yes")
        if not cfg["cache"]:
            del cfg["cache"]
    if "top_k" in cfg:
        try:
            cfg["top_k"] = int(cfg["top_k"])
        except ValueError:
            raise RagError("top_k must be an integer") from None
    return cfg


def config_label(cfg: dict[str, Any]) -> str:
    if not cfg:
        return "default"
    if cfg.get("all"):
        return "all-" + str(cfg["all"])
    parts = [f"{k}-{cfg[k]}" for k in CONFIG_KEYS if k in cfg and k not in ("corpus", "cache")]
    if "corpus" in cfg:
        parts.append("corpus-" + Path(str(cfg["corpus"])).name)
    if cfg.get("cache"):
        parts.append("cached")
    return "_".join(parts).replace("/", "-") or ("default-cached" if cfg.get("cache") else "default")


def default_out(cfg: dict[str, Any]) -> Path:
    return PROJECT_ROOT / "eval" / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{config_label(cfg)}"


# ------------------------------------------------------------------ stamps


def code_version() -> dict[str, Any]:
    import rag

    git = None
    try:
        r = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True,
                           text=True, timeout=10)
        git = r.stdout.strip() or None if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"git": git, "rag_version": getattr(rag, "__version__", None)}


def question_set_stamp(path: Path, questions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    data = Path(path).read_bytes()
    counts: dict[str, int] = {}
    for q in questions:
        counts[q["type"]] = counts.get(q["type"], 0) + 1
    return {"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "questions": len(questions),
            "types": counts}


def index_stamp(pipe) -> dict[str, Any]:
    store = pipe.store
    stats = store.stats()
    return {"dir": str(pipe.settings.index_dir), "store": store.manifest.store,
            "generation": stats.get("generation"), "manifest": asdict(store.manifest),
            **{k: stats[k] for k in ("documents", "meetings", "turns", "chunks") if k in stats}}


# ------------------------------------------------------------------ indexes


def ensure_index(settings: Settings, embedder, corpus: Path, context: str, tokenizer: str, folder: Path,
                 log: Log = _stderr, reuse: bool = True) -> Path:
    """An index of `corpus` built with `context`/`tokenizer`: the configured one when it already matches
    (and `reuse`), else a fresh one in `folder` (reused if a previous call built it)."""
    from rag.ingest import ingest
    from rag.store import built_with

    def matches(path: Path) -> bool:
        try:
            m = built_with(settings.with_overrides(index_dir=path))
        except IndexMismatch:  # an older format: rebuilt
            return False
        return (m is not None and m.context == context and m.tokenizer == tokenizer and m.model == settings.model
                and m.backend == embedder.backend)

    if reuse and matches(settings.index_dir):
        return settings.index_dir
    if matches(folder):
        return folder
    log(f"building an index of {corpus} with context={context}, tokenizer={tokenizer} in {folder} ...")
    s = settings.with_overrides(index_dir=folder, context_prefix=context, keyword_tokenizer=tokenizer)
    report = ingest([Path(corpus)], s, rebuild=True, embedder=embedder, progress=False)
    log("  " + report.summary().splitlines()[0])
    return folder


# ------------------------------------------------------------------ one question set, one pipeline


def load_metadata_gold(set_path: Path) -> dict[str, dict[str, Any]]:
    """Gold metadata of the set's documents (metadata.jsonl beside the set), by document name; {} when none."""
    path = Path(set_path).with_name("metadata.jsonl")
    if not path.is_file():
        return {}
    return {g["doc"]: g for g in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if g.get("doc")}


def evaluate(pipe, questions: Sequence[dict[str, Any]], k: int = 10, abstain_below: float | None = None,
             mode: str | None = None, answers: bool = True, log: Log = _stderr,
             metadata: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Per-question results for a pipeline.

    Retrieval: each question is searched once per retrieval mode (hybrid/dense/keyword, one query
    embedding shared by all), `mode` being the configured one. Answers: `pipe.ask(question)`. For the
    extractive answerer, give a pipeline built with `abstain_below=-inf` and the threshold to judge by as
    `abstain_below`: the answer given when it does not abstain is then always known, and the threshold is
    applied here (the answerer's rule is exactly `confidence < abstain_below`). That is what lets the
    threshold sweep judge every threshold. With `abstain_below=None` the answerer's own decisions are kept.
    """
    from rag.answering.base import NO_ANSWER_EN, NO_ANSWER_JA, is_english

    mode = mode or pipe.settings.retrieval
    threshold = abstain_below if answers else None
    results = []
    started = time.perf_counter()
    for n, q in enumerate(questions, 1):
        answerable = q.get("quote") is not None
        r: dict[str, Any] = {"id": q["id"], "type": q.get("type"), "question": q["question"],
                             "answerable": answerable, "split": q.get("split")}
        qvec = pipe.embedder.embed_query(q["question"])
        ranks: dict[str, int | None] = {}
        top: list[dict[str, Any]] = []
        for m in MODES:
            hits = pipe.retriever.search(q["question"], k, None, mode=m, query_vector=qvec)
            ranks[m] = M.first_rank([h.turn.text for h in hits], q.get("quote")) if answerable else None
            if m == mode:
                top = [{"doc": h.meeting.doc, "turn": h.turn.order, "speaker": h.turn.speaker,
                        "score": round(float(h.score), 5),
                        "gold": answerable and M.holds(h.turn.text, q.get("quote"))} for h in hits]
        r["rank"] = ranks[mode]
        r["ranks"] = ranks
        r["retrieved"] = top
        if answers:
            t0 = time.perf_counter()
            a = pipe.ask(q["question"])
            r["seconds"] = round(time.perf_counter() - t0, 4)
            full = a.to_dict()
            conf = float(a.confidence)
            abstained = conf < threshold if threshold is not None else bool(a.abstained)
            given = dict(full)
            if abstained:
                given.update(answer=NO_ANSWER_EN if is_english(q["question"]) else NO_ANSWER_JA,
                             abstained=True, citations=[])
            r["answer"] = given
            r["confidence"] = round(conf, 5)
            if abstained:
                r["answer_if_answered"] = {"answer": full["answer"], "citations": full["citations"]}
            kf_full = M.key_fact_rate(q.get("key_facts") or [], full["answer"])
            cit_full = M.citation_metrics(full["citations"], q) if answerable else None
            supported = bool(answerable and ((kf_full is not None and kf_full >= 1.0)
                                             or (cit_full and cit_full["cites_answer"])))
            r["correct_if_answered"] = supported
            r["key_facts"] = M.key_fact_rate(q.get("key_facts") or [], given["answer"]) if answerable else None
            r["key_facts_if_answered"] = kf_full
            r["citations"] = M.citation_metrics(given["citations"], q) if answerable else None
            if answerable:
                r["quote_coverage"] = round(M.quote_coverage(given["citations"], q), 4)
            if metadata:
                r["metadata"] = M.metadata_checks(given["citations"], metadata)
            r["outcome"] = M.outcome(answerable, abstained, supported)
        results.append(r)
        if n % 10 == 0 or n == len(questions):
            log(f"  {n}/{len(questions)} questions ({time.perf_counter() - started:.0f} s)")
    return results


def evaluate_baseline(baseline, questions: Sequence[dict[str, Any]], k: int = 10) -> list[dict[str, Any]]:
    out = []
    for q in questions:
        answerable = q.get("quote") is not None
        r: dict[str, Any] = {"id": q["id"], "type": q.get("type"), "question": q["question"],
                             "answerable": answerable, "split": q.get("split")}
        if answerable:
            t0 = time.perf_counter()
            chunks = baseline.retrieve(q["question"], k)
            r["retrieval_seconds"] = round(time.perf_counter() - t0, 4)
            r["rank"] = M.first_rank(chunks, q["quote"])
        else:
            r["rank"] = None
        r["ranks"] = {"llamaindex": r["rank"]}
        out.append(r)
    return out


# ------------------------------------------------------------------ summaries


def summarise(results: Sequence[dict[str, Any]], k: int = 10, mode: str | None = None) -> dict[str, Any]:
    """Headline metrics of a list of per-question results (any subset, e.g. one question type)."""
    answerable = [r for r in results if r["answerable"]]
    unanswerable = [r for r in results if not r["answerable"]]
    out: dict[str, Any] = {"questions": len(results), "answerable": len(answerable),
                           "unanswerable": len(unanswerable)}
    modes = list(answerable[0]["ranks"]) if answerable else []
    out["retrieval"] = {m: M.retrieval_summary([r["ranks"][m] for r in answerable], k) for m in modes}
    main = mode if mode in out["retrieval"] else (modes[0] if modes else None)
    if main:
        out["retrieval_mode"] = main
        out.update({key: v for key, v in out["retrieval"][main].items() if key != "curve" and key != "n"})
    if not any("outcome" in r for r in results):
        return out
    cits = [r["citations"] for r in answerable]
    answered = [c for c, r in zip(cits, answerable) if not r["answer"]["abstained"]]
    out["key_fact_rate"] = M.mean(r["key_facts"] for r in answerable)
    out["key_facts_all"] = M.mean(1.0 if (r["key_facts"] or 0) >= 1.0 else 0.0 for r in answerable) \
        if answerable else None
    out["citation_precision"] = M.mean(c["precision"] for c in answered)
    out["citation_recall"] = M.mean(c["recall"] or 0.0 for c in cits) if cits else None
    out["cites_answer"] = M.mean(1.0 if c["cites_answer"] else 0.0 for c in cits) if cits else None
    out["quote_hit"] = M.mean(1.0 if c["quote_hit"] else 0.0 for c in cits) if cits else None
    covs = [r.get("quote_coverage") for r in answerable if r.get("quote_coverage") is not None]
    out["quote_covers"] = M.mean(1.0 if v >= QUOTE_COVERS else 0.0 for v in covs) if covs else None
    checks = [r["metadata"] for r in results if r.get("metadata")]
    for field in ("body", "date"):
        marks = [ok for c in checks for ok in c[field]]
        out[f"{field}_ok"] = M.mean(1.0 if ok else 0.0 for ok in marks) if marks else None
    numbers = [r for r in answerable if r["type"] == "number"]
    out["figure_in_answer"] = M.mean(1.0 if (r["key_facts"] or 0) >= 1.0 else 0.0 for r in numbers) \
        if numbers else None
    out["speaker_ok"] = M.mean(None if c["speaker_ok"] is None else float(c["speaker_ok"]) for c in cits)
    out["meeting_ok"] = M.mean(None if c["meeting_ok"] is None else float(c["meeting_ok"]) for c in cits)
    counts = {o: sum(r["outcome"] == o for r in results)
              for o in ("correct", "incorrect", "wrong_abstention", "correct_abstention", "wrong_answer")}
    out["outcomes"] = counts
    out["correct_abstentions"] = counts["correct_abstention"]
    out["wrong_abstentions"] = counts["wrong_abstention"]
    out["wrong_answers"] = counts["wrong_answer"]
    out["correct_answers"] = counts["correct"]
    out["abstention_recall"] = counts["correct_abstention"] / len(unanswerable) if unanswerable else None
    out["wrong_abstention_rate"] = counts["wrong_abstention"] / len(answerable) if answerable else None
    secs = [r["seconds"] for r in results if "seconds" in r]
    out["latency_p50"] = M.percentile(secs, 50)
    out["latency_p95"] = M.percentile(secs, 95)
    out["latency_mean"] = M.mean(secs)
    return out


def build_report(results: Sequence[dict[str, Any]], k: int, mode: str | None, stamp: dict[str, Any],
                 abstain_below: float | None = None) -> dict[str, Any]:
    report = {"stamp": stamp, "k": k, "overall": summarise(results, k, mode), "by_type": {}, "by_split": {}}
    for split in sorted({r.get("split") for r in results if r.get("split")}):
        report["by_split"][split] = summarise([r for r in results if r.get("split") == split], k, mode)
    types = [t for t in TYPES if any(r["type"] == t for r in results)]
    types += sorted({r["type"] for r in results} - set(types))
    for t in types:
        report["by_type"][t] = summarise([r for r in results if r["type"] == t], k, mode)
    if any("confidence" in r for r in results):
        items = [{"answerable": r["answerable"], "confidence": r["confidence"], "correct": r["correct_if_answered"]}
                 for r in results]
        sweep = M.threshold_sweep(items)
        report["sweep"] = sweep
        report["sweep_suggestion"] = M.suggest_threshold(sweep)
        report["abstain_below"] = abstain_below
        # English questions score lower (cross-lingual similarity): their best threshold is reported apart
        from rag.answering.base import is_english

        by_lang = {}
        for lang, pick in (("ja", lambda r: not is_english(r["question"])), ("en", lambda r: is_english(r["question"]))):
            sub = [i for i, r in zip(items, results) if pick(r)]
            if sub:
                by_lang[lang] = {"questions": len(sub), "suggestion": M.suggest_threshold(M.threshold_sweep(sub)),
                                 "at_threshold": M.threshold_sweep(sub, [abstain_below])[0]
                                 if abstain_below is not None else None}
        report["sweep_by_language"] = by_lang
        if abstain_below is not None:
            at = M.threshold_sweep(items, [abstain_below])[0]
            report["at_threshold"] = at
    return report


# ------------------------------------------------------------------ embedding cache (opt-in)


class CachingEmbedder:
    """Memoises an Embedder's query and passage vectors by text.

    A run embeds each question twice (once for the retrieval metrics, once in `pipe.ask`), and the retrieval
    matrix embeds the same chunk texts for several indexes; with this cache each text is embedded once and
    the answers are the same (vectors are deterministic), but latencies are not the pipeline's:
    `--config cache=on` is for quick iteration and the regression test, not for latency.
    """

    def __init__(self, embedder):
        self._inner = embedder
        self._passages: dict[str, Any] = {}
        self._queries: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed_query(self, text: str):
        v = self._queries.get(text)
        if v is None:
            v = self._queries[text] = self._inner.embed_query(text)
        return v

    def embed_passages(self, texts, batch_size: int = 8):
        import numpy as np

        texts = list(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self._passages))
        if missing:
            vecs = self._inner.embed_passages(missing, batch_size=batch_size)
            self._passages.update(zip(missing, vecs))
        if not texts:
            return np.zeros((0, self._inner.dimension), dtype=np.float32)
        return np.stack([self._passages[t] for t in texts]).astype(np.float32, copy=False)
