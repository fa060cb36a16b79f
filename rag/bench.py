"""`python -m rag.bench` (later `python -m rag bench`): ingest throughput, index size, memory,
query latency per retrieval mode at growing corpus sizes, exact (flat) vs HNSW vectors, and
(with --backends) the embedding model's CPU throughput and quality per runtime option.

What is real and what is synthesised:

* ingest: the real sample corpus (parse_path -> IndexWriter -> the real embedder -> commit).
* larger corpora (--sizes): turns made by recombining real sentences (each synthetic turn takes a
  real turn's sentences, drops/replaces ~30% with sentences from elsewhere and shuffles them) under
  real speakers and meetings (dates moved to random years, so date filters select a share). Their
  vectors are the real model's embeddings of the sentences' source chunks, averaged, with Gaussian
  noise added and renormalised (no model runs for them). Keyword tokens are the real tokenizer's
  output, cached per sentence. Everything is written through the real IndexWriter (Catalog,
  VectorIndex, KeywordIndex) and searched through the real Retriever.
* queries: the real questions of eval/questions.jsonl embedded by the real model; search latency
  is measured with the query vector precomputed, and the model's query-embedding time is given
  separately.

Absolute times on a shared 2-core machine are noisy: configurations are interleaved query by
query and compared as ratios within one run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from rag.config import PROJECT_ROOT

QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"
NOISE_SIGMA = 0.02  # per dimension; |noise| ~ 0.39 for 384 dims, cosine to the clean vector ~0.93
REPLACE_P = 0.3  # share of a synthetic turn's sentences taken from other turns
YEARS = list(range(2005, 2025))  # synthetic meetings are spread over these years


# --------------------------------------------------------------------------- helpers
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the bench command (no heavy imports, so `--help` stays instant)."""
    p.add_argument("--sizes", default=None,
                   help="corpus sizes in turns for the latency runs, comma-separated "
                        "(default 1000,10000,100000; --quick: 1000)")
    p.add_argument("--quick", action="store_true",
                   help="small and short: fewer queries, one round, smallest sizes")
    p.add_argument("--queries", type=int, default=None, help="questions used as queries (default all 153; --quick 20)")
    p.add_argument("--rounds", type=int, default=None, help="rounds over the queries (default 2; --quick 1)")
    p.add_argument("--corpus", type=Path, default=None, help="real minutes to ingest (default the sample corpus)")
    p.add_argument("--no-hnsw", action="store_true", help="skip the flat vs HNSW comparison")
    p.add_argument("--backends", action="store_true",
                   help="also compare embedding runtimes (torch / onnx-int8 × threads × batch size)")
    p.add_argument("--backends-only", action="store_true", help="only the embedding runtime comparison")
    p.add_argument("--backend-texts", type=int, default=None, help="passages for the runtime comparison (default all)")
    p.add_argument("--variants", default=None,
                   help="runtime comparison: only variants whose name contains one of these comma-separated words")
    p.add_argument("--workdir", type=Path, default=None, help="where the bench indexes go (default a temp folder)")
    p.add_argument("--json-out", type=Path, default=None, help="also write all figures as JSON here")
    p.add_argument("--report", type=Path, default=None, help="also write the markdown tables here")
    p.add_argument("--ingest-files", type=int, default=None,
                   help="ingest only the first N files of the corpus (default all; --quick 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per embedding call for the ingest bench, 0 = all cores (default RAG_EMBED_THREADS)")
    p.add_argument("--seed", type=int, default=0)


