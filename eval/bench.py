"""`python eval/bench.py`: ingest throughput, index size, memory, query latency per retrieval mode at growing
corpus sizes, exact (flat) vs approximate (IVF) vectors and Milvus Lite, and (with --backends) the embedding model's CPU throughput and
quality per runtime option. A client of the package like any other: sources, readers, indexing, the store
interface (open_writer / open_store) and the Retriever; nothing here knows how a store keeps its data.

What is real and what is synthesised:

* ingest: the real corpus read (FolderSource, readers.read), prepared (indexing.prepare: chunking and keyword
  tokens), embedded by the real model (indexing.embed) and written through the store's writer, phase by phase.
* larger corpora (--sizes): turns made by recombining real sentences (each synthetic turn takes a real turn's
  sentences, replaces ~30% with sentences from elsewhere and shuffles them) under real speakers and meetings
  (dates moved to random years, so date filters select a share). Each synthetic document goes through
  indexing.prepare; its keyword tokens are the real tokenizer's output cached per sentence, and its vectors
  are the real model's embeddings of the sentences' source chunks, averaged, with Gaussian noise added and
  renormalised (no model runs for them). The same PreparedDocuments are written to two local stores that differ
  only in RAG_HNSW_THRESHOLD (10**12: exact search; 0: the approximate index, an IVF) and, with --milvus, to a
  Milvus Lite store, all searched through the Retriever.
* --clone-from N: corpora larger than N turns are made of copies of the N-turn corpus's prepared documents
  under new meetings, keys and dates, with their vectors' noise drawn again (the fast path for 1M turns:
  synthesising every turn anew costs ~1 ms of Python per turn on top of the writes).
* queries: the real questions of eval/questions.jsonl embedded by the real model; search latency is measured
  with the query vector precomputed, and the model's query-embedding time is given separately.

Absolute times on a shared 2-core machine are noisy: configurations are interleaved query by query and
compared as ratios within one run.
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
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: the package is the project's own
    sys.path.insert(0, str(ROOT))

QUESTIONS = ROOT / "eval" / "questions.jsonl"
NOISE_SIGMA = 0.02  # per dimension; |noise| ~ 0.39 for 384 dims, cosine to the clean vector ~0.93
REPLACE_P = 0.3  # share of a synthetic turn's sentences taken from other turns
YEARS = list(range(2005, 2025))  # synthetic meetings are spread over these years
VECTOR_KINDS = {"flat": 10**12, "ivf": 0}  # hnsw_threshold (approximate-index threshold) of each local store
MILVUS = "milvus-lite"
MODES = ("dense", "keyword", "hybrid")
FILTERS = {
    "none": {},
    "body": {"body": "下関市議会"},  # about 1 meeting in 6
    "narrow": {"body": "下関市議会", "since": "2021-01-01", "until": "2024-12-31"},  # about 1 in 30
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python eval/bench.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=None,
                   help="corpus sizes in turns for the latency runs, comma-separated "
                        "(default 1000,10000,100000; --quick: 1000)")
    p.add_argument("--quick", action="store_true",
                   help="small and short: fewer queries, one round, smallest sizes")
    p.add_argument("--queries", type=int, default=None, help="questions used as queries (default all; --quick 20)")
    p.add_argument("--rounds", type=int, default=None, help="rounds over the queries (default 2; --quick 1)")
    p.add_argument("--corpus", type=Path, default=None, help="real minutes to ingest (default the sample corpus)")
    p.add_argument("--no-approx", "--no-hnsw", dest="no_approx", action="store_true",
                   help="skip the approximate (IVF) local store")
    p.add_argument("--milvus", action="store_true", help="also write and search a Milvus Lite store of the same units")
    p.add_argument("--milvus-max-turns", type=int, default=100000,
                   help="Milvus Lite only up to this size (its writes take ~6 ms per turn here)")
    p.add_argument("--clone-from", type=int, default=None,
                   help="sizes above this many turns copy that corpus's documents (new meetings, dates, noise)")
    p.add_argument("--backends", action="store_true",
                   help="also compare embedding runtimes (torch / onnx-int8 × threads × batch size)")
    p.add_argument("--backends-only", action="store_true", help="only the embedding runtime comparison")
    p.add_argument("--backend-texts", type=int, default=None, help="passages for the runtime comparison (default all)")
    p.add_argument("--variants", default=None,
                   help="runtime comparison: only variants whose name contains one of these comma-separated words")
    p.add_argument("--workdir", type=Path, default=None, help="where the bench indexes go (default a temp folder)")
    p.add_argument("--json", "--json-out", dest="json_out", type=Path, default=None,
                   help="also write all figures as JSON here")
    p.add_argument("--report", type=Path, default=None, help="also write the markdown tables here")
    p.add_argument("--ingest-files", type=int, default=None,
                   help="ingest only the first N files of the corpus (default all; --quick 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per embedding call for the ingest bench, 0 = all cores (default RAG_EMBED_THREADS)")
    p.add_argument("--seed", type=int, default=0)
    return p


# --------------------------------------------------------------------------- generic measurement
def rss_mb() -> float:
    """Current resident set size (MB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KB on Linux


def pct(values: list[float] | None, q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q / 100 * (len(v) - 1)))))]


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def fmt(x: Any) -> str:
        if isinstance(x, float):
            return "–" if x != x else f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"
        return str(x)

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(out + ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows])