def _rss_mb() -> float:
    """Current resident set size (MB)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:  # pragma: no cover - not Linux
        return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KB on Linux


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    i = min(len(v) - 1, max(0, int(round(q / 100 * (len(v) - 1)))))
    return v[i]


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def fmt(x: Any) -> str:
        if isinstance(x, float):
            if x != x:
                return "–"
            return f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"
        return str(x)

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def load_questions(limit: int | None = None) -> list[dict[str, Any]]:
    from rag.evaluation.runner import load_questions as load_set

    qs = load_set(QUESTIONS)
    return qs[:limit] if limit else qs


# --------------------------------------------------------------------------- 1. real ingest
def real_ingest(corpus: Path, settings, embedder, folder: Path, max_files: int | None = None) -> dict[str, Any]:
    """The ingest path of rag.ingest, phase by phase, on real files."""
    from rag.sources import PARSER_VERSION, discover, parse_path
    from rag.store.index import IndexWriter

    res: dict[str, Any] = {"rss_start_mb": _rss_mb()}
    t = time.perf_counter()
    files, _ = discover([corpus])
    files = sorted(files)[:max_files] if max_files else files
    parsed = [(f, parse_path(f)) for f in files]
    parsed = [(f, p) for f, p in parsed if p.turns]
    res["parse_s"] = time.perf_counter() - t
    res["files"] = len(parsed)
    res["bytes"] = sum(f.stat().st_size for f, _ in parsed)

    t = time.perf_counter()
    writer = IndexWriter(folder, settings.model, embedder.dimension, PARSER_VERSION, backend=embedder.backend,
                         tokenizer=settings.keyword_tokenizer, context=settings.context_prefix, rebuild=True)
    turns = 0
    for f, p in parsed:
        turns += writer.add(str(f.resolve()), "bench", p)
    res["add_s"] = time.perf_counter() - t  # catalog inserts + chunking + keyword tokenisation
    res["turns"] = turns
    res["chars"] = sum(len(x) for x in writer.pending.texts)
    res["chunks"] = sum(1 for target, _, _ in writer.pending.items if target == "chunk")  # the rest: sentences
    res["embedded_texts"] = len(writer.pending.texts)
    tok = embedder.token_count(writer.pending.texts)
    res["tokens"] = int(sum(min(n, embedder.max_tokens) for n in tok))
    res["tokens_truncated_chunks"] = int(sum(n > embedder.max_tokens for n in tok))

    t = time.perf_counter()
    writer.embed_pending(lambda texts: embedder.embed_passages(texts, batch_size=settings.batch_size))
    res["embed_s"] = time.perf_counter() - t
    res["rss_after_embed_mb"] = _rss_mb()
    t = time.perf_counter()
    writer.commit()
    res["commit_s"] = time.perf_counter() - t
    res["total_s"] = res["parse_s"] + res["add_s"] + res["embed_s"] + res["commit_s"]
    res["turns_per_s"] = turns / res["total_s"]
    res["embed_chunks_per_s"] = res["embedded_texts"] / res["embed_s"]
    res["embed_tokens_per_s"] = res["tokens"] / res["embed_s"]
    res["disk_bytes"] = _dir_size(folder)
    res["peak_rss_mb"] = _peak_rss_mb()
    return res


def real_chunks(folder: Path) -> tuple[list[dict[str, Any]], "Any"]:
    """(chunks with text, turn id and vector) of a built index, and the Index."""
    from rag.store.index import Index

    index = Index.open(folder)
    ids, vecs = index.vectors.vectors()
    rows = index.catalog.chunks([int(i) for i in ids])
    turns = index.catalog.turns(sorted({r.turn_id for r in rows.values()}))
    out = []
    for i, v in zip(ids, vecs):
        r = rows[int(i)]
        turn, meeting = turns[r.turn_id]
        out.append({"chunk_id": int(i), "turn_id": r.turn_id, "text": r.text, "vector": v,
                    "turn": turn, "meeting": meeting})
    return out, index


# --------------------------------------------------------------------------- 2. synthetic corpora
class Synthesiser:
    """Synthetic turns from real sentences; vectors from the real embeddings of their source chunks."""

    def __init__(self, chunks: list[dict[str, Any]], seed: int = 0):
        import numpy as np

        from rag.store.chunking import sentence_spans
        from rag.store.keyword import tokenize

        self.np = np
        self.rng = random.Random(seed)
        self.nrng = np.random.default_rng(seed)
        self._tokenize = tokenize
        self._sentence_spans = sentence_spans
        sent_vecs: dict[str, list[Any]] = {}
        by_turn: dict[int, dict[str, Any]] = {}
        for c in chunks:
            for s, e in sentence_spans(c["text"]):
                sent_vecs.setdefault(c["text"][s:e], []).append(c["vector"])
            t = by_turn.setdefault(c["turn_id"], {"turn": c["turn"], "meeting": c["meeting"]})
        for tid, t in by_turn.items():
            txt = t["turn"].text
            t["sentences"] = [txt[s:e] for s, e in sentence_spans(txt)]
        self.sent_vec = {s: self._unit(np.mean(v, axis=0)) for s, v in sent_vecs.items()}
        self.turns = [t for t in by_turn.values() if t["sentences"]]
        self.pool = [s for t in self.turns for s in t["sentences"]]
        self.all_vecs = np.stack([c["vector"] for c in chunks])
        self.meetings = list({id(t["meeting"]): t["meeting"] for t in self.turns}.values())
        self.token_cache: dict[str, list[str]] = {}

    def _unit(self, v):
        return v / max(float(self.np.linalg.norm(v)), 1e-12)

    # -- text side
    def turn_text(self, base: dict[str, Any]) -> str:
        sents = [s if self.rng.random() > REPLACE_P else self.rng.choice(self.pool) for s in base["sentences"]]
        if len(sents) > 2:
            self.rng.shuffle(sents)
        sep = "\n" if self.rng.random() < 0.2 else ""
        return sep.join(sents)

    def tokens(self, text: str, how: str = "both") -> list[str]:
        """The real tokenizer, applied per sentence and cached (a chunk never joins tokens across 。)."""
        out: list[str] = []
        for s, e in self._sentence_spans(text):
            sent = text[s:e]
            toks = self.token_cache.get(sent)
            if toks is None:
                toks = self._tokenize(sent, how)
                self.token_cache[sent] = toks
            out += toks
        return out

    # -- vector side
    def vectors(self, texts: list[str]):
        np = self.np
        out = np.empty((len(texts), self.all_vecs.shape[1]), dtype=np.float32)
        for i, text in enumerate(texts):
            vs = [self.sent_vec[text[s:e]] for s, e in self._sentence_spans(text) if text[s:e] in self.sent_vec]
            base = np.mean(vs, axis=0) if vs else self.all_vecs[self.rng.randrange(len(self.all_vecs))]
            v = self._unit(base) + self.nrng.normal(0.0, NOISE_SIGMA, size=base.shape)
            out[i] = self._unit(v)
        return out

    # -- documents
    def documents(self, n_turns: int, turns_per_doc: int = 27):
        from dataclasses import replace

        from rag.records import ParsedDocument, Turn

        made = 0
        d = 0
        while made < n_turns:
            m0 = self.rng.choice(self.meetings)
            date = m0.date
            if date:
                date = f"{self.rng.choice(YEARS)}{date[4:8]}{min(int(date[8:10]), 28):02d}"
            meeting = replace(m0, id=f"syn-{d}", doc=f"syn-{d:06d}.txt", source=f"synthetic/{d:06d}", date=date)
            k = min(turns_per_doc, n_turns - made)
            turns, text, pos = [], [], 0
            for j in range(k):
                base = self.rng.choice(self.turns)
                t0: Turn = base["turn"]
                body = self.turn_text(base)
                turns.append(replace(t0, meeting_id=meeting.id, order=j + 1, text=body,
                                     pieces=[(pos, pos + len(body))], url=None))
                text.append(body)
                pos += len(body) + 1
            doc = ParsedDocument(doc=meeting.doc, source=meeting.source, format="text", text="\n".join(text),
                                 meetings=[meeting], turns=turns, content_hash=f"syn{d}")
            yield f"synthetic/{d:06d}", doc
            made += k
            d += 1


def build_synthetic(syn: Synthesiser, n: int, folder: Path, settings, dimension: int) -> dict[str, Any]:
    """Write n synthetic turns through the real IndexWriter (tokenizer cached per sentence, vectors synthesised)."""
    import rag.store.index as index_mod
    from rag.sources import PARSER_VERSION
    from rag.store.index import IndexWriter

    res: dict[str, Any] = {"turns": n, "rss_start_mb": _rss_mb()}
    real_tokenize = index_mod.tokenize
    index_mod.tokenize = syn.tokens  # same tokens, cached per sentence (the real tokenizer is timed in ingest)
    try:
        t = time.perf_counter()
        # vectors synthesised from the real embedder's (settings.embed_backend) chunk vectors
        writer = IndexWriter(folder, settings.model, dimension, PARSER_VERSION, backend=settings.embed_backend,
                             tokenizer=settings.keyword_tokenizer, context="none", rebuild=True)
        for key, doc in syn.documents(n):
            writer.add(key, "synthetic", doc)
        res["add_s"] = time.perf_counter() - t
        res["chunks"] = len(writer.pending.texts)
        t = time.perf_counter()
        writer.embed_pending(syn.vectors, batch=4096)
        res["synth_vectors_s"] = time.perf_counter() - t
        t = time.perf_counter()
        writer.commit()
        res["commit_s"] = time.perf_counter() - t
    finally:
        index_mod.tokenize = real_tokenize
    res["disk_bytes"] = _dir_size(folder)
    res["parts_bytes"] = {p.name: _dir_size(p) if p.is_dir() else p.stat().st_size
                          for p in next(folder.glob("gen-*")).iterdir()}
    res["rss_after_mb"] = _rss_mb()
    res["peak_rss_mb"] = _peak_rss_mb()
    return res


def hnsw_of(index, dim: int) -> tuple[Any, float, int]:
    """The index's vectors as the HNSW VectorIndex the store would build (build seconds, bytes)."""
    from rag.store import vectors as vmod

    ids, vecs = index.vectors.vectors()
    t = time.perf_counter()
    h = vmod.VectorIndex.empty(dim, expected=max(len(ids), vmod.HNSW_THRESHOLD))
    h.add(list(ids), vecs)
    secs = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        h.save(Path(d) / "h.faiss")
        size = (Path(d) / "h.faiss").stat().st_size
    return h, secs, size


# --------------------------------------------------------------------------- 3. latency and recall
FILTERS = {
    "none": {},
    "body": {"body": "下関市議会"},  # about 1 meeting in 6
    "narrow": {"body": "下関市議会", "since": "2021-01-01", "until": "2024-12-31"},  # about 1 in 30
}


def measure_latency(indexes: dict[int, dict[str, Any]], queries: list[dict[str, Any]], rounds: int,
                    seed: int = 0) -> dict[str, list[float]]:
    """Interleaved: each query runs every (size, vectors, mode, filter) config in a shuffled order."""
    from rag.retrieval import Retriever
    from rag.store.catalog import Filters

    configs = []
    for n, ix in indexes.items():
        for kind in ix["vectors"]:
            for mode in ("dense", "keyword", "hybrid"):
                if kind != "flat" and mode == "keyword":
                    continue
                for fname in FILTERS:
                    configs.append((n, kind, mode, fname))
    rng = random.Random(seed)
    times: dict[str, list[float]] = {"|".join(map(str, c)): [] for c in configs}
    retrievers = {}
    for n, ix in indexes.items():
        for kind, vec in ix["vectors"].items():
            r = Retriever(ix["index"], None)
            retrievers[(n, kind)] = (r, vec)
    filters = {k: Filters(**v) for k, v in FILTERS.items()}
    # warm-up: one pass of every config
    for c in configs:
        _search(retrievers, c, queries[0], filters)
    for _ in range(rounds):
        for q in queries:
            order = configs[:]
            rng.shuffle(order)
            for c in order:
                t = time.perf_counter()
                _search(retrievers, c, q, filters)
                times["|".join(map(str, c))].append((time.perf_counter() - t) * 1000)
    return times