def load_questions(limit: int | None = None) -> list[dict[str, Any]]:
    from rag.evaluation.runner import load_questions as load_set

    qs = load_set(QUESTIONS)
    return qs[:limit] if limit else qs


def store_stats(settings) -> dict[str, Any]:
    from rag.store import open_store

    store = open_store(settings)
    try:
        return store.stats()
    finally:
        store.close()


# --------------------------------------------------------------------------- 1. real ingest
def real_ingest(corpus: Path, settings, embedder, max_files: int | None = None) -> tuple[dict[str, Any], list]:
    """What rag.ingest does on a fresh index, phase by phase: read, prepare, embed, write. Returns the figures
    and the PreparedDocuments (with their real vectors, for the synthetic corpora)."""
    from rag.indexing.prepare import embed, prepare
    from rag.readers import PARSER_VERSION, read
    from rag.sources import FolderSource
    from rag.sources.folder import file_document
    from rag.store import open_writer

    res: dict[str, Any] = {"rss_start_mb": rss_mb()}
    t = time.perf_counter()
    files, _ = FolderSource([corpus]).files()
    raws = [file_document(f) for f in (files[:max_files] if max_files else files)]
    parsed = [(raw, p) for raw in raws if (p := read(raw)).turns]
    res["parse_s"] = time.perf_counter() - t
    res["files"] = len(parsed)
    res["bytes"] = sum(len(raw.data) for raw, _ in parsed)
    res["turns"] = sum(len(p.turns) for _, p in parsed)

    texts: list[str] = []

    def embed_passages(batch: list[str]):
        texts.extend(batch)
        return embedder.embed_passages(batch, batch_size=settings.batch_size)

    with open_writer(settings, dimension=embedder.dimension, embed_backend=embedder.backend,
                     parser_version=PARSER_VERSION, rebuild=True) as writer:
        t = time.perf_counter()
        docs = [prepare(raw.key, raw.fingerprint(PARSER_VERSION), p, writer.manifest.tokenizer,
                        writer.manifest.context) for raw, p in parsed]
        res["prepare_s"] = time.perf_counter() - t  # chunking + keyword tokens (Sudachi)
        t = time.perf_counter()
        res["embedded_texts"] = embed(docs, embed_passages)
        res["embed_s"] = time.perf_counter() - t
        res["rss_after_embed_mb"] = rss_mb()
        t = time.perf_counter()
        for d in docs:
            writer.add(d)
        writer.commit()
        res["store_s"] = time.perf_counter() - t  # store writes + commit (BM25, VACUUM, fsync)
    res["chunks"] = sum(len(d.chunks) for d in docs)  # the rest of the embedded texts are sentences
    res["chars"] = sum(len(x) for x in texts)
    tok = embedder.token_count(texts)
    res["tokens"] = int(sum(min(n, embedder.max_tokens) for n in tok))
    res["tokens_truncated"] = int(sum(n > embedder.max_tokens for n in tok))
    res["total_s"] = res["parse_s"] + res["prepare_s"] + res["embed_s"] + res["store_s"]
    res["turns_per_s"] = res["turns"] / res["total_s"]
    res["embed_texts_per_s"] = res["embedded_texts"] / res["embed_s"]
    res["embed_tokens_per_s"] = res["tokens"] / res["embed_s"]
    res["disk_bytes"] = store_stats(settings)["size_bytes"]
    res["peak_rss_mb"] = peak_rss_mb()
    return res, docs