def _search(retrievers, config, q, filters):
    n, kind, mode, fname = config
    r, vec = retrievers[(n, kind)]
    r.index.vectors = vec
    return r.search(q["question"], k=5, filters=filters[fname], mode=mode, query_vector=q["vector"])


def hnsw_recall(index, flat, hnsw, queries: list[dict[str, Any]]) -> dict[str, float]:
    """recall@10 and @50 of HNSW against exact search (VectorIndex.search, as the retriever calls it)."""
    from rag.store.catalog import Filters

    out: dict[str, float] = {}
    for fname, f in FILTERS.items():
        allowed = index.catalog.chunk_ids(Filters(**f)) if f else None
        out[f"allowed_{fname}"] = len(allowed) if allowed is not None else flat.size
        for k in (10, 50):
            rec = []
            for q in queries:
                exact = {i for i, _ in flat.search(q["vector"], k, allowed)}
                if not exact:
                    continue
                approx = {i for i, _ in hnsw.search(q["vector"], k, allowed)}
                rec.append(len(exact & approx) / len(exact))
            out[f"recall@{k}_{fname}"] = statistics.mean(rec) if rec else float("nan")
    return out


# --------------------------------------------------------------------------- 4. embedding runtimes
def bench_backends(settings, corpus: Path, limit: int | None, rounds: int, log: Callable[[str], None],
                   only: str | None = None) -> dict[str, Any]:
    """Throughput of embedding real chunks per runtime (backend × threads × batch size), and agreement and
    hit@5/10 against the torch float32 model."""
    import numpy as np
    import torch

    from rag.embedding.embedder import load_embedder
    from rag.sources import discover, parse_path
    from rag.store.chunking import chunk_spans

    files, _ = discover([corpus])
    chunks: list[tuple[str, str]] = []  # (turn text, chunk text) in document order
    for f in files:
        for t in parse_path(f).turns:
            chunks += [(t.text, t.text[s:e]) for s, e in chunk_spans(t.text)]
    all_texts = [c for _, c in chunks]
    texts = all_texts[:limit] if limit else all_texts  # timed passes; quality always on all chunks
    questions = load_questions()
    cores = torch.get_num_threads()

    def load(backend: str, threads: int):
        return load_embedder(settings.model, settings.model_cache, backend, threads)

    reference = load("torch", 0)
    onnx_all, onnx_one = load("onnx-int8", 0), load("onnx-int8", 1)
    loads = {backend: _cold_start(settings, backend) for backend in ("torch", "onnx-int8")}
    tokens = int(sum(min(n, reference.max_tokens) for n in reference.token_count(texts)))
    log(f"{len(texts)} timed chunks ({tokens} tokens), quality on {len(all_texts)} chunks and {len(questions)} questions")
    # name -> (embedder, batch size, torch threads while it runs)
    variants: dict[str, tuple[Any, int, int]] = {
        f"torch bs8, {cores} threads": (reference, 8, cores),
        "torch bs8, 1 thread": (reference, 8, 1),
        "torch bs32, 1 thread": (reference, 32, 1),
        # onnx-int8 runs texts one at a time whatever the batch size (see rag/embedding/onnx_int8.py)
        f"onnx-int8, {cores} threads": (onnx_all, 8, cores),
        "onnx-int8, 1 thread": (onnx_one, 8, 1),
    }
    if only:
        words = [w.strip() for w in only.split(",") if w.strip()]
        variants = {n: v for n, v in variants.items() if any(w in n for w in words)} or variants
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(rounds):  # interleaved in a different order each round: ratios survive a busy machine
        names = list(variants)
        random.Random(r).shuffle(names)
        for name in names:
            emb, batch, threads = variants[name]
            torch.set_num_threads(threads)
            t = time.perf_counter()
            emb.embed_passages(texts, batch_size=batch)
            times[name].append(time.perf_counter() - t)
            log(f"  round {r + 1} {name}: {len(texts) / times[name][-1]:.1f} chunks/s")
    torch.set_num_threads(cores)

    first = next(iter(variants))
    out: dict[str, Any] = {"chunks": len(texts), "tokens": tokens, "rounds": rounds, "rows": [], "load_s": loads,
                           "quality_chunks": len(all_texts), "questions": len(questions), "reference": first}
    quality: dict[int, tuple[Any, Any]] = {}
    for emb in {id(v[0]): v[0] for v in variants.values()}.values():
        log(f"  quality: {emb.backend}")
        quality[id(emb)] = (emb.embed_passages(all_texts), np.stack([emb.embed_query(q["question"]) for q in questions]))
    ref_e = quality[id(reference)][0] if id(reference) in quality else reference.embed_passages(all_texts)
    for name, (emb, _, _) in variants.items():
        e, qv = quality[id(emb)]
        cos = np.sum(e * ref_e, axis=1)
        med = statistics.median(times[name])
        out["rows"].append({
            "variant": name, "chunks_per_s": len(texts) / med, "tokens_per_s": tokens / med,
            "speedup": statistics.median(times[first]) / med, "cos_mean": float(cos.mean()),
            "cos_min": float(cos.min()),
            "hit@5": _hit_at(qv, e, chunks, questions, 5), "hit@10": _hit_at(qv, e, chunks, questions, 10),
        })
    return out


def _cold_start(settings, backend: str) -> float:
    """Seconds from a fresh interpreter to the first query vector (imports + model load + one query)."""
    code = ("import time; t = time.perf_counter(); from rag.embedding.embedder import load_embedder; "
            f"load_embedder({settings.model!r}, {str(settings.model_cache)!r}, {backend!r}).embed_query('生成AI'); "
            "print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _hit_at(qv, emb, chunks: list[tuple[str, str]], questions: list[dict[str, Any]], k: int) -> float:
    """Share of questions with a top-k turn (best chunk per turn) containing the gold quote."""
    import numpy as np

    from rag.answering.base import nfkc

    turn_texts = [t for t, _ in chunks]
    turns_sq = [nfkc(t) for t in turn_texts]
    scores = qv @ emb.T
    hits = asked = 0
    for qi, q in enumerate(questions):
        if not q.get("quote"):
            continue  # a question without a gold quote (e.g. one the corpus cannot answer)
        asked += 1
        seen: list[int] = []
        for ci in np.argsort(-scores[qi]):
            tt = turn_texts[ci]
            if any(turn_texts[s] is tt for s in seen):
                continue
            seen.append(int(ci))
            if len(seen) == k:
                break
        quote = nfkc(q["quote"])
        hits += any(quote in turns_sq[ci] for ci in seen)
    return hits / max(asked, 1)


# --------------------------------------------------------------------------- report
def render(results: dict[str, Any]) -> str:
    head = f"## Benchmarks (`python -m rag bench`)\n\nRun {results['started']} on {results['machine']}"
    if results.get("queries"):
        head += (f"; {results['queries']} queries × {results['rounds']} rounds, "
                 "configurations interleaved query by query")
    parts = [head + "."]
    ing = results.get("ingest")
    if ing:
        parts.append(f"### Ingest (real sample corpus, real model, {results.get('backend')}, threads "
                     f"{results.get('threads')}, "
                     f"batch size {results.get('batch_size')}; model load {results.get('model_load_s', 0):.1f} s)\n")
        parts.append(_table(
            ["files", "turns", "chunks", "embedded texts", "embedded tokens", "parse s", "add s (catalog+Sudachi)",
             "embed s", "commit s", "turns/s", "texts/s", "tokens/s", "index on disk", "peak RSS"],
            [[ing["files"], ing["turns"], ing["chunks"], ing["embedded_texts"], ing["tokens"], ing["parse_s"], ing["add_s"], ing["embed_s"],
              ing["commit_s"], ing["turns_per_s"], ing["embed_chunks_per_s"], ing["embed_tokens_per_s"],
              f"{ing['disk_bytes'] / 1e6:.2f} MB", f"{ing['peak_rss_mb']:.0f} MB"]]))
        parts.append(f"\nQuery embedding (model, one question): p50 {results['embed_query_ms_p50']:.1f} ms, "
                     f"p95 {results['embed_query_ms_p95']:.1f} ms — add it to dense/hybrid latencies below.")
    builds = results.get("builds")
    if builds:
        parts.append("\n### Synthetic corpora: build (real store code; vectors synthesised, no model)\n")
        rows = []
        for n, b in builds.items():
            pb = b["parts_bytes"]
            rows.append([n, b["chunks"], b["add_s"], b["commit_s"], f"{b['disk_bytes'] / 1e6:.1f} MB",
                         f"{pb.get('catalog.sqlite', 0) / 1e6:.1f} / {pb.get('vectors.faiss', 0) / 1e6:.1f} / "
                         f"{pb.get('keyword', 0) / 1e6:.1f} / {pb.get('sentences.faiss', 0) / 1e6:.1f}",
                         b.get("hnsw_build_s", float("nan")),
                         f"{b['hnsw_bytes'] / 1e6:.1f} MB" if "hnsw_bytes" in b else "–",
                         f"{b['rss_after_mb']:.0f} MB"])
        parts.append(_table(["turns", "embedded texts", "add s", "commit s (BM25+VACUUM+fsync)", "on disk",
                             "catalog / chunk vectors / bm25 / sentence vectors MB", "HNSW build s", "HNSW file", "RSS after"], rows))
    lat = results.get("latency")
    if lat:
        parts.append("\n### Search latency, ms (Retriever.search k=5, query vector precomputed)\n")
        parts.append("Filters: body = 下関市議会 (≈1/6 of turns); narrow = that body and 4 of the 20 synthetic years (≈1/30).\n")
        sizes = sorted({int(k.split("|")[0]) for k in lat})
        rows = []
        for mode in ("dense", "keyword", "hybrid"):
            for fname in FILTERS:
                for kind in ("flat", "hnsw"):
                    if kind == "hnsw" and mode == "keyword":
                        continue
                    row = [mode, fname, kind]
                    ok = False
                    for n in sizes:
                        v = lat.get(f"{n}|{kind}|{mode}|{fname}")
                        if v:
                            ok = True
                            row.append(f"{_pct(v, 50):.1f} / {_pct(v, 95):.1f}")
                        else:
                            row.append("–")
                    if ok:
                        if len(sizes) > 1:
                            a = lat.get(f"{sizes[0]}|{kind}|{mode}|{fname}")
                            b = lat.get(f"{sizes[-1]}|{kind}|{mode}|{fname}")
                            row.append(f"×{_pct(b, 50) / _pct(a, 50):.1f}" if a and b else "–")
                        rows.append(row)
        heads = ["mode", "filter", "vectors"] + [f"{n:,} turns p50 / p95" for n in sizes]
        if len(sizes) > 1:
            heads.append(f"p50 growth {sizes[0]:,}→{sizes[-1]:,}")
        parts.append(_table(heads, rows))
    rec = results.get("recall")
    if rec:
        parts.append("\n### Exact (flat) vs HNSW dense search (VectorIndex.search; M=32, efConstruction=80, "
                     "efSearch=max(64, 2k))\n")
        rows = []
        for n, r in rec.items():
            fl = lat.get(f"{n}|flat|dense|none") if lat else None
            hn = lat.get(f"{n}|hnsw|dense|none") if lat else None
            fln = lat.get(f"{n}|flat|dense|narrow") if lat else None
            hnn = lat.get(f"{n}|hnsw|dense|narrow") if lat else None
            rows.append([n, r["recall@10_none"], r["recall@50_none"], r["recall@10_body"], r["recall@10_narrow"],
                         f"{r['allowed_narrow']:,}",
                         f"{_pct(fl, 50):.2f} / {_pct(hn, 50):.2f}" if fl and hn else "–",
                         f"×{_pct(fl, 50) / _pct(hn, 50):.1f}" if fl and hn else "–",
                         f"{_pct(fln, 50):.2f} / {_pct(hnn, 50):.2f}" if fln and hnn else "–"])
        parts.append(_table(["turns", "recall@10", "recall@50", "recall@10 body filter", "recall@10 narrow filter",
                             "narrow: allowed chunks", "dense p50 ms flat / HNSW", "HNSW speedup",
                             "narrow p50 ms flat / HNSW"], rows))
    be = results.get("backends")
    if be:
        parts.append(f"\n### Embedding runtimes (timed: {be['chunks']} real chunks, {be['tokens']} tokens, median of "
                     f"{be['rounds']} interleaved rounds; quality: {be['quality_chunks']} chunks, "
                     f"{be['questions']} questions, dense only, best chunk per turn)\n")
        parts.append(_table(["variant", "chunks/s", "tokens/s", f"speed vs {be['reference']}",
                             "cosine to torch float32 mean / min", "hit@5", "hit@10"],
                            [[r["variant"], r["chunks_per_s"], r["tokens_per_s"], f"×{r['speedup']:.2f}",
                              f"{r['cos_mean']:.4f} / {r['cos_min']:.4f}", r["hit@5"], r["hit@10"]]
                             for r in be["rows"]]))
        parts.append("\nCold start (fresh interpreter → imports, model load, first query vector): " +
                     ", ".join(f"{k} {v:.1f} s" for k, v in be["load_s"].items()))
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- main
def main(args: argparse.Namespace | list[str] | None = None, settings=None) -> int:
    if not isinstance(args, argparse.Namespace):
        p = argparse.ArgumentParser(prog="python -m rag.bench", description=__doc__.split("\n\n")[0])
        add_arguments(p)
        args = p.parse_args(args)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rag.config import SAMPLE_CORPUS, Settings

    settings = settings or Settings()
    quick = args.quick
    sizes = [int(s) for s in (args.sizes or ("1000" if quick else "1000,10000,100000")).split(",") if s.strip()]
    nq = args.queries or (20 if quick else None)
    rounds = args.rounds or (1 if quick else 2)
    corpus = args.corpus or SAMPLE_CORPUS
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M"), "sizes": sizes, "rounds": rounds,
                               "batch_size": settings.batch_size,
                               "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"}
    own_work = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="rag-bench-")) if own_work else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        if not args.backends_only:
            _bench_store(args, settings, corpus, sizes, nq, rounds, work, results, log)
        else:
            results["queries"] = 0
        if args.backends or args.backends_only:
            log("embedding runtimes ...")
            results["backends"] = bench_backends(settings, corpus, args.backend_texts, 1 if quick else max(rounds, 3), log,
                                                args.variants)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    text = render(results)
    print(text)
    if args.report:
        args.report.write_text(text, encoding="utf-8")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return 0