# --------------------------------------------------------------------------- 2. synthetic corpora
class Synthesiser:
    """Synthetic documents from real sentences, prepared like real ones; vectors from the real embeddings of
    their sentences' source chunks, keyword tokens from the real tokenizer cached per sentence."""

    def __init__(self, docs: list, seed: int = 0):
        import numpy as np

        from rag.indexing.chunking import sentence_spans

        self.np = np
        self.rng = random.Random(seed)
        self.nrng = np.random.default_rng(seed)
        self.sentence_spans = sentence_spans
        sent_vecs: dict[str, list[Any]] = {}
        self.turns: list[dict[str, Any]] = []
        for d in docs:
            meetings = {m.id: m for m in d.parsed.meetings}
            text_of = {k: t.text for k, t in zip(d.turn_keys, d.parsed.turns)}
            for c in d.chunks:
                piece = text_of[c.turn_key][c.start:c.end]
                for s, e in sentence_spans(piece):
                    sent_vecs.setdefault(piece[s:e], []).append(c.vector)
            for t in d.parsed.turns:
                sentences = [t.text[s:e] for s, e in sentence_spans(t.text)]
                if sentences:
                    self.turns.append({"turn": t, "meeting": meetings[t.meeting_id], "sentences": sentences})
        self.sent_vec = {s: self.unit(np.mean(v, axis=0)) for s, v in sent_vecs.items()}
        self.pool = [s for t in self.turns for s in t["sentences"]]
        self.all_vecs = np.stack([c.vector for d in docs for c in d.chunks])
        self.meetings = list({id(t["meeting"]): t["meeting"] for t in self.turns}.values())
        self.token_cache: dict[tuple[str, str], list[str]] = {}

    def unit(self, v):
        return v / max(float(self.np.linalg.norm(v)), 1e-12)

    def turn_text(self, base: dict[str, Any]) -> str:
        sents = [s if self.rng.random() > REPLACE_P else self.rng.choice(self.pool) for s in base["sentences"]]
        if len(sents) > 2:
            self.rng.shuffle(sents)
        return ("\n" if self.rng.random() < 0.2 else "").join(sents)

    def tokens(self, text: str, how: str) -> list[str]:
        """The real tokenizer, applied per sentence and cached (the real one is timed in the ingest section)."""
        from rag.indexing.tokens import tokenize

        out: list[str] = []
        for s, e in self.sentence_spans(text):
            key = (text[s:e], how)
            if key not in self.token_cache:
                self.token_cache[key] = tokenize(key[0], how)
            out += self.token_cache[key]
        return out

    def vectors(self, texts: list[str]):
        """Stand-in for the model's embed_passages: mean of the texts' real sentence vectors, plus noise."""
        np = self.np
        out = np.empty((len(texts), self.all_vecs.shape[1]), dtype=np.float32)
        for i, text in enumerate(texts):
            vs = [self.sent_vec[text[s:e]] for s, e in self.sentence_spans(text) if text[s:e] in self.sent_vec]
            base = np.mean(vs, axis=0) if vs else self.all_vecs[self.rng.randrange(len(self.all_vecs))]
            out[i] = self.unit(self.unit(base) + self.nrng.normal(0.0, NOISE_SIGMA, size=base.shape))
        return out

    def parsed_documents(self, n_turns: int, turns_per_doc: int = 27):
        """(key, ParsedDocument) pairs holding n_turns synthetic turns in all."""
        from dataclasses import replace

        from rag.records import ParsedDocument

        made = d = 0
        while made < n_turns:
            m0 = self.rng.choice(self.meetings)
            date = m0.date and f"{self.rng.choice(YEARS)}{m0.date[4:8]}{min(int(m0.date[8:10]), 28):02d}"
            meeting = replace(m0, id=f"syn-{d}", doc=f"syn-{d:06d}.txt", source=f"synthetic/{d:06d}", date=date)
            turns, text, pos = [], [], 0
            for j in range(min(turns_per_doc, n_turns - made)):
                base = self.rng.choice(self.turns)
                body = self.turn_text(base)
                turns.append(replace(base["turn"], meeting_id=meeting.id, order=j + 1, text=body,
                                     pieces=[(pos, pos + len(body))], url=None))
                text.append(body)
                pos += len(body) + 1
            yield f"synthetic:{d:06d}", ParsedDocument(doc=meeting.doc, source=meeting.source, format="text",
                                                        text="\n".join(text), content_hash=f"syn{d}",
                                                        meetings=[meeting], turns=turns)
            made += len(turns)
            d += 1

    def prepared(self, key: str, parsed, tokenizer: str, context: str):
        """indexing.prepare with cheap bigram tokens, then the cached real tokens; synthesised vectors."""
        from rag.indexing.prepare import embed, prepare

        doc = prepare(key, key, parsed, "bigram", context)
        text_of = {k: t.text for k, t in zip(doc.turn_keys, doc.parsed.turns)}
        for c in doc.chunks:
            c.tokens = self.tokens(text_of[c.turn_key][c.start:c.end], tokenizer)
        embed([doc], self.vectors, batch=4096)
        return doc


def clone(doc, copy: int, rng: random.Random, nrng, sigma: float = NOISE_SIGMA):
    """A copy of a prepared synthetic document under a new key, meeting and date; chunk vectors get fresh noise."""
    import hashlib
    from dataclasses import replace

    import numpy as np

    key = f"{doc.key}~{copy}"
    ids = {m.id: hashlib.sha1(f"{key}\0{m.id}".encode()).hexdigest()[:16] for m in doc.parsed.meetings}
    meetings = [replace(m, id=ids[m.id], doc=f"{m.doc}~{copy}", source=f"{m.source}~{copy}",
                        date=m.date and f"{rng.choice(YEARS)}{m.date[4:]}") for m in doc.parsed.meetings]
    turns = [replace(t, meeting_id=ids[t.meeting_id]) for t in doc.parsed.turns]
    parsed = replace(doc.parsed, doc=meetings[0].doc, source=meetings[0].source, meetings=meetings, turns=turns)
    tk = {old: f"{t.meeting_id}:{t.order}" for old, t in zip(doc.turn_keys, turns)}
    vecs = np.stack([c.vector for c in doc.chunks]) if doc.chunks else np.zeros((0, 1), np.float32)
    vecs = vecs + nrng.normal(0.0, sigma, size=vecs.shape).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    chunks = [replace(c, key=f"{tk[c.turn_key]}:c{c.key.rpartition(':c')[2]}", turn_key=tk[c.turn_key], vector=v)
              for c, v in zip(doc.chunks, vecs)]
    sentences = [replace(x, turn_key=tk[x.turn_key]) for x in doc.sentences]
    return replace(doc, key=key, parsed=parsed, turn_keys=[tk[k] for k in doc.turn_keys], chunks=chunks,
                   sentences=sentences)