def _bench_store(args, settings, corpus, sizes, nq, rounds, work, results, log) -> None:
    from rag.embedding.embedder import load_embedder

    threads = args.threads if args.threads is not None else settings.embed_threads
    results["threads"] = threads or f"all ({os.cpu_count()})"
    t = time.perf_counter()
    embedder = load_embedder(settings.model, settings.model_cache, settings.embed_backend, threads)
    results["backend"] = embedder.backend
    results["model_load_s"] = time.perf_counter() - t
    log(f"ingesting {corpus} (real model, {embedder.backend}, threads {results['threads']}) ...")
    files = args.ingest_files or (1 if args.quick else None)
    results["ingest"] = real_ingest(corpus, settings, embedder, work / "real", files)
    log(f"  {results['ingest']['turns']} turns in {results['ingest']['total_s']:.1f} s")

    questions = load_questions(nq)
    qt = []
    for q in questions:
        t = time.perf_counter()
        q["vector"] = embedder.embed_query(q["question"])
        qt.append((time.perf_counter() - t) * 1000)
    results["queries"] = len(questions)
    results["embed_query_ms_p50"] = _pct(qt, 50)
    results["embed_query_ms_p95"] = _pct(qt, 95)

    chunks, real_index = real_chunks(work / "real" )
    syn = Synthesiser(chunks, seed=args.seed)
    real_index.close()
    del embedder
    gc.collect()

    from rag.store.index import Index

    indexes: dict[int, dict[str, Any]] = {}
    results["builds"], results["recall"] = {}, {}
    for n in sizes:
        log(f"building synthetic index of {n:,} turns ...")
        folder = work / f"syn-{n}"
        b = build_synthetic(syn, n, folder, settings, chunks[0]["vector"].shape[0])
        index = Index.open(folder)
        vecs = {"flat": index.vectors}
        if not args.no_hnsw:
            h, secs, size = hnsw_of(index, index.manifest.dimension)
            b["hnsw_build_s"], b["hnsw_bytes"] = secs, size
            vecs["hnsw"] = h
            results["recall"][n] = hnsw_recall(index, index.vectors, h, questions)
        results["builds"][n] = b
        indexes[n] = {"index": index, "vectors": vecs}
        log(f"  built in {b['add_s'] + b['commit_s']:.1f} s, {b['disk_bytes'] / 1e6:.1f} MB")
    log("measuring latency ...")
    results["latency"] = measure_latency(indexes, questions, rounds, seed=args.seed)
    for ix in indexes.values():
        ix["index"].vectors = ix["vectors"]["flat"]
        ix["index"].close()


if __name__ == "__main__":
    sys.exit(main())