def synthetic_documents(syn: Synthesiser, n: int, tokenizer: str, context: str, res: dict[str, Any],
                        pool: list | None = None, keep: list | None = None):
    """n turns of prepared documents: synthesised, or (with a pool) copies of the pool's documents."""
    made = 0
    if pool:
        copy = 0
        while made < n:
            copy += 1
            for doc in pool:
                if made >= n:
                    return
                t = time.perf_counter()
                out = clone(doc, copy, syn.rng, syn.nrng)
                res["synth_s"] += time.perf_counter() - t
                made += len(out.turn_keys)
                yield out
        return
    for key, parsed in syn.parsed_documents(n):
        t = time.perf_counter()
        doc = syn.prepared(key, parsed, tokenizer, context)
        res["synth_s"] += time.perf_counter() - t
        if keep is not None:
            keep.append(doc)
        yield doc


def build_synthetic(syn: Synthesiser, n: int, work: Path, settings, dimension: int, backend: str,
                    kinds: list[str], pool: list | None = None,
                    keep: list | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """n synthetic turns written once per store kind (the same documents; local stores with different
    hnsw_threshold, and Milvus Lite). Returns the figures and each kind's Settings."""
    from rag.readers import PARSER_VERSION
    from rag.store import open_writer

    conf = {kind: settings.with_overrides(index_dir=work / f"syn-{n}-{kind}", context_prefix="none",
                                          **({"store": "milvus"} if kind == MILVUS else
                                             {"store": "local", "hnsw_threshold": VECTOR_KINDS[kind]}))
            for kind in kinds}
    res: dict[str, Any] = {"turns": n, "rss_start_mb": rss_mb(), "synth_s": 0.0, "sentences": 0,
                           "cloned": bool(pool)}
    # copies (--clone-from): the IVF store is the flat store's files with its vectors made an IVF, as the
    # writer's commit would make them (VectorIndex.rebalanced), instead of writing every turn twice
    derive_ivf = bool(pool) and "flat" in kinds and "ivf" in kinds
    written = [k for k in kinds if not (derive_ivf and k == "ivf")]
    add_s = dict.fromkeys(kinds, 0.0)
    with ExitStack() as stack:  # a writer that does not reach commit() aborts, leaving nothing behind
        writers = {kind: stack.enter_context(open_writer(conf[kind], dimension=dimension, embed_backend=backend,
                                                         parser_version=PARSER_VERSION, rebuild=True))
                   for kind in written}
        manifest = writers[kinds[0]].manifest
        for doc in synthetic_documents(syn, n, manifest.tokenizer, manifest.context, res, pool, keep):
            res["sentences"] += len(doc.sentences)
            for kind, writer in writers.items():
                t = time.perf_counter()
                writer.add(doc)
                add_s[kind] += time.perf_counter() - t
        for kind, writer in writers.items():
            t = time.perf_counter()
            writer.commit()
            res[f"{kind}_commit_s"] = time.perf_counter() - t
            res[f"{kind}_add_s"] = add_s[kind]
    if derive_ivf:
        t = time.perf_counter()
        derive_ivf_store(conf["flat"].index_dir, conf["ivf"].index_dir)
        res["ivf_add_s"], res["ivf_commit_s"], res["ivf_derived"] = 0.0, time.perf_counter() - t, True
    for kind in kinds:
        stats = store_stats(conf[kind])
        res[f"{kind}_bytes"] = dir_bytes(conf[kind].index_dir)
        res.setdefault("chunks", stats["chunks"])
        res[f"{kind}_turns"] = stats["turns"]
    res["disk_bytes"] = res["flat_bytes"]
    res["rss_after_mb"] = rss_mb()
    res["peak_rss_mb"] = peak_rss_mb()
    return res, conf


def derive_ivf_store(flat_dir: Path, ivf_dir: Path) -> None:
    """The flat store's live generation copied, its chunk vectors rebuilt as the IVF the writer would build."""
    from rag.store.base import Manifest
    from rag.store.vectors import VectorIndex

    gen = flat_dir / (flat_dir / "CURRENT").read_text().strip()
    shutil.rmtree(ivf_dir, ignore_errors=True)
    ivf_dir.mkdir(parents=True)
    shutil.copytree(gen, ivf_dir / gen.name)
    vectors = VectorIndex.load(gen / "vectors.faiss").rebalanced(0)
    vectors.save(ivf_dir / gen.name / "vectors.faiss")
    manifest = Manifest.from_json((gen / "manifest.json").read_text(encoding="utf-8"))
    manifest.vector_index = vectors.kind
    (ivf_dir / gen.name / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    (ivf_dir / "CURRENT").write_text(gen.name)


def dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def tree_rss_mb() -> float:
    """Resident memory of this process and its children (Milvus Lite may run a server beside it)."""
    total = rss_mb()
    try:
        kids = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    except OSError:
        kids = []
    for pid in kids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
        except OSError:
            pass
    return total


# --------------------------------------------------------------------------- 3. latency and recall
def measure_latency(stores: dict[tuple[int, str], Any], queries: list[dict[str, Any]], rounds: int,
                    seed: int = 0) -> dict[str, list[float]]:
    """Interleaved: each query runs every (size, vectors, mode, filter) configuration in a shuffled order."""
    from rag.records import Filters
    from rag.retrieval import Retriever

    retrievers = {key: Retriever(store, None) for key, store in stores.items()}
    filters = {name: Filters(**f) for name, f in FILTERS.items()}
    configs = [(n, kind, mode, fname) for (n, kind) in stores for mode in MODES for fname in FILTERS
               if not (kind == "ivf" and mode == "keyword")]  # keyword search does not use the vectors

    def search(config, q):
        n, kind, mode, fname = config
        return retrievers[(n, kind)].search(q["question"], k=5, filters=filters[fname], mode=mode,
                                            query_vector=q["vector"])

    times: dict[str, list[float]] = {"|".join(map(str, c)): [] for c in configs}
    for c in configs:  # warm-up: one pass of every configuration
        search(c, queries[0])
    rng = random.Random(seed)
    for _ in range(rounds):
        for q in queries:
            order = configs[:]
            rng.shuffle(order)
            for c in order:
                t = time.perf_counter()
                search(c, q)
                times["|".join(map(str, c))].append((time.perf_counter() - t) * 1000)
    # a filter met for the first time: the local store evaluates it in SQL once and keeps the allowed ids for
    # the next searches (a question searches twice with one filter), so the loop above times later searches
    for c in configs:
        n, kind, mode, fname = c
        cache = getattr(stores[(n, kind)], "_allowed", None)
        if fname == "none" or mode != "hybrid":
            continue
        key = "|".join(map(str, c)) + "|first"
        times[key] = []
        for q in queries[:10]:
            if cache is not None:
                cache.clear()
            t = time.perf_counter()
            search(c, q)
            times[key].append((time.perf_counter() - t) * 1000)
    return times


def open_and_warm(settings, queries: list[dict[str, Any]]) -> tuple[Any, float]:
    """Open a store and run one search of each mode and filter (loading what it loads); MB of memory it took."""
    from rag.records import Filters
    from rag.retrieval import Retriever
    from rag.store import open_store

    import faiss  # noqa: F401  (libraries and the tokenizer's dictionary count once, not in the first store)

    from rag.indexing.tokens import tokenize

    tokenize(queries[0]["question"], "both")

    if settings.store.startswith("milvus"):
        import pymilvus  # noqa: F401
    gc.collect()
    before = tree_rss_mb()
    store = open_store(settings)
    r = Retriever(store, None)
    for mode in MODES:
        for f in FILTERS.values():
            r.search(queries[0]["question"], k=5, filters=Filters(**f), mode=mode, query_vector=queries[0]["vector"])
    gc.collect()
    return store, tree_rss_mb() - before


def hnsw_recall(flat, approx, queries: list[dict[str, Any]]) -> dict[str, float]:
    """recall@10 and @50 of the approximate store's dense search against the exact store's, per filter."""
    from rag.records import Filters

    out: dict[str, float] = {}
    everything = flat.stats()["chunks"]
    for fname, f in FILTERS.items():
        filters = Filters(**f)
        out[f"allowed_{fname}"] = len(flat.search_dense(queries[0]["vector"], everything, filters)) if f \
            else everything
        for k in (10, 50):
            rec = []
            for q in queries:
                exact = {ref.key for ref, _ in flat.search_dense(q["vector"], k, filters)}
                if exact:
                    got = {ref.key for ref, _ in approx.search_dense(q["vector"], k, filters)}
                    rec.append(len(exact & got) / len(exact))
            out[f"recall@{k}_{fname}"] = statistics.mean(rec) if rec else float("nan")
    return out


def nprobe_sweep(flat, ivf, queries: list[dict[str, Any]], k: int = 10) -> list[dict[str, float]]:
    """recall@k and ms per query of the local IVF at several nprobe (its default ×½…×4), unfiltered, against
    exact search of the same vectors (reads the stores' VectorIndex: a local-store detail)."""
    exact_index, index = getattr(flat, "vectors", None), getattr(ivf, "vectors", None)
    if exact_index is None or index is None or index.kind != "ivf":
        return []
    exact = [{i for i, _ in exact_index.search(q["vector"], k)} for q in queries]
    out = []
    for factor in (0.5, 1, 2, 4):
        nprobe = max(1, int(index.nprobe * factor))
        t = time.perf_counter()
        got = [{i for i, _ in index.search(q["vector"], k, nprobe=nprobe)} for q in queries]
        ms = (time.perf_counter() - t) * 1000 / len(queries)
        out.append({"nprobe": nprobe, "nlist": int(index.index.nlist), "ms": ms,
                    "recall": statistics.mean(len(a & b) / max(1, len(a)) for a, b in zip(exact, got))})
    return out


# --------------------------------------------------------------------------- 4. embedding runtimes
def bench_backends(settings, corpus: Path, limit: int | None, rounds: int, log: Callable[[str], None],
                   only: str | None = None) -> dict[str, Any]:
    """Throughput of embedding real chunks per runtime (backend × threads × batch size), and agreement and
    hit@5/10 against the torch float32 model."""
    import numpy as np
    import torch

    from rag.embedding.embedder import load_embedder
    from rag.indexing.chunking import chunk_spans
    from rag.sources import FolderSource
    from rag.sources.folder import parse_file

    files, _ = FolderSource([corpus]).files()
    chunks: list[tuple[str, str]] = []  # (turn text, chunk text) in document order
    for f in files:
        for t in parse_file(f).turns:
            chunks += [(t.text, t.text[s:e]) for s, e in chunk_spans(t.text)]
    all_texts = [c for _, c in chunks]
    texts = all_texts[:limit] if limit else all_texts  # timed passes; quality always on all chunks
    questions = load_questions()
    cores = torch.get_num_threads()

    def load(backend: str, threads: int):
        return load_embedder(settings.model, settings.model_cache, backend, threads)

    reference = load("torch", 0)
    onnx_all, onnx_one = load("onnx-int8", 0), load("onnx-int8", 1)
    loads = {backend: cold_start(settings, backend) for backend in ("torch", "onnx-int8")}
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
            "hit@5": hit_at(qv, e, chunks, questions, 5), "hit@10": hit_at(qv, e, chunks, questions, 10),
        })
    return out


def cold_start(settings, backend: str) -> float:
    """Seconds from a fresh interpreter to the first query vector (imports + model load + one query)."""
    code = ("import time; t = time.perf_counter(); from rag.embedding.embedder import load_embedder; "
            f"load_embedder({settings.model!r}, {str(settings.model_cache)!r}, {backend!r}).embed_query('生成AI'); "
            "print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def hit_at(qv, emb, chunks: list[tuple[str, str]], questions: list[dict[str, Any]], k: int) -> float:
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
    head = f"## Benchmarks (`python eval/bench.py`)\n\nRun {results['started']} on {results['machine']}"
    if results.get("queries"):
        head += (f"; {results['queries']} queries × {results['rounds']} rounds, "
                 "configurations interleaved query by query")
    parts = [head + "."]
    ing = results.get("ingest")
    if ing:
        parts.append(f"\n### Ingest (real corpus, real model, {results.get('backend')}, threads "
                     f"{results.get('threads')}, batch size {results.get('batch_size')}; "
                     f"model load {results.get('model_load_s', 0):.1f} s)\n")
        parts.append(table(
            ["files", "turns", "chunks", "embedded texts", "embedded tokens", "read s", "prepare s (chunks+Sudachi)",
             "embed s", "store s (add+commit)", "turns/s", "texts/s", "tokens/s", "index on disk", "peak RSS"],
            [[ing["files"], ing["turns"], ing["chunks"], ing["embedded_texts"], ing["tokens"], ing["parse_s"],
              ing["prepare_s"], ing["embed_s"], ing["store_s"], ing["turns_per_s"], ing["embed_texts_per_s"],
              ing["embed_tokens_per_s"], f"{ing['disk_bytes'] / 1e6:.2f} MB", f"{ing['peak_rss_mb']:.0f} MB"]]))
        parts.append(f"\nQuery embedding (model, one question): p50 {results['embed_query_ms_p50']:.1f} ms, "
                     f"p95 {results['embed_query_ms_p95']:.1f} ms — add it to dense/hybrid latencies below.")
    builds = results.get("builds")
    if builds:
        parts.append("\n### Synthetic corpora: build (real indexing and store code; vectors synthesised, no model)\n")
        rows = [[n, b["chunks"], b["sentences"], b["synth_s"] if not b.get("cloned") else f"{b['synth_s']:.3g} (copies)",
                 b["flat_add_s"], b["flat_commit_s"],
                 f"{b['flat_bytes'] / 1e6:.1f} MB",
                 f"{b['ivf_add_s']:.3g} / {b['ivf_commit_s']:.3g}" if "ivf_bytes" in b else "–",
                 f"{b['ivf_bytes'] / 1e6:.1f} MB" if "ivf_bytes" in b else "–",
                 f"{b[MILVUS + '_add_s']:.3g} / {b[MILVUS + '_commit_s']:.3g}" if MILVUS + "_bytes" in b else "–",
                 f"{b['rss_after_mb']:.0f} MB"] for n, b in builds.items()]
        parts.append(table(["turns", "chunks", "sentences", "synthesis s (prepare+tokens+vectors)", "add s",
                            "commit s (BM25+VACUUM+fsync)", "on disk", "IVF store: add / commit s",
                            "IVF store on disk", "Milvus Lite: add / commit s", "RSS after"], rows))
        parts.append("\n### Disk and memory per turn (memory: resident growth on opening the store and running one "
                     "search of each mode and filter)\n")
        rows = []
        for n, b in builds.items():
            for kind in [k for k in (*VECTOR_KINDS, MILVUS) if f"{k}_bytes" in b]:
                mem = (b.get("memory_mb") or {}).get(kind)
                rows.append([n, kind, f"{b[kind + '_bytes'] / n:,.0f}",
                             f"{mem * 1e6 / n:,.0f}" if mem is not None else "–"])
        parts.append(table(["turns", "store", "disk bytes per turn", "memory bytes per turn"], rows))
    lat = results.get("latency") or {}
    if lat:
        parts.append("\n### Search latency, ms (Retriever.search k=5, query vector precomputed)\n")
        parts.append("Filters: body = 下関市議会 (≈1/6 of turns); narrow = that body and 4 of the 20 synthetic years (≈1/30).\n")
        sizes = sorted({int(k.split("|")[0]) for k in lat})
        rows = []
        for mode in MODES:
            for fname in FILTERS:
                for kind in (*VECTOR_KINDS, MILVUS):
                    if kind == "ivf" and mode == "keyword":
                        continue
                    cells = [lat.get(f"{n}|{kind}|{mode}|{fname}") for n in sizes]
                    if not any(cells):
                        continue
                    row = [mode, fname, kind] + [f"{pct(v, 50):.1f} / {pct(v, 95):.1f}" if v else "–" for v in cells]
                    if len(sizes) > 1:
                        row.append(f"×{pct(cells[-1], 50) / pct(cells[0], 50):.1f}" if cells[0] and cells[-1] else "–")
                    rows.append(row)
        heads = ["mode", "filter", "vectors"] + [f"{n:,} turns p50 / p95" for n in sizes]
        if len(sizes) > 1:
            heads.append(f"p50 growth {sizes[0]:,}→{sizes[-1]:,}")
        parts.append(table(heads, rows))
        first = [[kind, fname] + [f"{pct(lat.get(f'{n}|{kind}|hybrid|{fname}|first'), 50):.1f}"
                                  if lat.get(f"{n}|{kind}|hybrid|{fname}|first") else "–" for n in sizes]
                 for kind in (*VECTOR_KINDS, MILVUS) for fname in FILTERS if fname != "none"
                 and any(lat.get(f"{n}|{kind}|hybrid|{fname}|first") for n in sizes)]
        if first:
            parts.append("\nHybrid search with a filter met for the first time (p50 ms of 10 queries; the local "
                         "store evaluates a filter in SQL once, then keeps its allowed ids):\n")
            parts.append(table(["store", "filter"] + [f"{n:,} turns" for n in sizes], first))
    rec = results.get("recall")
    if rec:
        parts.append("\n### Exact (flat) vs IVF dense search (two stores of the same units, RAG_HNSW_THRESHOLD "
                     "10^12 vs 0; Store.search_dense)\n")
        rows = []
        for n, r in rec.items():
            fl, hn = lat.get(f"{n}|flat|dense|none"), lat.get(f"{n}|ivf|dense|none")
            fln, hnn = lat.get(f"{n}|flat|dense|narrow"), lat.get(f"{n}|ivf|dense|narrow")
            rows.append([n, r["recall@10_none"], r["recall@50_none"], r["recall@10_body"], r["recall@10_narrow"],
                         f"{r['allowed_narrow']:,}",
                         f"{pct(fl, 50):.2f} / {pct(hn, 50):.2f}" if fl and hn else "–",
                         f"×{pct(fl, 50) / pct(hn, 50):.1f}" if fl and hn else "–",
                         f"{pct(fln, 50):.2f} / {pct(hnn, 50):.2f}" if fln and hnn else "–"])
        parts.append(table(["turns", "recall@10", "recall@50", "recall@10 body filter", "recall@10 narrow filter",
                            "narrow: allowed chunks", "dense p50 ms flat / IVF", "IVF speedup",
                            "narrow p50 ms flat / IVF"], rows))
        sweep = [[n, f"{r['nprobe']} of {r['nlist']}", r["recall"], r["ms"]]
                 for n, rr in rec.items() for r in rr.get("nprobe_sweep", [])]
        if sweep:
            parts.append("\nIVF nprobe sweep (unfiltered, k=10, VectorIndex.search alone; the store's default is the "
                         "second row of each size):\n")
            parts.append(table(["turns", "nprobe (cells scanned)", "recall@10", "ms/query"], sweep))
    be = results.get("backends")
    if be:
        parts.append(f"\n### Embedding runtimes (timed: {be['chunks']} real chunks, {be['tokens']} tokens, median of "
                     f"{be['rounds']} interleaved rounds; quality: {be['quality_chunks']} chunks, "
                     f"{be['questions']} questions, dense only, best chunk per turn)\n")
        parts.append(table(["variant", "chunks/s", "tokens/s", f"speed vs {be['reference']}",
                            "cosine to torch float32 mean / min", "hit@5", "hit@10"],
                           [[r["variant"], r["chunks_per_s"], r["tokens_per_s"], f"×{r['speedup']:.2f}",
                             f"{r['cos_mean']:.4f} / {r['cos_min']:.4f}", r["hit@5"], r["hit@10"]]
                            for r in be["rows"]]))
        parts.append("\nCold start (fresh interpreter → imports, model load, first query vector): " +
                     ", ".join(f"{k} {v:.1f} s" for k, v in be["load_s"].items()))
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- main
def bench_store(args, settings, sizes: list[int], nq: int | None, rounds: int, work: Path,
                results: dict[str, Any], log: Callable[[str], None]) -> None:
    from rag.config import SAMPLE_CORPUS
    from rag.embedding.embedder import load_embedder
    from rag.store import open_store

    corpus = args.corpus or SAMPLE_CORPUS
    threads = args.threads if args.threads is not None else settings.embed_threads
    results["threads"] = threads or f"all ({os.cpu_count()})"
    t = time.perf_counter()
    embedder = load_embedder(settings.model, settings.model_cache, settings.embed_backend, threads)
    results["backend"] = embedder.backend
    results["model_load_s"] = time.perf_counter() - t
    log(f"ingesting {corpus} (real model, {embedder.backend}, threads {results['threads']}) ...")
    results["ingest"], docs = real_ingest(corpus, settings.with_overrides(index_dir=work / "real"), embedder,
                                          args.ingest_files or (1 if args.quick else None))
    log(f"  {results['ingest']['turns']} turns in {results['ingest']['total_s']:.1f} s")

    questions = load_questions(nq)
    qt = []
    for q in questions:
        t = time.perf_counter()
        q["vector"] = embedder.embed_query(q["question"])
        qt.append((time.perf_counter() - t) * 1000)
    results["queries"] = len(questions)
    results["embed_query_ms_p50"], results["embed_query_ms_p95"] = pct(qt, 50), pct(qt, 95)

    syn = Synthesiser(docs, seed=args.seed)
    dimension, backend = embedder.dimension, embedder.backend
    del embedder, docs
    gc.collect()

    kinds = ["flat"] if args.no_approx else list(VECTOR_KINDS)
    if args.milvus:
        kinds.append(MILVUS)
    stores: dict[tuple[int, str], Any] = {}
    results["builds"], results["recall"] = {}, {}
    pool: list = []  # the documents of the --clone-from size, copied for larger sizes
    try:
        for n in sizes:
            clone_pool = pool if args.clone_from and n > args.clone_from and pool else None
            log(f"building synthetic stores of {n:,} turns ({' and '.join(kinds)})"
                f"{' from copies of the ' + format(args.clone_from, ',') + '-turn corpus' if clone_pool else ''} ...")
            keep = pool if args.clone_from and n == args.clone_from else None
            size_kinds = [k for k in kinds if k != MILVUS or n <= args.milvus_max_turns]
            b, conf = build_synthetic(syn, n, work, settings, dimension, backend, size_kinds, clone_pool, keep)
            results["builds"][n] = b
            b["memory_mb"] = {}
            for kind in size_kinds:
                stores[(n, kind)], b["memory_mb"][kind] = open_and_warm(conf[kind], questions)
            b["vector_index"] = {kind: stores[(n, kind)].manifest.vector_index for kind in size_kinds}
            if any(built != kind for kind, built in b["vector_index"].items() if kind in VECTOR_KINDS):
                raise RuntimeError(f"synthetic stores of {n} turns: asked for {kinds}, built {b['vector_index']}")
            if "ivf" in kinds:
                results["recall"][n] = hnsw_recall(stores[(n, "flat")], stores[(n, "ivf")], questions)
                results["recall"][n]["nprobe_sweep"] = nprobe_sweep(stores[(n, "flat")], stores[(n, "ivf")],
                                                                    questions)
            log(f"  built in {b['flat_add_s'] + b['flat_commit_s']:.1f} s, {b['flat_bytes'] / 1e6:.1f} MB; " +
                ", ".join(f"{k} {b[k + '_add_s']:.0f}+{b[k + '_commit_s']:.0f} s" for k in size_kinds))
        log("measuring latency ...")
        results["latency"] = measure_latency(stores, questions, rounds, seed=args.seed)
    finally:
        for store in stores.values():
            store.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rag.config import SAMPLE_CORPUS, Settings

    settings = Settings()
    sizes = [int(s) for s in (args.sizes or ("1000" if args.quick else "1000,10000,100000")).split(",") if s.strip()]
    nq = args.queries or (20 if args.quick else None)
    rounds = args.rounds or (1 if args.quick else 2)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M"), "sizes": sizes, "rounds": rounds,
                               "batch_size": settings.batch_size,
                               "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"}
    work = args.workdir or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.backends_only:
            results["queries"] = 0
        else:
            bench_store(args, settings, sizes, nq, rounds, work, results, log)
        if args.backends or args.backends_only:
            log("embedding runtimes ...")
            results["backends"] = bench_backends(settings, args.corpus or SAMPLE_CORPUS, args.backend_texts,
                                                 1 if args.quick else max(rounds, 3), log, args.variants)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    text = render(results)
    print(text)
    if args.report:
        args.report.write_text(text, encoding="utf-8")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
